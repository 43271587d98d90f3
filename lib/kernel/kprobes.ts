// kprobes on ftrace call sites (CONFIG_KPROBES_ON_FTRACE): a probe with a
// post_handler needs the IPMODIFY ops, one without shares the plain ops.
import { EINVAL, ENOENT } from '../kobject/errno'
import { createOps, Ftrace, FTRACE_OPS_FL_IPMODIFY, FTRACE_OPS_FL_SAVE_REGS, FtraceCall, FtraceOps } from './ftrace'
import type { Kallsyms, Ksym } from './kallsyms'

export interface Kprobe {
  symbolName: string
  offset: number
  preHandler?: (call: FtraceCall) => void
  postHandler?: (call: FtraceCall) => void
  sym?: Ksym
  armed: boolean
  owner?: string
}

export class Kprobes {
  /** /sys/kernel/debug/kprobes/enabled */
  enabled = true
  private readonly probes = new Set<Kprobe>()
  private readonly plainOps: FtraceOps
  private readonly ipmodifyOps: FtraceOps

  constructor (private readonly ftrace: Ftrace, private readonly kallsyms: Kallsyms, private readonly log: (msg: string) => void) {
    const func = (call: FtraceCall): void => {
      for (const p of this.probes) if (p.armed && p.sym === call.sym) { p.preHandler?.(call); p.postHandler?.(call) }
    }
    this.plainOps = createOps('kprobe_ftrace_ops', FTRACE_OPS_FL_SAVE_REGS, { func })
    this.ipmodifyOps = createOps('kprobe_ipmodify_ops', FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY, { func, redirect: () => undefined })
  }

  private opsFor (p: Kprobe): FtraceOps { return p.postHandler ? this.ipmodifyOps : this.plainOps }

  private arm (p: Kprobe): number {
    const ops = this.opsFor(p)
    const sym = p.sym!
    const users = [...this.probes].filter(q => q.armed && q !== p && this.opsFor(q) === ops && q.sym === sym)
    if (users.length) { p.armed = true; return 0 }
    const wasRegistered = ops.registered
    let rc = this.ftrace.setFilterIp(ops, sym, false, false)
    if (rc) return rc
    if (!wasRegistered) {
      rc = this.ftrace.register(ops)
      if (rc) { this.ftrace.setFilterIp(ops, sym, true, false); return rc }
    }
    p.armed = true
    return 0
  }

  private disarm (p: Kprobe): void {
    if (!p.armed) return
    p.armed = false
    const ops = this.opsFor(p)
    const stillUsed = [...this.probes].some(q => q.armed && this.opsFor(q) === ops && q.sym === p.sym)
    if (stillUsed) return
    this.ftrace.setFilterIp(ops, p.sym!, true, false)
    if (ops.filter.size === 0 && ops.registered) this.ftrace.unregister(ops)
  }

  /** register_kprobe: 0 or a negative errno. */
  register (p: Kprobe): number {
    const sym = this.kallsyms.lookupName(p.symbolName)
    if (!sym) return -ENOENT
    if (p.offset !== 0 || !this.ftrace.isLocation(sym)) return -EINVAL
    p.sym = sym
    p.armed = false
    this.probes.add(p)
    if (this.enabled) {
      const rc = this.arm(p)
      if (rc) { this.probes.delete(p); return rc }
    }
    return 0
  }

  unregister (p: Kprobe): void {
    if (!this.probes.has(p)) return
    this.disarm(p)
    this.probes.delete(p)
  }

  /** Is any byte of this function probed (stop_machine livepatch's RESTRICT_KPROBE)? */
  probedIn (sym: Ksym): boolean {
    for (const p of this.probes) if (p.sym === sym) return true
    return false
  }

  list (): Kprobe[] { return [...this.probes] }

  /** A write to debugfs kprobes/enabled. */
  setEnabled (on: boolean): void {
    if (on === this.enabled) return
    this.enabled = on
    if (on) {
      for (const p of this.probes) this.arm(p)
      this.log('kprobes: Kprobes globally enabled')
    } else {
      for (const p of this.probes) this.disarm(p)
      this.log('kprobes: Kprobes globally disabled')
    }
  }
}
