// A simulated machine in either livepatch mode, mounted through FUSE in this
// test process. The mount is only ever used by child processes (bash, cat,
// ls); modules are loaded in-process as `insmod` would load them.
import type { ExecutionContext } from 'ava'
import { Simulator, SimulatorOptions, LivepatchMode } from '../../../lib/simulator'
import { RealClock, VirtualClock } from '../../../lib/kernel/clock'
import type { ModuleDefinition } from '../../../lib/kernel/module'
import { imageOf } from '../../../lib/module-image'
import { bash, fuseTest, mountTemp, quote, Result, Running, spawnSh } from '../../fuse/helpers/fuse'

/** Simulated time runs this many times faster than real time in mount tests. */
export const CLOCK_SCALE = 10

export interface Machine {
  sim: Simulator
  mode: LivepatchMode
  /** The mount root. */
  dir: string
  /** insmod of a test-defined module or a built-in one (by name): 0 or -errno. */
  insmod (mod: ModuleDefinition | string, ...args: string[]): Promise<number>
  rmmod (name: string): Promise<number>
  /** A bash script with R set to the mount root. */
  sh (script: string): Promise<Result>
  /** Reads a file through the mount (cat in a child process). */
  cat (path: string): Promise<string>
  /** The kernel log since a mark. */
  log (since?: number): string[]
  mark (): number
  /** Polls until cond holds (simulated time keeps running). */
  until (cond: () => boolean | Promise<boolean>, what: string, timeoutMs?: number): Promise<void>
  /** Waits for a kernel log line matching re after a mark. */
  waitLog (re: RegExp, since: number, timeoutMs?: number): Promise<string>
}

export const KLP = 'sys/kernel/livepatch'

export async function boot (t: ExecutionContext, mode: LivepatchMode, opts: SimulatorOptions = {}): Promise<Machine> {
  const sim = new Simulator({ clock: new RealClock(CLOCK_SCALE), ...opts, mode })
  const { dir } = await mountTemp(t, sim.kernel.root)
  const k = sim.kernel
  const m: Machine = {
    sim,
    mode,
    dir,
    insmod: (mod, ...args) => {
      const image = typeof mod === 'string' ? sim.builtinImage(mod) : imageOf(mod, k.vermagic)
      if (!image) throw new Error(`no module ${String(mod)}`)
      return sim.insmod(image, args)
    },
    rmmod: (name) => sim.rmmod(name),
    sh: (script) => bash(`R=${quote(dir)}; ${script}`),
    cat: async (path) => {
      const r = await bash(`cat ${quote(`${dir}/${path}`)}`)
      if (r.code !== 0) throw new Error(`cat ${path}: ${r.stderr}`)
      return r.stdout
    },
    log: (since = 0) => k.printk.all().filter(r => r.seq >= since).map(r => r.text),
    mark: () => k.printk.endSeq,
    until: async (cond, what, timeoutMs = 10000) => {
      const end = Date.now() + timeoutMs
      while (!(await cond())) {
        if (Date.now() > end) throw new Error(`timed out waiting until ${what}`)
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    },
    waitLog: async (re, since, timeoutMs = 10000) => {
      let hit: string | undefined
      await m.until(() => { hit = m.log(since).find(l => re.test(l)); return hit !== undefined }, `a log line ${re}`, timeoutMs)
      return hit!
    },
  }
  t.teardown(() => {
    // a failed test may leave sleepers behind: their timers must not keep the worker alive
    if (k.clock instanceof RealClock) k.clock.stopAll()
    if (k.internalErrors.length) t.log(k.internalErrors.join('\n'))
  })
  return m
}

export interface RowImpl {
  ftrace: (t: ExecutionContext, m: Machine) => Promise<void>
  stopMachine: (t: ExecutionContext, m: Machine) => Promise<void>
}

/** Boot options per mode (a fresh clock each time, so a factory). */
export interface RowOptions {
  ftrace?: () => SimulatorOptions
  stopMachine?: () => SimulatorOptions
}

/**
 * Time that passes only when the test advances it: for tests that act inside
 * the kernel's own windows (the 100 ms between stop_machine retries), which no
 * real-time speed keeps open on a loaded machine.
 */
export const VIRTUAL_TIME = (): SimulatorOptions => ({ clock: new VirtualClock() })

/** One row of stop-machine-mode.md §7: a test in each mode, each on its own mounted machine. */
export function row (behaviour: string, impl: RowImpl, opts: RowOptions = {}): void {
  fuseTest(`§7 ${behaviour} — ftrace mode`, async (t) => impl.ftrace(t, await boot(t, 'ftrace', opts.ftrace?.())))
  fuseTest(`§7 ${behaviour} — stop_machine mode`, async (t) => impl.stopMachine(t, await boot(t, 'stop-machine', opts.stopMachine?.())))
}

/** `echo V > $R/sys/kernel/livepatch/P/enabled` through bash, as a script would write it. */
export function echoEnabled (m: Machine, patch: string, value: string | number): Promise<Result> {
  return m.sh(`echo ${value} > "$R/${KLP}/${patch}/enabled"`)
}

/** A bash script running in the background (R set to the mount root), killed at teardown. */
export function background (t: ExecutionContext, m: Machine, script: string): Running {
  return spawnSh(t, `R=${quote(m.dir)}; ${script}`, 'bash')
}

/** ftrace mode: until no transition is in progress. */
export function transitionDone (m: Machine): Promise<void> {
  return m.until(() => m.sim.livepatch.transition.patch === null, 'the transition completes')
}

/** Until a path under the mount root is gone (checked in-process). */
export function gone (m: Machine, path: string): Promise<void> {
  return m.until(() => !m.sim.fs.existsSync('/' + path), `${path} is gone`)
}

/** The text bash prints for a failed `echo > file`. */
export function writeError (text: string): RegExp {
  return new RegExp(`echo: write error: ${text}`)
}
