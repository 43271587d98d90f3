// The acceptance scripts (test/sandbox/selftests, test/sandbox/kpatch) run the
// way a user runs them: `klpsim run -- SCRIPT` as a child process, from a
// working directory holding the modules `klpsim modules export` writes and the
// getpid looper built with gcc. Shared by the ava tests and bench/suite.ts.
import { execFile, spawn } from 'node:child_process'
import { existsSync, promises as fsp } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const REPO = join(__dirname, '..', '..', '..', '..')
export const BIN = join(REPO, 'bin', 'klpsim')
export const SELFTESTS = join(REPO, 'test', 'sandbox', 'selftests')
export const KPATCH = join(REPO, 'test', 'sandbox', 'kpatch')

/** The scripts in the kselftest runner's order, with the cases each prints as "TEST: <case> ... ok". */
export const SELFTEST_SCRIPTS: ReadonlyArray<{ script: string, cases: string[] }> = [
  { script: 'livepatch', cases: ['basic function patching', 'multiple livepatches', 'atomic replace livepatch', 'module function patching', 'module function patching (livepatch first)'] },
  {
    script: 'callbacks',
    cases: ['target module before livepatch', 'module_coming notifier', 'module_going notifier', 'module_coming and module_going notifiers',
      'target module not present', 'pre-patch callback -ENODEV', 'module_coming + pre-patch callback -ENODEV', 'multiple target modules',
      'busy target module', 'multiple livepatches', 'atomic replace'],
  },
  { script: 'shadow-vars', cases: ['basic shadow variable API'] },
  { script: 'state', cases: ['system state modification', 'taking over system state modification', 'compatible cumulative livepatches', 'incompatible cumulative livepatches'] },
  {
    script: 'ftrace',
    cases: ['livepatch interaction with ftrace_enabled sysctl', 'trace livepatched function and check that the live patch remains in effect',
      'livepatch a traced function and check that the live patch remains in effect'],
  },
  { script: 'sysfs', cases: ['sysfs test', 'sysfs test object/patched', 'sysfs test replace enabled', 'sysfs test replace disabled', 'sysfs test stack_order value'] },
  { script: 'syscall', cases: ['patch getpid syscall while being heavily hammered'] },
  { script: 'kprobe', cases: ['livepatch interaction with kprobed function with post_handler', 'livepatch interaction with kprobed function without post_handler'] },
]

export interface Result { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string, ms: number }

/** Why `klpsim run` cannot work here, or null when it can. */
export function sandboxUnavailable (): string | null {
  if (process.getuid?.() !== 0) return 'needs root'
  if (!existsSync('/dev/fuse')) return 'needs /dev/fuse'
  return null
}

export function exec (file: string, args: string[], opts: { cwd?: string, env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<Result> {
  const t0 = Date.now()
  return new Promise((resolve) => {
    execFile(file, args, { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 180_000, killSignal: 'SIGTERM', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string, signal?: NodeJS.Signals }) | null
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout: String(stdout), stderr: String(stderr), ms: Date.now() - t0 })
    })
  })
}

/** `klpsim run [boot options] -- CMD ARGS` from cwd. */
export function klpsimRun (cmd: string[], opts: { cwd: string, env?: NodeJS.ProcessEnv, timeoutMs?: number, boot?: string[] }): Promise<Result> {
  return exec(process.execPath, [BIN, 'run', ...(opts.boot ?? []), '--', ...cmd], opts)
}

export interface Workdir {
  dir: string
  /** The getpid looper, or null when there is no C compiler. */
  looper: string | null
  remove (): Promise<void>
}

/** A directory with test_modules/*.ko and, when gcc is there, the getpid looper. */
export async function prepareWorkdir (): Promise<Workdir> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'klpsim-accept-'))
  const remove = (): Promise<void> => fsp.rm(dir, { recursive: true, force: true })
  const exported = await exec(process.execPath, [BIN, 'modules', 'export', join(dir, 'test_modules')])
  if (exported.code !== 0) {
    await remove()
    throw new Error(`klpsim modules export failed: ${exported.stderr}`)
  }
  const looper = join(dir, 'getpid-loop')
  const cc = await exec('gcc', ['-O2', '-Wall', '-Werror', '-o', looper, join(SELFTESTS, 'getpid-loop.c')])
  return { dir, looper: cc.code === 0 ? looper : null, remove }
}

/** Runs one selftest-equivalent script under `klpsim run`. */
export function runSelftest (script: string, work: Workdir): Promise<Result> {
  const env = { ...process.env, ...(work.looper ? { GETPID_LOOP: work.looper } : {}) }
  return klpsimRun([join(SELFTESTS, `${script}.sh`)], { cwd: work.dir, env })
}

/** A limit on how many things run at once (the machine has few cores). */
export function limiter (n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0
  const queue: Array<() => void> = []
  const next = (): void => {
    if (active >= n || queue.length === 0) return
    active++
    queue.shift()!()
  }
  return <T>(fn: () => Promise<T>) => new Promise<T>((resolve, reject) => {
    queue.push(() => {
      fn().then(resolve, reject).finally(() => { active--; next() })
    })
    next()
  })
}

/** Spawns without waiting: for the bench's wall-clock figures. */
export function spawnRun (cmd: string[], cwd: string): Promise<number | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'run', '--', ...cmd], { cwd, stdio: 'ignore' })
    child.once('exit', (code) => resolve(code))
    child.once('error', () => resolve(null))
  })
}
