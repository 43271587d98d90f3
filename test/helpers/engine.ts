// Small helpers for engine tests: a simulator on a virtual clock, loading
// module definitions written inside a test, and reading the log.
import { Simulator, SimulatorOptions } from '../../lib/simulator'
import { settle, VirtualClock } from '../../lib/kernel/clock'
import type { ModuleDefinition } from '../../lib/kernel/module'
import { imageOf } from '../../lib/module-image'
import { O_WRONLY, openNode } from '../../lib/kobject/kernfs'
import { walk } from '../../lib/kobject/node'

export interface TestSim {
  sim: Simulator
  clock: VirtualClock
  /** insmod of a definition; resolves to 0 or -errno, letting time pass as needed. */
  load (def: ModuleDefinition, ...args: string[]): Promise<number>
  unload (name: string): Promise<number>
  /** One write(2) on an attribute: its return value (byte count or -errno). */
  write (path: string, data: string): Promise<number>
  read (path: string): Promise<string>
  exists (path: string): boolean
  /** Log texts since the given sequence number. */
  log (since?: number): string[]
  mark (): number
  /** Lets simulated time pass. */
  advance (ms: number): Promise<void>
}

export async function withClock<T> (clock: VirtualClock, p: Promise<T>, stepMs = 10, limitMs = 120_000): Promise<T> {
  let done = false
  p.then(() => { done = true }, () => { done = true })
  await settle()
  for (let t = 0; !done; t += stepMs) {
    if (t > limitMs) throw new Error('operation did not finish in simulated time')
    await clock.advance(stepMs)
  }
  return p
}

export function bootSim (opts: SimulatorOptions = {}): TestSim {
  const clock = new VirtualClock()
  const sim = new Simulator({ ...opts, clock })
  // dynamic debug as the selftests set it
  sim.kernel.dyndbg.write('file kernel/livepatch/* +p\nfunc klp_try_switch_task -p\n')
  const t: TestSim = {
    sim,
    clock,
    load: (def, ...args) => withClock(clock, sim.insmod(imageOf(def, sim.kernel.vermagic), args)),
    unload: (name) => withClock(clock, sim.rmmod(name)),
    async write (path, data) {
      const node = walk(sim.kernel.root, path)
      if (!node) return -2
      const file = openNode(node, O_WRONLY)
      if (typeof file === 'number') return file
      try {
        return await withClock(clock, Promise.resolve(file.write(Buffer.from(data), 0)))
      } finally { file.release() }
    },
    read: async (path) => (await sim.fs.readFile(path)).replace(/\n$/, ''),
    exists: (path) => sim.fs.existsSync(path),
    log: (since = 0) => sim.kernel.printk.all().filter(r => r.seq >= since).map(r => r.text),
    mark: () => sim.kernel.printk.endSeq,
    advance: (ms) => clock.advance(ms),
  }
  return t
}
