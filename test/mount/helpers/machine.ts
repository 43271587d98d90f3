// A simulated machine served through a real FUSE mount by this (the ava
// worker) process, driven by child processes: shell commands, the real
// util-linux tools, and a small system-call runner. Modules are loaded
// in-process, as the kernel would see a finit_module() from insmod.
//
// Nothing here touches the mount synchronously: this process's JS thread
// serves it, so a synchronous call would wait on itself.
import test, { ExecutionContext } from 'ava'
import { spawnSync } from 'child_process'
import { promises as fsp } from 'fs'
import * as os from 'os'
import * as path from 'path'
import { Result, run } from '../../helpers/child'
import { Simulator, SimulatorOptions } from '../../../lib/simulator'
import { RealClock } from '../../../lib/kernel/clock'
import { FuseMount, fuseUnavailableReason, isMountPoint, mountTree } from '../../../lib/fuse'
import { walk } from '../../../lib/kobject'
import type { Call, Outcome } from './syscalls'

export const fuseMissing = fuseUnavailableReason()

/**
 * Whether this process may make a private mount namespace (to bind the
 * mount's dev/kmsg over /dev/kmsg for the real dmesg). Checked once, on no
 * mount of ours.
 */
const unshareMissing = ((): string | null => {
  const r = spawnSync('unshare', ['-m', 'true'], { stdio: 'ignore' })
  return r.status === 0 ? null : 'unshare -m (a private mount namespace) is not permitted here'
})()

const machines = new WeakMap<ExecutionContext, Machine[]>()

/**
 * A test that needs /dev/fuse. Where FUSE is unavailable the test still
 * shows, with the reason in its title and log. After the body, no machine
 * of the test may have reported an internal error (an exception in the
 * FUSE layer or in simulated code).
 */
export function fuseTest (title: string, fn: (t: ExecutionContext) => Promise<void>, opts: { serial?: boolean, needsUnshare?: boolean } = {}): void {
  const missing = fuseMissing ?? (opts.needsUnshare ? unshareMissing : null)
  if (missing !== null) {
    test(`${title} (skipped: ${missing})`, (t) => {
      t.log(`not run: ${missing}`)
      t.pass()
    })
    return
  }
  const register = opts.serial ? test.serial : test
  register(title, async (t) => {
    await fn(t)
    for (const m of machines.get(t) ?? []) t.deepEqual(m.sim.kernel.internalErrors, [], 'internal errors')
  })
}

export type { Result } from '../../helpers/child'
export { background, run } from '../../helpers/child'
export type { Background } from '../../helpers/child'

export function quote (s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** A fresh directory under the temp dir, removed at teardown (unmounted first if needed). */
export async function tempDir (t: ExecutionContext, prefix = 'klpsim-mount-test-'): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix))
  t.teardown(async () => {
    for (const d of [dir, path.join(dir, 'mnt'), path.join(dir, 'mnt2')]) {
      if (await isMountPoint(d).catch(() => false)) await run('umount', ['-l', '-c', d])
    }
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => {})
  })
  return dir
}

/** Lines of /proc/mounts for a mount point. */
export async function mountsOf (dir: string): Promise<string[]> {
  const text = await fsp.readFile('/proc/mounts', 'utf8')
  return text.split('\n').filter((l) => l.split(' ')[1] === dir)
}

const SYSCALLS = path.join(__dirname, 'syscalls.js')

export interface Machine {
  sim: Simulator
  clock: RealClock
  mount: FuseMount
  /** The mount point: DIR/sys, DIR/proc, DIR/dev. */
  dir: string
  /** sh -c SCRIPT in DIR. */
  sh (script: string, opts?: { timeoutMs?: number }): Promise<Result>
  /** bash -c SCRIPT in DIR (for bash's `write error:` messages). */
  bash (script: string, opts?: { timeoutMs?: number }): Promise<Result>
  /** Exact system calls by a child process (paths relative to DIR). */
  syscalls (calls: Call[]): Promise<Outcome[]>
  /** finit_module() of a built-in module: 0 or -errno. */
  insmod (name: string, ...args: string[]): Promise<number>
  rmmod (name: string): Promise<number>
  /** Kernel log texts since a mark. */
  log (since?: number): string[]
  mark (): number
  /** Whether a path exists in the tree right now (in-process, no FUSE). */
  exists (p: string): boolean
  /** Polls an in-process condition (the simulated kernel works on real time). */
  until (what: string, cond: () => boolean, timeoutMs?: number): Promise<void>
}

/**
 * Boots a simulated kernel on the real clock (optionally scaled) and mounts
 * it on a temp dir; unmounted at teardown even when the test fails.
 */
export async function bootMachine (t: ExecutionContext, opts: SimulatorOptions & { scale?: number } = {}): Promise<Machine> {
  const clock = new RealClock(opts.scale ?? 1)
  const sim = new Simulator({ ...opts, clock })
  const base = await tempDir(t)
  const dir = path.join(base, 'mnt')
  await fsp.mkdir(dir)
  const mount = await mountTree(sim.kernel.root, dir, {
    onError: (err, op, p) => sim.kernel.reportInternalError(`fuse ${op} ${p}`, err),
  })
  t.teardown(async () => {
    await mount.unmount()
    clock.stopAll()
  })
  const inDir = (p: string): string => (p.startsWith('/') ? p : path.join(dir, p))
  const m: Machine = {
    sim,
    clock,
    mount,
    dir,
    sh: (script, o = {}) => run('sh', ['-c', script], { cwd: dir, timeoutMs: o.timeoutMs }),
    bash: (script, o = {}) => run('bash', ['-c', script], { cwd: dir, timeoutMs: o.timeoutMs }),
    async syscalls (calls) {
      const abs = calls.map((c) => ('path' in c ? { ...c, path: inDir(c.path) } : c))
      const r = await run(process.execPath, [SYSCALLS, JSON.stringify(abs)])
      if (r.code !== 0) throw new Error(`syscalls helper failed: ${r.stderr}`)
      return JSON.parse(r.stdout) as Outcome[]
    },
    async insmod (name, ...args) {
      const image = sim.builtinImage(name)
      if (!image) throw new Error(`no built-in module ${name}`)
      return sim.insmod(image, args)
    },
    rmmod: (name) => sim.rmmod(name),
    log: (since = 0) => sim.kernel.printk.all().filter((r) => r.seq >= since).map((r) => r.text),
    mark: () => sim.kernel.printk.endSeq,
    exists: (p) => walk(sim.kernel.root, p) !== undefined,
    async until (what, cond, timeoutMs = 10_000) {
      const end = Date.now() + timeoutMs
      while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
        await sleep(5)
      }
    },
  }
  const list = machines.get(t) ?? []
  list.push(m)
  machines.set(t, list)
  return m
}

