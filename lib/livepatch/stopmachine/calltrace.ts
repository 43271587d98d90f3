// klp_check_calltrace: with every CPU stopped, no task may have a return
// address inside code that is about to change meaning. The ranges come from
// arch_klp_check_activeness_func (the generic version x86 and arm64 use in
// OLK-6.6); the task walk and its report from arch do_check_calltrace.
import type { Kernel } from '../../kernel/kernel'
import type { Ksym } from '../../kernel/kallsyms'
import type { ModuleInstance } from '../../kernel/module'
import { KERN_ERR, KERN_INFO, KERN_WARNING } from '../../kernel/printk'
import type { Task } from '../../kernel/task'
import { formatSymbolOffset } from '../../kernel/kallsyms'
import { EAGAIN, EBUSY, EINVAL } from '../../kobject/errno'
import { KLP_ENFORCEMENT, KLP_NORMAL_FORCE, KLP_STACK_OPTIMIZE, KlpPatch } from '../types'
import { archCheckJumpInsn, KLP_MIGRATION_NAME_PREFIX, MAX_STACK_ENTRIES } from './arch'
import type { KlpFuncNode } from './func-node'

/** struct actv_func: one code range no task may be in. */
export interface ActiveFunc {
  addr: bigint
  size: number
  name: string
  force: number
}

export interface CalltraceConfig {
  kernel: Kernel
  /** KLP_MAX_REPLACE_SIZE */
  maxReplaceSize: number
  /** CONFIG_PREEMPTION */
  preemption: boolean
}

/** Logs with the livepatch core's pr_fmt. */
export function klpLog (k: Kernel, level: number, fmt: string, ...args: unknown[]): void {
  k.printk.log(level, 'livepatch: ' + k.format(fmt, args))
}

/** klp_check_activeness_func: the ranges to check, in the kernel's order. */
export function collectActiveFuncs (patch: KlpPatch, enable: boolean, cfg: CalltraceConfig): ActiveFunc[] {
  const list: ActiveFunc[] = []
  const add = (sym: Ksym, size: number, name: string, force: number): void => { list.push({ addr: sym.addr, size, name, force }) }
  for (const func of patch.funcs()) {
    const node = func.funcNode as KlpFuncNode | undefined
    const oldFunc = func.oldFunc!
    if (enable) {
      if (func.patched || func.force === KLP_ENFORCEMENT) continue
      // the code that runs now: the original, or the newest patch's new function
      const prev = node?.top
      const active = prev ? prev.newFunc! : oldFunc
      const size = prev ? prev.newSize : func.oldSize
      // without preemption a task can only be inside an entry that calls out
      if (cfg.preemption || func.force === KLP_NORMAL_FORCE || archCheckJumpInsn(active)) {
        add(active, size, func.oldName, func.force)
        // the old entry is rewritten again
        if (active !== oldFunc) add(oldFunc, cfg.maxReplaceSize, func.oldName, func.force)
      }
    } else {
      if (cfg.preemption) {
        const single = (node?.funcStack.length ?? 0) === 1
        const top = node?.top
        const active = single || !top ? oldFunc : top.newFunc!
        add(active, single || !top ? func.oldSize : top.newSize, func.oldName, 0)
        if (active !== oldFunc) add(oldFunc, cfg.maxReplaceSize, func.oldName, 0)
      }
      add(func.newFunc!, func.newSize, func.oldName, 0)
    }
  }
  return list
}

/** klp_size_to_check: a KLP_STACK_OPTIMIZE range only counts for its first bytes. */
function sizeToCheck (f: ActiveFunc, maxReplaceSize: number): number {
  return f.force === KLP_STACK_OPTIMIZE && f.size > maxReplaceSize ? maxReplaceSize : f.size
}

/** A per-return-address check: 0, or a negative errno after it logged why. */
export type PcCheck = (pc: bigint) => number

interface Range { start: bigint, end: bigint, name: string, index: number }

/**
 * check_func_list with klp_compare_address: the first range in list order
 * that holds the address names the function. The ranges are searched by
 * address (a patch of thousands of functions against thousands of tasks
 * must stay fast), with the kernel's list order deciding between overlaps.
 */
