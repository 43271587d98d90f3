// What the commands that control the simulated world (task, clock, fault,
// status) share: finding the instance, sending a request, and turning a refusal
// or an unreachable daemon into one line on stderr and an exit status.
import type { Argv } from 'yargs'
import { call, Instance, resolveInstance, runTool, ToolExit } from './daemon-client'
import { isRefused } from '../control/requests/refused'
import { parseDuration } from '../kernel/clock'
import { UsageError } from './sim-options'

export interface MountArg { mount?: string }

/** --mount DIR, as the module tools take it. */
export function mountOption<T> (y: Argv<T>): Argv<T & MountArg> {
  return y.option('mount', { type: 'string', describe: 'the klpsim instance (default $KLPSIM_MOUNT, else ./mountpoint; $KLPSIM_CONTROL names its socket directly)' }) as Argv<T & MountArg>
}

/** The daemon refused: its line is printed, the command ends with status 1. */
export const EXIT_REFUSED = 1

/**
 * Sends a request for `klpsim <what>`; a refusal is printed as
 * `klpsim <what>: <reason>` and ends the command with status 1, an unreachable
 * daemon with describeFailure's line and status.
 */
export async function worldRequest<T extends object> (what: string, inst: Instance, req: { type: string, [field: string]: unknown }, opts?: { signal?: AbortSignal }): Promise<T> {
  const reply = await call<T>(`klpsim ${what}`, inst, req, opts)
  const { ok: _ok, ...body } = reply as T & { ok: true }
  if (isRefused(body)) {
    const line = `klpsim ${what}: ${body.failed}`
    process.stderr.write(line + '\n')
    throw new ToolExit(EXIT_REFUSED, line)
  }
  return body as T
}

/** Bad arguments (status 2). */
export const EXIT_USAGE = 2

/**
 * Runs the body of `klpsim <what>` against the instance named by --mount and
 * sets the exit status; a UsageError it throws is printed as
 * `klpsim <what>: <message>` with status 2.
 */
export async function withInstance (what: string, args: MountArg, body: (inst: Instance) => Promise<void | number>): Promise<void> {
  const inst = resolveInstance(args.mount)
  process.exitCode = await runTool(async () => {
    try {
      return (await body(inst)) ?? 0
    } catch (e) {
      if (!(e instanceof UsageError)) throw e
      process.stderr.write(`klpsim ${what}: ${e.message}\n`)
      return EXIT_USAGE
    }
  })
}

/** A duration argument (500ms, 2s, 1m, 100us; a bare number is milliseconds), or a usage error naming the option. */
export function durationArg (text: string | number, what: string): number {
  try {
    return parseDuration(String(text))
  } catch {
    throw new UsageError(`invalid ${what} '${text}' (use e.g. 500ms, 2s, 1m)`)
  }
}

/** Writes text to stdout and waits until it is flushed (or stdout is gone). */
export function out (text: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (text === '') return resolve(true)
    process.stdout.write(text, (err) => resolve(!err))
  })
}
