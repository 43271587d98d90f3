// How a front end reaches the daemon of its instance, and the one-line errors
// and exit codes when it cannot.
import { resolve } from 'node:path'
import { ControlPermissionError, ControlProtocolError, NoDaemonError, request, RequestAborted, RequestOptions } from '../control/client'
import { controlSocketPath } from '../control/paths'
import { defaultMountpoint } from './instance'

/** No daemon serves the instance (sysexits EX_UNAVAILABLE). */
export const EXIT_NO_DAEMON = 69
/** The daemon belongs to another user (sysexits EX_NOPERM). */
export const EXIT_NO_PERMISSION = 77
/** The daemon answered with an error: a klpsim bug or version mismatch (EX_SOFTWARE). */
export const EXIT_DAEMON_ERROR = 70

export interface Instance {
  mountpoint: string
  socketPath: string
}

/** --mount DIR, else $KLPSIM_MOUNT, else ./mountpoint; $KLPSIM_CONTROL names the socket directly. */
export function resolveInstance (mount?: string): Instance {
  const mountpoint = mount !== undefined ? resolve(mount) : defaultMountpoint()
  return { mountpoint, socketPath: controlSocketPath(mountpoint) }
}

/** A front end's failure with the exit code to leave with; its message is already printed. */
export class ToolExit extends Error {
  constructor (readonly code: number, message = '') { super(message) }
}

/** A failed request as one line prefixed with the tool's name, and its exit code. */
export function describeFailure (tool: string, inst: Instance, e: unknown): { line: string, code: number } {
  if (e instanceof NoDaemonError) {
    return { line: `${tool}: no klpsim daemon serves ${inst.mountpoint} (start one with 'klpsim mount ${inst.mountpoint}', or name another instance with --mount DIR or KLPSIM_MOUNT)`, code: EXIT_NO_DAEMON }
  }
  if (e instanceof ControlPermissionError) {
    return { line: `${tool}: cannot reach the klpsim daemon of ${inst.mountpoint}: permission denied (it belongs to another user)`, code: EXIT_NO_PERMISSION }
  }
  if (e instanceof ControlProtocolError) return { line: `${tool}: klpsim daemon of ${inst.mountpoint}: ${e.message}`, code: EXIT_DAEMON_ERROR }
  const err = e as NodeJS.ErrnoException
  return { line: `${tool}: cannot reach the klpsim daemon of ${inst.mountpoint}: ${err.code ?? err.message}`, code: EXIT_DAEMON_ERROR }
}

/**
 * Sends a request; on any failure prints one line on stderr and throws
 * ToolExit with the code. An error reply is a failure too.
 */
export async function call<T extends object> (tool: string, inst: Instance, req: { type: string, [field: string]: unknown }, opts?: RequestOptions): Promise<T> {
  let reply
  try {
    reply = await request<T>(inst.socketPath, req, opts)
  } catch (e) {
    if (e instanceof RequestAborted) throw e
    const { line, code } = describeFailure(tool, inst, e)
    process.stderr.write(line + '\n')
    throw new ToolExit(code, line)
  }
  if (!reply.ok) {
    const line = `${tool}: klpsim daemon of ${inst.mountpoint}: ${reply.error.message} (${reply.error.code})`
    process.stderr.write(line + '\n')
    throw new ToolExit(EXIT_DAEMON_ERROR, line)
  }
  return reply
}

/** Runs a front end's body, turning ToolExit into its exit code. */
export async function runTool (body: () => Promise<number>): Promise<number> {
  try {
    return await body()
  } catch (e) {
    if (e instanceof ToolExit) return e.code
    throw e
  }
}

export const MOUNT_OPTION = { name: 'mount', arg: 'required' as const, key: 'mount' }
