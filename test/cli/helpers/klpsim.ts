// End-to-end helpers: a klpsim daemon in its own process (`klpsim mount DIR`),
// and the front ends run as child processes, as `klpsim <tool>` or under the
// tool's own name through symlinks on PATH. Nothing here touches the mount
// synchronously: the daemon is another process, but the tests still only use
// child processes and async calls.
import type { ExecutionContext } from 'ava'
import { ChildProcess, execFile, spawn } from 'node:child_process'
import { promises as fsp, constants } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { isMountPoint } from '../../../lib/fuse'
import { controlSocketPath } from '../../../lib/control/paths'

export const REPO = join(__dirname, '..', '..', '..', '..')
export const BIN = join(REPO, 'bin', 'klpsim')
export const TOOLS = ['insmod', 'rmmod', 'modprobe', 'modinfo', 'lsmod', 'dmesg', 'sysctl']

export interface Result { code: number, stdout: string, stderr: string }

export function quote (s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

export function exec (file: string, args: string[], opts: { env?: NodeJS.ProcessEnv, cwd?: string, timeoutMs?: number, input?: string } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { env: opts.env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string }) | null
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, stdout: String(stdout), stderr: String(stderr) })
    })
    if (opts.input !== undefined) child.stdin?.end(opts.input)
  })
}

/** A real host tool (kmod's modinfo, binutils' readelf) by absolute path, or null when not installed. */
export async function hostTool (name: string): Promise<string | null> {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin'])
  for (const d of dirs) {
    const p = join(d, name)
    try {
      await fsp.access(p, constants.X_OK)
      if (!(await fsp.realpath(p)).startsWith(REPO)) return p
    } catch { /* next */ }
  }
  return null
}

export interface Instance {
  /** The test's directory: the mount point, the tool links and files live here. */
  dir: string
  mnt: string
  socketPath: string
  env: NodeJS.ProcessEnv
  daemon: ChildProcess
  daemonOutput (): string
  /** `klpsim ARGS...` */
  klpsim (args: string[], opts?: { timeoutMs?: number, env?: NodeJS.ProcessEnv, input?: string }): Promise<Result>
  /** A shell script in the test directory, with the tools on PATH and KLPSIM_MOUNT set. */
  sh (script: string, opts?: { timeoutMs?: number, env?: NodeJS.ProcessEnv, shell?: string }): Promise<Result>
  /** Stops the daemon (SIGTERM) and waits for its exit. */
  stop (): Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/** A temporary directory removed at teardown (after any unmount). */
export async function tempDir (t: ExecutionContext, prefix = 'klpsim-cli-'): Promise<string> {
  const dir = await fsp.mkdtemp(join(tmpdir(), prefix))
  t.teardown(async () => {
    const mnt = join(dir, 'mnt')
    if (await isMountPoint(mnt).catch(() => false)) await exec('umount', ['-l', mnt])
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => {})
  })
  return dir
}

/** Links every front end under its tool name into dir/bin. */
export async function toolLinks (dir: string): Promise<string> {
  const bin = join(dir, 'bin')
  await fsp.mkdir(bin, { recursive: true })
  for (const tool of TOOLS) await fsp.symlink(BIN, join(bin, tool)).catch(() => {})
  return bin
}

/** Starts `klpsim mount DIR/mnt` as a child process; stopped and unmounted at teardown. */
export async function startInstance (t: ExecutionContext, opts: { args?: string[], env?: NodeJS.ProcessEnv } = {}): Promise<Instance> {
  const dir = await tempDir(t)
  const mnt = join(dir, 'mnt')
  const bin = await toolLinks(dir)
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, KLPSIM_MOUNT: mnt, PATH: `${bin}${delimiter}${process.env.PATH ?? ''}` }
  delete env.KLPSIM_CONTROL
  if (opts.env?.KLPSIM_CONTROL) env.KLPSIM_CONTROL = opts.env.KLPSIM_CONTROL
  const daemon = spawn(process.execPath, [BIN, 'mount', mnt, ...(opts.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  daemon.stdout!.on('data', (d) => { output += String(d) })
  daemon.stderr!.on('data', (d) => { output += String(d) })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => daemon.once('exit', (code, signal) => resolve({ code, signal })))
  const stop = async (): Promise<{ code: number | null, signal: NodeJS.Signals | null }> => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM')
      const timer = setTimeout(() => daemon.kill('SIGKILL'), 10_000)
      const r = await exited
      clearTimeout(timer)
      return r
    }
    return exited
  }
  t.teardown(async () => { await stop() })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`klpsim mount did not come up: ${output}`)), 20_000)
    const check = (): void => {
      if (/mounted at/.test(output)) { clearTimeout(timer); resolve() }
    }
    daemon.stdout!.on('data', check)
    void exited.then((r) => { clearTimeout(timer); reject(new Error(`klpsim mount exited (${r.code ?? r.signal}): ${output}`)) })
  })
  const socketPath = opts.env?.KLPSIM_CONTROL ?? controlSocketPath(mnt, {})
  return {
    dir,
    mnt,
    socketPath,
    env,
    daemon,
    daemonOutput: () => output,
    klpsim: (args, o = {}) => exec(process.execPath, [BIN, ...args], { env: { ...env, ...o.env }, cwd: dir, timeoutMs: o.timeoutMs, input: o.input }),
    sh: (script, o = {}) => exec(o.shell ?? 'sh', ['-c', script], { env: { ...env, ...o.env }, cwd: dir, timeoutMs: o.timeoutMs }),
    stop,
  }
}

/** Everything a malformed input must leave alone: modules, their sysfs dirs, the taint, the livepatch dir. */
export async function snapshot (inst: Instance): Promise<string> {
  const r = await inst.sh('lsmod; ls mnt/sys/module; ls mnt/sys/kernel/livepatch; cat mnt/proc/sys/kernel/tainted')
  return r.stdout + r.stderr
}