export function activeFuncsCheck (k: Kernel, list: readonly ActiveFunc[], maxReplaceSize: number): PcCheck {
  const ranges: Range[] = []
  let longest = 0n
  list.forEach((f, index) => {
    const size = BigInt(sizeToCheck(f, maxReplaceSize))
    if (size <= 0n) return
    ranges.push({ start: f.addr, end: f.addr + size, name: f.name, index })
    if (size > longest) longest = size
  })
  ranges.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.index - b.index))
  return (pc) => {
    let lo = 0
    let hi = ranges.length - 1
    let at = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (ranges[mid].start <= pc) { at = mid; lo = mid + 1 } else hi = mid - 1
    }
    let hit: Range | undefined
    for (let j = at; j >= 0 && pc - ranges[j].start < longest; j--) {
      const r = ranges[j]
      if (pc < r.end && (!hit || r.index < hit.index)) hit = r
    }
    if (!hit) return 0
    klpLog(k, KERN_WARNING, 'func %s is in use!', hit.name)
    return -EAGAIN
  }
}

/** check_module_calltrace: a return address inside the module's core text. */
export function moduleCoreCheck (k: Kernel, mod: ModuleInstance): PcCheck {
  const start = mod.baseAddr
  const end = mod.baseAddr + BigInt(mod.coresize)
  return (pc) => {
    if (pc >= start && pc < end) {
      klpLog(k, KERN_ERR, 'module %s is in use!', mod.name)
      return -EBUSY
    }
    return 0
  }
}

/** klp_is_thread_dead: a zombie's or dead task's stack may be gone. */
function isThreadDead (t: Task): boolean {
  return t.exited || t.state === 'Z' || t.state === 'X'
}

/** Return addresses of a task's kernel stack, innermost first. */
function returnAddresses (t: Task): bigint[] {
  const out: bigint[] = []
  for (let i = t.stack.length - 1; i >= 0; i--) out.push(t.stack[i].sym.addr + BigInt(t.stack[i].off))
  return out
}

/** x86 check_task_calltrace: a reliable unwind is required; a hit dumps the trace. */
function checkTaskX86 (k: Kernel, t: Task, check: PcCheck): number {
  if (t.unreliable || t.stack.length > MAX_STACK_ENTRIES) {
    klpLog(k, KERN_ERR, '%s:%d has an unreliable stack, ret=%d', t.comm, t.pid, -EINVAL)
    return -EINVAL
  }
  const trace = returnAddresses(t)
  for (const pc of trace) {
    const ret = check(pc)
    if (!ret) continue
    klpLog(k, KERN_ERR, 'Call Trace:')
    for (const a of trace) klpLog(k, KERN_ERR, '[<%p>] %pS', a, a)
    klpLog(k, KERN_ERR, '%s:%d check stack failed, ret=%d', t.comm, t.pid, ret)
    return ret
  }
  return 0
}

/** arm64 check_task_calltrace: the frame walk does not judge reliability; a hit shows the task's stack. */
function checkTaskArm64 (k: Kernel, t: Task, check: PcCheck): number {
  for (const pc of returnAddresses(t)) {
    const ret = check(pc)
    if (!ret) continue
    klpLog(k, KERN_INFO, 'PID: %d Comm: %.20s', t.pid, t.comm)
    k.printk.log(KERN_INFO, 'Call trace:')
    for (const f of t.framesInnermostFirst()) k.printk.log(KERN_INFO, ` ${formatSymbolOffset(f.sym, f.off)}`)
    return ret
  }
  return 0
}

/**
 * do_check_calltrace: every thread except the stoppers (migration/N) and dead
 * ones, then the idle task of each CPU. The first failing task ends the walk.
 */
export function doCheckCalltrace (k: Kernel, check: PcCheck): number {
  const checkTask = k.arch === 'arm64' ? checkTaskArm64 : checkTaskX86
  for (const t of [...k.sched.tasks()]) {
    if (t.comm.startsWith(KLP_MIGRATION_NAME_PREFIX)) continue
    if (isThreadDead(t)) continue
    const ret = checkTask(k, t, check)
    if (ret) return ret
  }
  for (const idle of k.sched.idleTasks) {
    const ret = checkTask(k, idle, check)
    if (ret) return ret
  }
  return 0
}

/** klp_check_calltrace */
export function klpCheckCalltrace (patch: KlpPatch, enable: boolean, cfg: CalltraceConfig): number {
  const list = collectActiveFuncs(patch, enable, cfg)
  if (!list.length) return 0
  return doCheckCalltrace(cfg.kernel, activeFuncsCheck(cfg.kernel, list, cfg.maxReplaceSize))
}
