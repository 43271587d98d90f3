// Fault injection (`klpsim fault`): each fault makes the simulated kernel take
// the code path the real kernel takes when that thing fails, so the messages and
// errnos that follow are the kernel's own.
import { errnoFromName, errnoName } from './kobject/errno'
import type { Simulator } from './simulator'
import type { Ksym } from './kernel/kallsyms'
import type { KAttr } from './kobject/node'

export const FAULT_KINDS = {
  'ftrace-register': 'FUNC [EBUSY|ENODEV]: registering the ftrace handler on FUNC fails (default EBUSY)',
  'kallsyms-size': 'FUNC: kallsyms cannot tell the size of FUNC (patching it fails with ENOENT)',
  'nop-alloc': 'allocating a nop function or dynamic object for atomic replace fails (ENOMEM)',
  'refcount-delay': 'MS: a freed patch drops its module reference MS milliseconds late (the race of dynup/kpatch PR #1147)',
  'ignore-signals': 'TASK: the task (name or pid) ignores the transition\'s fake signals',
  'attr-read': 'PATH ERRNO: reading the attribute at PATH (in the mount) fails with ERRNO',
  'module-init': 'MODULE ERRNO: the init function of MODULE fails with ERRNO',
} as const

export type FaultKind = keyof typeof FAULT_KINDS

export interface FaultSpec {
  kind: FaultKind
  args: string[]
  once?: boolean
}

export interface Fault extends FaultSpec {
  id: number
  hits: number
  description: string
}

export class FaultError extends Error {}

function parseErrno (text: string | undefined, fallback?: number): number {
  if (text === undefined) {
    if (fallback === undefined) throw new FaultError('an errno is required (e.g. EBUSY or 16)')
    return fallback
  }
  const n = /^-?\d+$/.test(text) ? Math.abs(Number(text)) : errnoFromName(text)
  if (!n || n > 4095) throw new FaultError(`invalid errno '${text}' (use a name such as EBUSY or a number)`)
  return n
}

export class Faults {
  private readonly faults: Fault[] = []
  private nextId = 1

  constructor (private readonly sim: Simulator) {
    const k = sim.kernel
    const lp = sim.livepatch
    k.ftrace.faults = {
      registerFailure: (sym: Ksym) => {
        const f = this.fire('ftrace-register', a => a[0] === sym.name)
        return f ? -parseErrno(f.args[1], 16) : undefined
      },
    }
    lp.core.faults = {
      sizeLookupFails: (name) => !!this.fire('kallsyms-size', a => a[0] === name),
      nopAllocFails: () => !!this.fire('nop-alloc', () => true),
      refcountDropDelayMs: () => {
        const f = this.fire('refcount-delay', () => true)
        return f ? Number(f.args[0]) : 0
      },
    }
    k.modules.initFault = (name) => {
      const f = this.fire('module-init', a => a[0] === name)
      return f ? -parseErrno(f.args[1]) : undefined
    }
    k.root.readFault = (node: KAttr) => {
      const path = node.path
      const f = this.fire('attr-read', a => a[0] === path)
      return f ? -parseErrno(f.args[1]) : undefined
    }
  }

  /** The first matching fault, counted as a hit (and removed if it fires once). */
  private fire (kind: FaultKind, match: (args: string[]) => boolean): Fault | undefined {
    const f = this.faults.find(x => x.kind === kind && match(x.args))
    if (!f) return undefined
    f.hits++
    if (f.once) this.remove(f.id)
    return f
  }

  add (spec: FaultSpec): Fault {
    if (!(spec.kind in FAULT_KINDS)) throw new FaultError(`unknown fault kind '${spec.kind}' (known: ${Object.keys(FAULT_KINDS).join(', ')})`)
    const a = spec.args
    const k = this.sim.kernel
    const arity: Record<FaultKind, [number, number]> = {
      'ftrace-register': [1, 2], 'kallsyms-size': [1, 1], 'nop-alloc': [0, 0], 'refcount-delay': [1, 1],
      'ignore-signals': [1, 1], 'attr-read': [2, 2], 'module-init': [2, 2],
    }
    const [min, max] = arity[spec.kind]
    if (a.length < min || a.length > max) throw new FaultError(`${spec.kind} takes ${FAULT_KINDS[spec.kind]}`)
    let description: string
    switch (spec.kind) {
      case 'ftrace-register': {
        if (!k.kallsyms.lookupName(a[0])) throw new FaultError(`no function '${a[0]}' in the simulated kernel`)
        const e = parseErrno(a[1], 16)
        if (e !== 16 && e !== 19) throw new FaultError('ftrace registration fails with EBUSY or ENODEV')
        description = `registering an ftrace handler on ${a[0]} fails with -${errnoName(e)}`
        break
      }
      case 'kallsyms-size':
        if (!k.kallsyms.lookupName(a[0])) throw new FaultError(`no function '${a[0]}' in the simulated kernel`)
        description = `kallsyms size lookup of ${a[0]} fails`
        break
      case 'nop-alloc':
        description = 'allocation of nop functions fails with -ENOMEM'
        break
      case 'refcount-delay':
        if (!/^\d+$/.test(a[0]) || Number(a[0]) > 3_600_000) throw new FaultError(`invalid delay '${a[0]}' (milliseconds, at most one hour)`)
        description = `module references of freed patches drop ${a[0]} ms late`
        break
      case 'ignore-signals': {
        const task = /^\d+$/.test(a[0]) ? k.sched.find(Number(a[0])) : k.sched.tasks().find(t => t.comm === a[0] && !t.hidden)
        if (!task) throw new FaultError(`no task '${a[0]}'`)
        task.ignoresSignals = true
        description = `${task.comm} (pid ${task.pid}) ignores fake signals`
        break
      }
      case 'attr-read': {
        const node = this.sim.fs.existsSync(a[0]) ? this.sim.fs.statSync(a[0]) : undefined
        if (!node || node.isDirectory()) throw new FaultError(`no attribute at ${a[0]}`)
        description = `reads of ${a[0]} fail with ${errnoName(parseErrno(a[1]))}`
        break
      }
      case 'module-init':
        if (!/^[\w-]{1,55}$/.test(a[0])) throw new FaultError(`invalid module name '${a[0]}'`)
        description = `init of ${a[0]} fails with -${errnoName(parseErrno(a[1]))}`
        break
    }
    const fault: Fault = { ...spec, args: [...a], id: this.nextId++, hits: 0, description: description + (spec.once ? ' (once)' : '') }
    this.faults.push(fault)
    return fault
  }

  list (): readonly Fault[] { return this.faults }

  remove (id: number): boolean {
    const i = this.faults.findIndex(f => f.id === id)
    if (i < 0) return false
    const [f] = this.faults.splice(i, 1)
    if (f.kind === 'ignore-signals') {
      const k = this.sim.kernel
      const task = /^\d+$/.test(f.args[0]) ? k.sched.find(Number(f.args[0])) : k.sched.tasks().find(t => t.comm === f.args[0])
      if (task && !this.faults.some(x => x.kind === 'ignore-signals' && x.args[0] === f.args[0])) task.ignoresSignals = false
    }
    return true
  }

  clear (): number {
    const n = this.faults.length
    for (const f of [...this.faults]) this.remove(f.id)
    return n
  }
}
