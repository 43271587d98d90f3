// ftrace: per-function call sites with attached ftrace_ops, IPMODIFY ownership,
// and the kernel.ftrace_enabled sysctl.
import { EBUSY, EINVAL, ENODEV } from '../kobject/errno'
import type { Ksym } from './kallsyms'

export const FTRACE_OPS_FL_DYNAMIC = 1 << 1
export const FTRACE_OPS_FL_SAVE_REGS = 1 << 3
export const FTRACE_OPS_FL_IPMODIFY = 1 << 13
export const FTRACE_OPS_FL_PERMANENT = 1 << 16

/** What an ftrace callback sees of a call. */
export interface FtraceCall {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly ctx: any
  readonly sym: Ksym
  readonly caller: Ksym | undefined
}

export interface FtraceOps {
  readonly name: string
  readonly flags: number
  /** Entry callback (tracers, kprobe pre-handlers). */
  func?: (call: FtraceCall) => void
  /** IPMODIFY callback: the function to run instead, or undefined for the original. */
  redirect?: (call: FtraceCall) => Ksym | undefined
  /** The filter hash: functions this ops is attached to. Empty with traceAll = every function. */
  readonly filter: Set<Ksym>
  traceAll?: boolean
  registered: boolean
}

export function createOps (name: string, flags: number, parts: Pick<FtraceOps, 'func' | 'redirect'> = {}): FtraceOps {
  return { name, flags, filter: new Set(), registered: false, ...parts }
}

/** Registration failures injected by tests and `klpsim fault` (kernel-internal errnos). */
export interface FtraceFaults {
  registerFailure (sym: Ksym): number | undefined
}

export class FunctionSite {
  readonly ops: FtraceOps[] = []
  ipmodify: FtraceOps | undefined = undefined
  constructor (readonly sym: Ksym) {}
}

export class Ftrace {
  /** kernel.ftrace_enabled */
  enabled = true
  readonly registered = new Set<FtraceOps>()
  faults: FtraceFaults | undefined = undefined
  private readonly allFunctions: () => Iterable<Ksym>

  constructor (allFunctions: () => Iterable<Ksym>) {
    this.allFunctions = allFunctions
  }

  /** ftrace_location: can this function be traced/patched at its entry? */
  isLocation (sym: Ksym): boolean {
    return sym.isText && !sym.notrace && sym.size > 0
  }

  /** ftrace_set_filter_ip. */
  setFilterIp (ops: FtraceOps, sym: Ksym, remove: boolean, reset: boolean): number {
    if (!this.isLocation(sym)) return -EINVAL
    if (reset) {
      if (ops.registered) for (const s of ops.filter) this.detach(ops, s)
      ops.filter.clear()
    }
    if (remove) {
      if (ops.registered) this.detach(ops, sym)
      ops.filter.delete(sym)
      return 0
    }
    if (ops.registered && !ops.filter.has(sym)) {
      const rc = this.attach(ops, sym)
      if (rc) return rc
    }
    ops.filter.add(sym)
    return 0
  }

  private targets (ops: FtraceOps): Iterable<Ksym> {
    if (ops.traceAll && ops.filter.size === 0) {
      const self = this
      return (function * () { for (const s of self.allFunctions()) if (self.isLocation(s)) yield s })()
    }
    return ops.filter
  }

  /** register_ftrace_function. */
  register (ops: FtraceOps): number {
    if (ops.registered) return -EBUSY
    if ((ops.flags & FTRACE_OPS_FL_PERMANENT) && !this.enabled) return -EBUSY
    const targets = [...this.targets(ops)]
    for (const sym of targets) {
      const injected = this.faults?.registerFailure(sym)
      if (injected !== undefined) return injected
      if ((ops.flags & FTRACE_OPS_FL_IPMODIFY) && sym.site?.ipmodify) return -EBUSY
    }
    for (const sym of targets) this.attach(ops, sym)
    ops.registered = true
    this.registered.add(ops)
    return 0
  }

  /** unregister_ftrace_function. */
  unregister (ops: FtraceOps): number {
    if (!ops.registered) return -ENODEV
    for (const sym of [...this.targets(ops)]) this.detach(ops, sym)
    ops.registered = false
    this.registered.delete(ops)
    return 0
  }

  private attach (ops: FtraceOps, sym: Ksym): number {
    if ((ops.flags & FTRACE_OPS_FL_IPMODIFY) && sym.site?.ipmodify && sym.site.ipmodify !== ops) return -EBUSY
    const site = sym.site ?? (sym.site = new FunctionSite(sym))
    if (!site.ops.includes(ops)) site.ops.push(ops)
    if (ops.flags & FTRACE_OPS_FL_IPMODIFY) site.ipmodify = ops
    return 0
  }

  private detach (ops: FtraceOps, sym: Ksym): void {
    const site = sym.site
    if (!site) return
    const i = site.ops.indexOf(ops)
    if (i >= 0) site.ops.splice(i, 1)
    if (site.ipmodify === ops) site.ipmodify = undefined
    if (site.ops.length === 0) sym.site = undefined
  }

  /** Whether any PERMANENT ops (a livepatch) is registered. */
  hasPermanentOps (): boolean {
    for (const o of this.registered) if (o.flags & FTRACE_OPS_FL_PERMANENT) return true
    return false
  }

  /** A write to kernel.ftrace_enabled: -EBUSY while a PERMANENT ops is registered and it would turn off. */
  setEnabled (value: boolean): number {
    if (!value && this.enabled && this.hasPermanentOps()) return -EBUSY
    this.enabled = value
    return 0
  }

  /** Runs the ops on entry to sym; returns the function that actually executes. */
  enter (ctx: unknown, site: FunctionSite, caller: Ksym | undefined): Ksym {
    const call: FtraceCall = { ctx, sym: site.sym, caller }
    let target = site.sym
    for (const ops of site.ops) {
      if (!this.enabled && !(ops.flags & FTRACE_OPS_FL_PERMANENT)) continue
      if (ops.func) ops.func(call)
      if (ops.redirect && ops === site.ipmodify) target = ops.redirect(call) ?? site.sym
    }
    return target
  }
}
