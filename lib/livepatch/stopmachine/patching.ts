// What the stop_machine core does to one patch's functions: func nodes
// (klp_mem_prepare/klp_mem_recycle), patching and unpatching on the first CPU
// inside stop_machine (enable_patch/disable_patch, with klp_need_rollback),
// and the breakpoints of the retry path.
import type { Kernel } from '../../kernel/kernel'
import { KERN_ERR, KERN_NOTICE, KERN_WARNING } from '../../kernel/printk'
import { EAGAIN, EINVAL, ENODEV, ENOMEM, EPERM } from '../../kobject/errno'
import type { KlpFunc, KlpObject, KlpPatch } from '../types'
import { klpLog } from './calltrace'
import { KlpFuncList, KlpFuncNode } from './func-node'

/** Fault injection for paths a healthy simulated machine never takes. */
export interface StopMachineFaults {
  /** arch_klp_patch_func fails for this function with this errno. */
  patchFuncFails?: (func: KlpFunc) => number | undefined
  /** func_node_alloc fails (klp_mem_prepare). */
  funcNodeAllocFails?: (func: KlpFunc) => boolean
}

/** klp_need_rollback: a retry keeps what it patched unless it is the last one or the error is not EAGAIN. */
function klpNeedRollback (err: number, rollback: boolean): boolean {
  return err !== -EAGAIN || rollback
}

export class PatchOperations {
  constructor (
    private readonly k: Kernel,
    readonly funcList: KlpFuncList,
    private readonly faults: () => StopMachineFaults,
  ) {}

  /** klp_mem_prepare: every func gets the node of its old function. */
  memPrepare (patch: KlpPatch): number {
    for (const func of patch.funcs()) {
      if (this.faults().funcNodeAllocFails?.(func)) {
        this.memRecycle(patch)
        klpLog(this.k, KERN_ERR, 'alloc func_node failed')
        return -ENOMEM
      }
      func.funcNode = this.funcList.alloc(func.oldFunc!)
    }
    return 0
  }

  /** klp_mem_recycle: nodes no patch uses any more go. */
  memRecycle (patch: KlpPatch): void {
    for (const func of patch.funcs()) {
      const node = func.funcNode as KlpFuncNode | undefined
      if (!node) continue
      func.funcNode = undefined
      this.funcList.release(node)
    }
  }

  /** klp_patch_func */
  private patchFunc (func: KlpFunc): number {
    if (func.patched) return 0
    const node = func.funcNode as KlpFuncNode | undefined
    if (!func.oldFunc || !node || !func.newFunc) return -EINVAL
    const injected = this.faults().patchFuncFails?.(func)
    if (injected) {
      if (this.k.arch !== 'arm64') return injected
      klpLog(this.k, KERN_ERR, 'patch instruction small range failed, ret=%d', injected)
      return -EPERM
    }
    node.patch(func)
    func.patched = true
    return 0
  }

  /** klp_unpatch_func */
  private unpatchFunc (func: KlpFunc): void {
    const node = func.funcNode as KlpFuncNode | undefined
    if (!func.patched || !node) return
    node.unpatch(func)
    func.patched = false
  }

  private unpatchObject (obj: KlpObject): void {
    for (const func of obj.funcs) if (func.patched) this.unpatchFunc(func)
    obj.patched = false
  }

  /** klp_patch_object */
  private patchObject (obj: KlpObject, rollback: boolean): number {
    if (obj.patched) return 0
    for (const func of obj.funcs) {
      const ret = this.patchFunc(func)
      if (ret && klpNeedRollback(ret, rollback)) {
        this.unpatchObject(obj)
        return ret
      }
    }
    obj.patched = true
    return 0
  }

  /** enable_patch, on the first CPU inside stop_machine. */
  enablePatch (patch: KlpPatch, rollback: boolean): number {
    const k = this.k
    k.printk.logOnce('livepatch:wo-taint', KERN_NOTICE, 'livepatch: tainting kernel with TAINT_LIVEPATCH')
    k.addTaint('K')
    if (!patch.enabled) {
      if (!k.modules.get(patch.mod)) return -ENODEV
      patch.enabled = true
      klpLog(k, KERN_NOTICE, "enabling patch '%s'", patch.name)
    }
    for (const obj of patch.objs) {
      if (!obj.loaded) continue
      const ret = this.patchObject(obj, rollback)
      if (ret && klpNeedRollback(ret, rollback)) {
        klpLog(k, KERN_WARNING, "failed to patch object '%s'", obj.displayName)
        this.disablePatch(patch)
        return ret
      }
    }
    return 0
  }

  /** disable_patch, on the first CPU inside stop_machine. */
  disablePatch (patch: KlpPatch): number {
    klpLog(this.k, KERN_NOTICE, "disabling patch '%s'", patch.name)
    for (const obj of patch.objs) if (obj.patched) this.unpatchObject(obj)
    patch.enabled = false
    this.k.modules.put(patch.mod)
    return 0
  }

  /**
   * klp_add_breakpoint: callers of the old functions trap into the new ones
   * while the retries run; a temporary reference keeps the module. A node that
   * already has a breakpoint is a WARN_ON_ONCE (warn) and -EINVAL.
   */
  addBreakpoint (patch: KlpPatch, warn: () => void): number {
    if (!this.k.modules.get(patch.mod)) return -ENODEV
    for (const func of patch.funcs()) {
      const node = this.funcList.find(func.oldFunc)
      if (!node || node.brkFunc) {
        warn()
        this.removeBreakpoints(patch, true)
        this.k.modules.put(patch.mod)
        return -EINVAL
      }
      node.addBreakpoint(func.newFunc!)
    }
    return 0
  }

  private removeBreakpoints (patch: KlpPatch, restore: boolean): void {
    for (const func of patch.funcs()) this.funcList.find(func.oldFunc)?.removeBreakpoint(restore)
  }

  /** klp_breakpoint_post_process: breakpoints out (restored only on failure), temporary reference dropped. */
  breakpointPostProcess (patch: KlpPatch, restore: boolean): void {
    this.removeBreakpoints(patch, restore)
    this.k.modules.put(patch.mod)
  }
}
