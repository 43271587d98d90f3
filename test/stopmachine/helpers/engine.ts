// Engine-level helpers for stop_machine tests on the virtual clock.
import { bootSim, TestSim } from '../../helpers/engine'
import type { SimulatorOptions } from '../../../lib/simulator'
import { O_WRONLY, openNode } from '../../../lib/kobject/kernfs'
import { walk } from '../../../lib/kobject/node'

export const KLP = '/sys/kernel/livepatch'

export function bootWo (opts: SimulatorOptions = {}): TestSim {
  return bootSim({ ...opts, mode: 'stop-machine' })
}

/** A write(2) that is left to run: simulated time only moves when the test says so. */
export function startWrite (s: TestSim, path: string, data: string): Promise<number> {
  const node = walk(s.sim.kernel.root, path)
  if (!node) return Promise.resolve(-2)
  const file = openNode(node, O_WRONLY)
  if (typeof file === 'number') return Promise.resolve(file)
  return Promise.resolve(file.write(Buffer.from(data), 0)).finally(() => file.release())
}

/** The livepatch core's lines since a mark. */
export function klpLines (s: TestSim, since: number): string[] {
  return s.log(since).filter(l => l.startsWith('livepatch: '))
}

/** Timestamps (µs) of the log records since a mark whose text matches. */
export function stampsOf (s: TestSim, since: number, re: RegExp): number[] {
  return s.sim.kernel.printk.all().filter(r => r.seq >= since && re.test(r.text)).map(r => r.tsUs)
}

/** Has the promise settled (without waiting for it)? */
export async function settled (p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(() => { done = true }, () => { done = true })
  await new Promise(resolve => setImmediate(resolve))
  return done
}
