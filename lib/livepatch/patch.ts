// patch.c: one klp_ops (one ftrace_ops) per patched original function, its
// func_stack, and the ftrace handler that picks the version a task runs.
import { EINVAL, ENOMEM } from '../kobject/errno'
import { createOps, FtraceCall, FtraceOps, FTRACE_OPS_FL_DYNAMIC, FTRACE_OPS_FL_IPMODIFY, FTRACE_OPS_FL_PERMANENT, FTRACE_OPS_FL_SAVE_REGS } from '../kernel/ftrace'
import type { Ksym } from '../kernel/kallsyms'
import type { Livepatch } from './livepatch'
import { KlpFunc, KlpObject, KlpPatch, KLP_TRANSITION_IDLE, KLP_TRANSITION_UNPATCHED } from './types'

export class KlpOps {
  /** Newest first: the top entry is the version tasks run. */
  readonly funcStack: KlpFunc[] = []
  readonly fops: FtraceOps
  constructor (readonly oldFunc: Ksym, handler: (call: FtraceCall, ops: KlpOps) => Ksym | undefined) {
    this.fops = createOps('klp_ops', FTRACE_OPS_FL_DYNAMIC | FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY | FTRACE_OPS_FL_PERMANENT, {
      redirect: (call) => handler(call, this),
    })
  }
}

export class PatchOps {
  /** klp_ops, keyed by the original function. */
  readonly ops = new Map<Ksym, KlpOps>()
  /** Fault injection: allocation failure of a new klp_ops. */
  allocFault: (() => boolean) | undefined = undefined

  constructor (private readonly lp: Livepatch) {}

  findOps (oldFunc: Ksym): KlpOps | undefined { return this.ops.get(oldFunc) }

  /** klp_ftrace_handler: the version of the function this task runs. */
  private handler = (call: FtraceCall, ops: KlpOps): Ksym | undefined => {
    let func: KlpFunc | undefined = ops.funcStack[0]
    if (!func) return undefined
    if (func.transition) {
      const task = (call.ctx as { task: { patchState: number } }).task
      const state = task.patchState
      if (state === KLP_TRANSITION_IDLE) this.lp.warnOnce('klp_ftrace_handler: task patch_state is idle during a transition')
      if (state === KLP_TRANSITION_UNPATCHED) {
        func = ops.funcStack[1]
        if (!func) return undefined
      }
    }
    if (func.nop) return undefined
    return func.newFunc
  }

  /** klp_patch_func */
  patchFunc (func: KlpFunc): number {
    const lp = this.lp
    if (!func.oldFunc) { lp.warnOnce('klp_patch_func: old_func is NULL'); return -EINVAL }
    if (func.patched) { lp.warnOnce('klp_patch_func: already patched'); return -EINVAL }
    const old = func.oldFunc
    const existing = this.ops.get(old)
    if (existing) {
      existing.funcStack.unshift(func)
      func.patched = true
      return 0
    }
    const ftrace = lp.kernel.ftrace
    if (!ftrace.isLocation(old)) {
      lp.pr_err("failed to find location for function '%s'", func.oldName)
      return -EINVAL
    }
    if (this.allocFault?.()) return -ENOMEM
    const ops = new KlpOps(old, this.handler)
    this.ops.set(old, ops)
    ops.funcStack.unshift(func)
    let ret = ftrace.setFilterIp(ops.fops, old, false, false)
    if (ret) {
      lp.pr_err("failed to set ftrace filter for function '%s' (%d)", func.oldName, ret)
    } else {
      ret = ftrace.register(ops.fops)
      if (ret) {
        lp.pr_err("failed to register ftrace handler for function '%s' (%d)", func.oldName, ret)
        ftrace.setFilterIp(ops.fops, old, true, false)
      }
    }
    if (ret) {
      this.ops.delete(old)
      return ret
    }
    func.patched = true
    return 0
  }

  /** klp_unpatch_func */
  unpatchFunc (func: KlpFunc): void {
    const lp = this.lp
    if (!func.patched) { lp.warnOnce('klp_unpatch_func: not patched'); return }
    if (!func.oldFunc) { lp.warnOnce('klp_unpatch_func: old_func is NULL'); return }
    const ops = this.ops.get(func.oldFunc)
    if (!ops) { lp.warnOnce('klp_unpatch_func: no ops'); return }
    if (ops.funcStack.length === 1) {
      lp.kernel.ftrace.unregister(ops.fops)
      lp.kernel.ftrace.setFilterIp(ops.fops, func.oldFunc, true, false)
      ops.funcStack.length = 0
      this.ops.delete(func.oldFunc)
    } else {
      const i = ops.funcStack.indexOf(func)
      if (i >= 0) ops.funcStack.splice(i, 1)
    }
    func.patched = false
  }

  /** __klp_unpatch_object */
  private unpatchObjectInternal (obj: KlpObject, nopsOnly: boolean): void {
    for (const func of obj.funcs) {
      if (nopsOnly && !func.nop) continue
      if (func.patched) this.unpatchFunc(func)
    }
    if (obj.dynamic || !nopsOnly) obj.patched = false
  }

  /** klp_unpatch_object */
  unpatchObject (obj: KlpObject): void { this.unpatchObjectInternal(obj, false) }

  /** klp_patch_object */
  patchObject (obj: KlpObject): number {
    if (obj.patched) { this.lp.warnOnce('klp_patch_object: already patched'); return -EINVAL }
    for (const func of obj.funcs) {
      const ret = this.patchFunc(func)
      if (ret) {
        this.unpatchObject(obj)
        return ret
      }
    }
    obj.patched = true
    return 0
  }

  /** klp_unpatch_objects */
  unpatchObjects (patch: KlpPatch): void {
    for (const obj of patch.objs) if (obj.patched) this.unpatchObjectInternal(obj, false)
  }

  /** klp_unpatch_objects_dynamic: only the nops (atomic replace cleanup). */
  unpatchObjectsDynamic (patch: KlpPatch): void {
    for (const obj of patch.objs) if (obj.patched) this.unpatchObjectInternal(obj, true)
  }

  /** The version of oldFunc a task in the given patch state runs (for status views). */
  liveVersion (oldFunc: Ksym, patchState: number): KlpFunc | undefined {
    const ops = this.ops.get(oldFunc)
    if (!ops) return undefined
    let func: KlpFunc | undefined = ops.funcStack[0]
    if (func?.transition && patchState === KLP_TRANSITION_UNPATCHED) func = ops.funcStack[1]
    return func
  }
}
