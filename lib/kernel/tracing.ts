// tracefs: the function tracer and the files scripts use to drive it
// (current_tracer, tracing_on, set_ftrace_filter, trace, available_filter_functions).
import { EINVAL } from '../kobject/errno'
import type { KDir } from '../kobject/node'
import type { Kernel } from './kernel'
import { createOps, FtraceCall, FtraceOps, FTRACE_OPS_FL_IPMODIFY } from './ftrace'
import type { Ksym } from './kallsyms'
import { wildcard } from './dyndbg'

interface TraceEntry { comm: string, pid: number, cpu: number, tsUs: number, func: string, caller: string }

const MAX_ENTRIES = 100_000

export class FunctionTracer {
  tracingOn = true
  currentTracer: 'nop' | 'function' = 'nop'
  private readonly filter = new Set<Ksym>()
  private entries: TraceEntry[] = []
  private written = 0
  private readonly ops: FtraceOps

  constructor (private readonly kernel: Kernel) {
    this.ops = createOps('function_trace', 0, { func: (call) => this.record(call) })
    this.ops.traceAll = true
  }

  private record (call: FtraceCall): void {
    if (!this.tracingOn) return
    const task = (call.ctx as { task?: { comm: string, pid: number, cpu: number } }).task
    this.entries.push({
      comm: task?.comm ?? '<idle>',
      pid: task?.pid ?? 0,
      cpu: task?.cpu ?? 0,
      tsUs: this.kernel.clock.nowUs(),
      func: call.sym.name,
      caller: call.caller?.name ?? '0',
    })
    this.written++
    if (this.entries.length > MAX_ENTRIES) this.entries.splice(0, this.entries.length - MAX_ENTRIES)
  }

  private reconfigure (): number {
    const ft = this.kernel.ftrace
    if (this.ops.registered) ft.unregister(this.ops)
    this.ops.filter.clear()
    for (const s of this.filter) this.ops.filter.add(s)
    if (this.currentTracer === 'function') return ft.register(this.ops)
    return 0
  }

  setTracer (name: string): number {
    const n = name.trim()
    if (n !== 'nop' && n !== 'function') return -EINVAL
    this.currentTracer = n
    return this.reconfigure()
  }

  clear (): void { this.entries = []; this.written = 0 }

  resetFilter (): void {
    this.filter.clear()
    this.reconfigure()
  }

  /** Adds the functions a filter line names (globs allowed); -EINVAL if a name matches nothing. */
  addFilter (text: string): number {
    const words = text.split(/\s+/).filter(Boolean)
    for (const w of words) {
      const matched = this.matchFunctions(w)
      if (matched.length === 0) return -EINVAL
      for (const s of matched) this.filter.add(s)
    }
    if (words.length) return this.reconfigure()
    return 0
  }

  private matchFunctions (pattern: string): Ksym[] {
    const out: Ksym[] = []
    const glob = /[*?]/.test(pattern)
    for (const s of this.kernel.allFunctions()) {
      if (!this.kernel.ftrace.isLocation(s)) continue
      if (glob ? wildcard(pattern, s.name) : s.name === pattern) out.push(s)
    }
    return out
  }

  showFilter (): string {
    if (this.filter.size === 0) return '#### all functions enabled ####\n'
    return [...this.filter].map(s => (s.object ? `${s.name} [${s.object}]` : s.name)).join('\n') + '\n'
  }

  showTrace (): string {
    const n = this.kernel.sched.ncpus
    let out = `# tracer: ${this.currentTracer}\n#\n# entries-in-buffer/entries-written: ${this.entries.length}/${this.written}   #P:${n}\n#\n`
    out += '#                                _-----=> irqs-off/BH-disabled\n'
    out += '#                               / _----=> need-resched\n'
    out += '#                              | / _---=> hardirq/softirq\n'
    out += '#                              || / _--=> preempt-depth\n'
    out += '#                              ||| / _-=> migrate-disable\n'
    out += '#                              |||| /     delay\n'
    out += '#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n'
    out += '#              | |         |   |||||     |         |\n'
    for (const e of this.entries) {
      const ts = `${Math.floor(e.tsUs / 1e6)}.${String(e.tsUs % 1e6).padStart(6, '0')}`
      out += `${e.comm.padStart(16)}-${String(e.pid).padEnd(7)} [${String(e.cpu).padStart(3, '0')}] ..... ${ts.padStart(12)}: ${e.func} <-${e.caller}\n`
    }
    return out
  }

  /** Functions with ftrace ops attached (enabled_functions). */
  showEnabled (): string {
    let out = ''
    for (const s of this.kernel.allFunctions()) {
      const site = s.site
      if (!site) continue
      const ipmod = site.ops.some(o => o.flags & FTRACE_OPS_FL_IPMODIFY)
      out += `${s.object ? `${s.name} [${s.object}]` : s.name} (${site.ops.length})${ipmod ? ' R I' : ''}\n`
    }
    return out
  }
}

export function createTracefs (k: Kernel, dir: KDir): FunctionTracer {
  const tr = new FunctionTracer(k)
  dir.addAttr('trace', 0o644, { show: () => tr.showTrace(), store: () => { tr.clear(); return 0 }, truncate: () => tr.clear() }, 'seq')
  dir.addAttr('tracing_on', 0o644, {
    show: () => (tr.tracingOn ? '1\n' : '0\n'),
    store: (s) => {
      const m = /^\s*(\d+)\s*$/.exec(s)
      if (!m) return -EINVAL
      tr.tracingOn = Number(m[1]) !== 0
      return 0
    },
  }, 'seq')
  dir.addAttr('current_tracer', 0o644, { show: () => `${tr.currentTracer}\n`, store: (s) => tr.setTracer(s) }, 'seq')
  dir.addAttr('available_tracers', 0o444, { show: () => 'function nop\n' }, 'seq')
  dir.addAttr('set_ftrace_filter', 0o644, {
    show: () => tr.showFilter(),
    store: (s) => tr.addFilter(s),
    truncate: () => tr.resetFilter(),
  }, 'seq')
  dir.addAttr('available_filter_functions', 0o444, {
    show: () => {
      let out = ''
      for (const s of k.allFunctions()) if (k.ftrace.isLocation(s)) out += s.object ? `${s.name} [${s.object}]\n` : `${s.name}\n`
      return out
    },
  }, 'seq')
  dir.addAttr('enabled_functions', 0o444, { show: () => tr.showEnabled() }, 'seq')
  return tr
}
