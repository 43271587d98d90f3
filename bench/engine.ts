// Engine benchmarks: the transition of a 1,000-function patch over 10,000 tasks
// with 20-frame stacks, and one call through the dispatch table to a patched function.
import { Simulator } from '../lib/simulator'
import { VirtualClock } from '../lib/kernel/clock'
import { defineModule } from '../lib/kernel/module'
import { imageOf } from '../lib/module-image'
import type { Frame } from '../lib/kernel/task'
import type { Ksym } from '../lib/kernel/kallsyms'
import { park } from '../lib/kernel/parked'

function cpuMs (start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start)
  return (d.user + d.system) / 1000
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function transitionOnce (): Promise<number> {
  const clock = new VirtualClock()
  const sim = new Simulator({ clock, bootTasks: false })
  const k = sim.kernel
  const text = k.kallsyms.vmlinux.syms.filter(s => s.isText && !s.notrace && s.size > 0 && !s.impl)
  const targets = text.filter(s => k.kallsyms.vmlinux.matches(s.name).length === 1).slice(0, 1000)
  const targetSet = new Set(targets)
  const others = text.filter(s => !targetSet.has(s))
  let seed = 7
  const rand = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n }
  for (let i = 0; i < 10_000; i++) {
    const task = k.sched.create({ comm: `task${i}`, kthread: i % 3 === 0 })
    const frames: Frame[] = []
    for (let f = 0; f < 20; f++) {
      const sym: Ksym = others[rand(others.length)]
      frames.push({ sym, off: sym.callOff })
    }
    park(k, task, { frames, state: 'S' })
  }
  const impl = () => 0
  const def = defineModule({
    name: 'bench_patch',
    livepatch: true,
    functions: { bench_new: impl },
    init: (ctx) => ctx.klp.patch({ objs: [{ name: null, funcs: targets.map(s => ({ oldName: s.name, newFunc: impl })) }] }),
    exit: () => {},
  })
  const image = imageOf(def, k.vermagic)
  await clock.advance(1)
  const start = process.cpuUsage()
  const rc = await sim.insmod(image)
  const ms = cpuMs(start)
  if (rc !== 0) throw new Error(`bench patch failed to load: ${rc}`)
  if (sim.livepatch.transition.patch) throw new Error('the transition did not complete in the first attempt')
  return ms
}

function patchedCallNs (): number {
  const sim = new Simulator({ clock: new VirtualClock(), bootTasks: false })
  const k = sim.kernel
  const old = k.kallsyms.lookupName('uptime_proc_show')!
  const replacement = (_ctx: unknown, x: number) => x + 1
  const def = defineModule({
    name: 'bench_call',
    livepatch: true,
    functions: { bench_call_new: replacement },
    init: (ctx) => ctx.klp.patch({ objs: [{ name: null, funcs: [{ oldName: 'uptime_proc_show', newFunc: replacement }] }] }),
    exit: () => {},
  })
  void sim.insmod(imageOf(def, k.vermagic))
  const ctx = k.caller.ctx
  const n = 1_000_000
  let acc = 0
  for (let i = 0; i < 100_000; i++) acc = k.dispatch.call(ctx, old, [acc]) as number
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) acc = k.dispatch.call(ctx, old, [acc]) as number
  const ns = Number(process.hrtime.bigint() - t0) / n
  if (acc < n) throw new Error('the patched function did not run')
  return ns
}

export async function benchEngine (): Promise<Record<string, number>> {
  const runs: number[] = []
  for (let i = 0; i < 3; i++) runs.push(await transitionOnce())
  const calls: number[] = []
  for (let i = 0; i < 5; i++) calls.push(patchedCallNs())
  return {
    'engine.transition_ms': Math.round(median(runs) * 10) / 10,
    'engine.patched_call_ns': Math.round(median(calls)),
  }
}

if (require.main === module) {
  benchEngine().then(r => console.log(JSON.stringify(r, null, 2)), e => { console.error(e); process.exit(1) })
}
