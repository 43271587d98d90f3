// core.c: enabling a patch (validation order, kobjects, symbol resolution),
// disabling through sysfs, atomic replace with nops and dynamic objects,
// freeing, the module coming/going hooks, and the sysfs attributes.
import { EBUSY, EFAULT, EINVAL, ENODEV, ENOENT, ENOMEM } from '../kobject/errno'
import { KDir } from '../kobject/node'
import type { Ctx } from '../kernel/context'
import type { Ksym } from '../kernel/kallsyms'
import type { ModuleInstance } from '../kernel/module'
import { KernelOops } from '../kernel/dispatch'
import { createWork } from '../kernel/workqueue'
import type { Livepatch } from './livepatch'
import { isPatchCompatible } from './state'
import { KlpFunc, KlpObject, KlpPatch, KlpPatchDesc, KSYM_NAME_LEN, MODULE_NAME_LEN } from './types'

/** The write path of a sysfs attribute, outermost frame first. */
export const SYSFS_WRITE_ROUTE = ['entry_SYSCALL_64_after_hwframe', 'do_syscall_64', '__x64_sys_write', 'ksys_write', 'vfs_write', 'kernfs_fop_write_iter', 'sysfs_kf_write', 'kobj_attr_store']

export interface CoreFaults {
  /** kallsyms_lookup_size_offset fails for this function name. */
  sizeLookupFails?: (name: string) => boolean
  /** kzalloc fails when a nop func or dynamic object is allocated. */
  nopAllocFails?: () => boolean
  /** Milliseconds by which the module reference drop after a free is delayed. */
  refcountDropDelayMs?: () => number
}

export class Core {
  /** klp_patches: patches that are enabled or in transition, in enable order. */
  readonly patches: KlpPatch[] = []
  /** /sys/kernel/livepatch */
  readonly root: KDir
  faults: CoreFaults = {}
  /** The task running the current critical section (for callbacks). */
  private ctx: Ctx
  private readonly byModule = new WeakMap<ModuleInstance, KlpPatch>()

  constructor (private readonly lp: Livepatch) {
    const k = lp.kernel
    this.ctx = k.caller.ctx
    const root = k.sysKernel.mkdir('livepatch')
    if (typeof root === 'number') throw new Error('/sys/kernel/livepatch exists')
    this.root = root
    // without ftrace, klp_module_coming/going are no-ops
    if (lp.mode === 'ftrace') {
      k.modules.hooks.coming.push((mod) => this.withCtx(k.caller.ctx, () => this.moduleComing(mod)))
      k.modules.hooks.going.push((mod) => this.withCtx(k.caller.ctx, () => this.moduleGoing(mod)))
    }
    if (lp.abi.registerModel) k.modules.hooks.exited.push((mod, ctx) => this.withCtx(ctx, () => this.unregisterAtExit(mod)))
    const workFn = k.kallsyms.lookupName('klp_transition_work_fn')
    if (workFn) workFn.impl = (ctx: Ctx) => this.withCtx(ctx, () => lp.transition.workFn())
    const freeFn = k.kallsyms.lookupName('klp_free_patch_work_fn')
    if (freeFn) freeFn.impl = (ctx: Ctx, work: { data: KlpPatch }) => this.freePatchFinish(work.data)
  }

  /** Runs a klp_mutex critical section on behalf of a task. */
  withCtx<T> (ctx: Ctx, fn: () => T): T {
    const saved = this.ctx
    this.ctx = ctx
    try { return fn() } finally { this.ctx = saved }
  }

  /** The patch a module registered, if any. */
  patchOf (mod: ModuleInstance): KlpPatch | undefined { return this.byModule.get(mod) }

  get transitionPatch (): KlpPatch | null { return this.lp.transition.patch }

  // --- callbacks ------------------------------------------------------------------

  private runCallback (obj: KlpObject, kind: string, fn: ((ctx: Ctx, obj: KlpObject) => unknown) | undefined): number {
    if (!fn) return 0
    const ctx = this.ctx
    const saved = ctx.module
    ctx.module = obj.patch.mod
    try {
      const r = fn(ctx, obj)
      if (r instanceof Promise) {
        r.catch(() => {})
        this.lp.kernel.reportOops(ctx, `${obj.patch.name}:${kind}`, new Error('livepatch callbacks run under klp_mutex and must not sleep (returned a Promise)'))
        return -EINVAL
      }
      return typeof r === 'number' ? r : 0
    } catch (e) {
      if (!(e instanceof KernelOops)) this.lp.kernel.reportOops(ctx, `${obj.patch.name}:${kind}`, e)
      return -EFAULT
    } finally {
      ctx.module = saved
    }
  }

  /** klp_pre_patch_callback: its result gates post_unpatch. */
  prePatchCallback (obj: KlpObject): number {
    const ret = this.runCallback(obj, 'pre_patch', obj.callbacks.prePatch)
    obj.postUnpatchEnabled = !ret
    return ret
  }

  postPatchCallback (obj: KlpObject): void { this.runCallback(obj, 'post_patch', obj.callbacks.postPatch) }
  preUnpatchCallback (obj: KlpObject): void { this.runCallback(obj, 'pre_unpatch', obj.callbacks.preUnpatch) }

  postUnpatchCallback (obj: KlpObject): void {
    if (obj.postUnpatchEnabled) this.runCallback(obj, 'post_unpatch', obj.callbacks.postUnpatch)
    obj.postUnpatchEnabled = false
  }

  // --- symbols --------------------------------------------------------------------

  /** klp_find_object_symbol */
  findObjectSymbol (objname: string | null, name: string, sympos: number): Ksym | number {
    const k = this.lp.kernel
    const table = k.kallsyms.table(objname)
    let addr: Ksym | undefined
    let count = 0
    if (table) {
      for (const s of table.matches(name)) {
        count++
        addr = s
        if ((sympos && count === sympos) || (!sympos && count > 1)) break
      }
    }
    if (!addr) this.lp.pr_err("symbol '%s' not found in symbol table", name)
    else if (count > 1 && sympos === 0) this.lp.pr_err("unresolvable ambiguity for symbol '%s' in object '%s'", name, objname)
    else if (sympos !== count && sympos > 0) this.lp.pr_err("symbol position %lu for symbol '%s' in object '%s' not found", sympos, name, objname ?? 'vmlinux')
    else return addr
    return -EINVAL
  }

  /** kallsyms_lookup_size_offset */
  private sizeOf (sym: Ksym): number | undefined {
    if (this.faults.sizeLookupFails?.(sym.name)) return undefined
    const hit = this.lp.kernel.kallsyms.lookupAddress(sym.addr)
    if (!hit) return undefined
    return hit.sym.size
  }

  private resolveNewFunc (patch: KlpPatch, func: KlpFunc): Ksym | undefined {
    const d = func.newFuncDesc
    if (d === null || d === undefined) return undefined
    const mod = patch.mod
    if (typeof d === 'string') return mod.functions.get(d) ?? this.lp.kernel.kallsyms.lookupName(d)
    if (typeof d === 'function') {
      for (const s of mod.functions.values()) if (s.impl === d) return s
      const name = d.name && /^[A-Za-z_][\w.]*$/.test(d.name) ? d.name : `klp_new_func_${mod.functions.size}`
      return this.lp.kernel.modules.addFunction(mod, name, d)
    }
    return d
  }

  /** klp_init_object_loaded (also used by the module-coming hook). */
  initObjectLoaded (patch: KlpPatch, obj: KlpObject, checkOldSize?: (func: KlpFunc) => number): number {
    if (obj.isModule) {
      const ret = this.lp.relocations?.applyObject(patch, obj) ?? 0
      if (ret) return ret
    }
    for (const func of obj.funcs) {
      const found = this.findObjectSymbol(obj.name, func.oldName, func.oldSympos)
      if (typeof found === 'number') return found
      func.oldFunc = found
      const oldSize = this.sizeOf(found)
      if (oldSize === undefined) {
        this.lp.pr_err("kallsyms size lookup failed for '%s'", func.oldName)
        return -ENOENT
      }
      func.oldSize = oldSize
      // stop_machine mode: the old function must hold the jump
      const sizeRet = checkOldSize?.(func)
      if (sizeRet) return sizeRet
      if (func.nop) func.newFunc = func.oldFunc
      else if (!func.newFunc) func.newFunc = this.resolveNewFunc(patch, func)
      const newSize = func.newFunc ? this.sizeOf(func.newFunc) : undefined
      if (newSize === undefined) {
        this.lp.pr_err("kallsyms size lookup failed for '%s' replacement", func.oldName)
        return -ENOENT
      }
      func.newSize = newSize
    }
    return 0
  }

  /** klp_free_object_loaded: forget a module that went away. */
  private freeObjectLoaded (obj: KlpObject): void {
    obj.mod = null
    for (const func of obj.funcs) {
      func.oldFunc = undefined
      if (func.nop) func.newFunc = undefined
    }
  }

  // --- kobjects -------------------------------------------------------------------

  private createPatchKobj (patch: KlpPatch): number {
    const dir = this.root.mkdir(patch.name)
    if (typeof dir === 'number') return dir
    patch.kobj = dir
    const abi = this.lp.abi
    const k = this.lp.kernel
    const store = (fn: (s: string) => number) => (s: string) => k.callerSyscall(SYSFS_WRITE_ROUTE, (ctx) => this.withCtx(ctx, () => fn(s))) as number
    dir.addAttr('enabled', 0o644, { show: () => `${patch.enabled ? 1 : 0}\n`, store: store((s) => this.enabledStore(patch, s)) })
    dir.addAttr('transition', 0o444, { show: () => `${this.transitionPatch === patch ? 1 : 0}\n` })
    if (abi.signalAttr) dir.addAttr('signal', 0o200, { store: store((s) => this.signalStore(patch, s)) })
    dir.addAttr('force', 0o200, { store: store((s) => this.forceStore(patch, s)) })
    if (abi.replaceAttr) dir.addAttr('replace', 0o444, { show: () => `${patch.replace ? 1 : 0}\n` })
    if (abi.stackOrderAttr) dir.addAttr('stack_order', 0o444, { show: () => `${this.stackOrder(patch)}\n` })
    return 0
  }

  private addObjectKobj (patch: KlpPatch, obj: KlpObject): number {
    const dir = patch.kobj!.mkdir(obj.displayName)
    if (typeof dir === 'number') return dir
    obj.kobj = dir
    if (this.lp.abi.patchedAttr) dir.addAttr('patched', 0o444, { show: () => `${obj.patched ? 1 : 0}\n` })
    return 0
  }

  // --- enable ---------------------------------------------------------------------

  /** klp_init_func */
  private initFunc (obj: KlpObject, func: KlpFunc): number {
    if (!func.oldName) return -EINVAL
    // NOPs get the address later; the patch module must set new_func for real ones
    if (!func.newFuncDesc && !func.nop) return -EINVAL
    if (func.oldName.length >= KSYM_NAME_LEN) return -EINVAL
    func.patched = false
    func.transition = false
    const dir = obj.kobj!.mkdir(func.dirName)
    if (typeof dir === 'number') return dir
    func.kobj = dir
    return 0
  }

  /** klp_find_object_module: no reference is taken; a module not there yet is patched when it comes. */
  private findObjectModule (obj: KlpObject): void {
    if (!obj.isModule) return
    const mod = this.lp.kernel.modules.find(obj.name!)
    if (mod && mod.klpAlive) obj.mod = mod
  }

  /** klp_init_object */
  private initObject (patch: KlpPatch, obj: KlpObject): number {
    if (obj.isModule && obj.name!.length >= MODULE_NAME_LEN) return -EINVAL
    obj.patched = false
    obj.mod = null
    this.findObjectModule(obj)
    let ret = this.addObjectKobj(patch, obj)
    if (ret) return ret
    for (const func of obj.funcs) {
      ret = this.initFunc(obj, func)
      if (ret) return ret
    }
    if (obj.loaded) ret = this.initObjectLoaded(patch, obj)
    return ret
  }

  /** klp_add_nops: every function the installed patches patch gets a nop in a replace patch. */
  private addNops (patch: KlpPatch): number {
    for (const old of this.patches) {
      for (const oldObj of old.objs) {
        let obj = patch.objs.find(o => o.name === oldObj.name)
        if (!obj) {
          if (this.faults.nopAllocFails?.()) return -ENOMEM
          obj = new KlpObject(patch, oldObj.name, {}, true)
          patch.objs.push(obj)
        }
        for (const oldFunc of oldObj.funcs) {
          const same = obj.funcs.find(f => f.oldName === oldFunc.oldName && (f.oldSympos || 1) === (oldFunc.oldSympos || 1))
          if (same) continue
          if (this.faults.nopAllocFails?.()) return -ENOMEM
          obj.funcs.push(new KlpFunc(obj, oldFunc.oldName, null, oldFunc.oldSympos, true, 0))
        }
      }
    }
    return 0
  }

  /** klp_init_patch_early */
  private initPatchEarly (mod: ModuleInstance, desc: KlpPatchDesc): KlpPatch {
    return KlpPatch.fromDescription(mod, desc, !!desc.replace && this.lp.abi.atomicReplace)
  }

  /** klp_init_patch */
  private initPatch (patch: KlpPatch): number {
    let ret = this.createPatchKobj(patch)
    if (ret) return ret
    if (patch.replace) {
      ret = this.addNops(patch)
      if (ret) return ret
    }
    for (const obj of patch.objs) {
      ret = this.initObject(patch, obj)
      if (ret) return ret
    }
    this.patches.push(patch)
    patch.listed = true
    return 0
  }

  /** Structural checks of klp_enable_patch before taking klp_mutex. */
  static validateDesc (desc: KlpPatchDesc | null | undefined): number {
    if (!desc || typeof desc !== 'object' || !desc.objs) return -EINVAL
    // what C's types guarantee has to be checked here: arrays, strings, functions
    if (!Array.isArray(desc.objs)) return -EINVAL
    if (desc.states !== undefined && !Array.isArray(desc.states)) return -EINVAL
    for (const st of desc.states ?? []) {
      if (!st || typeof st !== 'object' || !Number.isInteger(st.id) || !Number.isInteger(st.version) || st.version < 0) return -EINVAL
    }
    for (const od of desc.objs) {
      if (!od || typeof od !== 'object') return -EINVAL
      if ((od.name === null || od.name === undefined) && !od.funcs) break
      if (!od.funcs) return -EINVAL
      if (!Array.isArray(od.funcs)) return -EINVAL
      if (od.name !== null && od.name !== undefined && typeof od.name !== 'string') return -EINVAL
      for (const fd of od.funcs) {
        if (!fd || typeof fd !== 'object') return -EINVAL
        if (!fd.oldName && !fd.newFunc && !fd.oldSympos) break
        if (fd.oldName !== undefined && fd.oldName !== null && typeof fd.oldName !== 'string') return -EINVAL
        if (fd.newFunc !== undefined && fd.newFunc !== null && !['function', 'string', 'object'].includes(typeof fd.newFunc)) return -EINVAL
        if (fd.oldSympos !== undefined && (!Number.isSafeInteger(fd.oldSympos) || fd.oldSympos < 0)) return -EINVAL
      }
    }
    return 0
  }

  /** klp_enable_patch, called from the patch module's init. */
  enablePatch (ctx: Ctx, mod: ModuleInstance, desc: KlpPatchDesc): number {
    // a kernel without ftrace livepatch does not export klp_enable_patch
    if (this.lp.mode !== 'ftrace') {
      mod.pr_warn('Unknown symbol klp_enable_patch (err %d)', -ENOENT)
      return -ENOENT
    }
    if (this.lp.abi.registerModel) return this.registerAndEnable(ctx, mod, desc)
    let ret = Core.validateDesc(desc)
    if (ret) return ret
    if (!mod.livepatch) {
      this.lp.pr_err('module %s is not marked as a livepatch module', mod.name)
      return -EINVAL
    }
    if (this.root.removed) return -ENODEV
    return this.withCtx(ctx, () => {
      if (!isPatchCompatible(this, desc)) {
        this.lp.pr_err('Livepatch patch (%s) is not compatible with the already installed livepatches.', mod.name)
        return -EINVAL
      }
      if (!this.lp.kernel.modules.get(mod)) return -ENODEV
      const patch = this.initPatchEarly(mod, desc)
      this.byModule.set(mod, patch)
      ret = this.initPatch(patch)
      if (!ret) ret = this.enablePatchLocked(patch)
      if (ret) {
        this.freePatchStart(patch)
        this.freePatchFinish(patch)
        this.byModule.delete(mod)
        return ret
      }
      return 0
    })
  }

  // --- the pre-5.1 model (4.19 profile): register, then enable --------------------

  /**
   * What a 4.x patch module's init did: klp_register_patch() then klp_enable_patch(),
   * unregistering again if enabling fails.
   */
  private registerAndEnable (ctx: Ctx, mod: ModuleInstance, desc: KlpPatchDesc): number {
    const registered = this.registerPatch(ctx, mod, desc)
    if (typeof registered === 'number') return registered
    const ret = this.withCtx(ctx, () => this.enableRegistered(registered))
    if (ret) this.unregisterPatch(registered)
    return ret
  }

  /** klp_register_patch (≤5.0): the patch and its sysfs tree, disabled, on klp_patches; no module reference. */
  registerPatch (ctx: Ctx, mod: ModuleInstance, desc: KlpPatchDesc): KlpPatch | number {
    const ret = Core.validateDesc(desc)
    if (ret) return ret
    if (!mod.livepatch) {
      this.lp.pr_err('module %s is not marked as a livepatch module', mod.name)
      return -EINVAL
    }
    if (this.root.removed) return -ENODEV
    if (this.byModule.has(mod)) return -EINVAL
    return this.withCtx(ctx, () => {
      const patch = this.initPatchEarly(mod, desc)
      this.byModule.set(mod, patch)
      const r = this.initPatch(patch)
      if (r) {
        this.freePatchStart(patch)
        patch.kobj?.detach()
        patch.kobj = null
        this.byModule.delete(mod)
        return r
      }
      return patch
    })
  }

  /** klp_unregister_patch (≤5.0): -EBUSY while enabled, else the sysfs tree goes. */
  unregisterPatch (patch: KlpPatch): number {
    if (!patch.listed) return -EINVAL
    if (patch.enabled) return -EBUSY
    this.freePatchStart(patch)
    patch.kobj?.detach()
    patch.kobj = null
    if (this.byModule.get(patch.mod) === patch) this.byModule.delete(patch.mod)
    return 0
  }

  /** Module exit of a ≤5.0 patch module: WARN_ON(klp_unregister_patch(&patch)). */
  private unregisterAtExit (mod: ModuleInstance): void {
    const patch = this.byModule.get(mod)
    if (!patch) return
    if (this.unregisterPatch(patch)) this.lp.kernel.warn(this.ctx.task, `${mod.name}.c`, 0, `${mod.name}_exit`)
  }

  /** __klp_enable_patch (≤5.0): stacking order, a module reference per enable. */
  private enableRegistered (patch: KlpPatch): number {
    const lp = this.lp
    const tr = lp.transition
    if (tr.patch) return -EBUSY
    if (patch.enabled) { lp.warnOnce('__klp_enable_patch: already enabled'); return -EINVAL }
    const i = this.patches.indexOf(patch)
    // only the first disabled patch can be enabled
    if (i > 0 && !this.patches[i - 1].enabled) return -EBUSY
    if (!lp.kernel.modules.get(patch.mod)) return -ENODEV
    return this.enablePatchLocked(patch)
  }

  /** The end of an unpatching transition (≤5.0): the module reference goes, unless any patch was ever forced. */
  transitionUnpatched (patch: KlpPatch): void {
    if (!this.everForced) this.lp.kernel.modules.put(patch.mod)
  }

  /** 4.15–5.0: one global flag; after any force no patch module is ever released. */
  everForced = false

  /** __klp_enable_patch */
  private enablePatchLocked (patch: KlpPatch): number {
    const lp = this.lp
    const tr = lp.transition
    if (tr.patch) return -EBUSY
    if (patch.enabled) { lp.warnOnce('__klp_enable_patch: already enabled'); return -EINVAL }
    lp.pr_notice("enabling patch '%s'", patch.name)
    tr.init(patch, 1)
    for (const obj of patch.objs) {
      if (!obj.loaded) continue
      let ret = this.prePatchCallback(obj)
      if (ret) {
        lp.pr_warn("pre-patch callback failed for object '%s'", obj.displayName)
        return this.enableFailed(patch, ret)
      }
      ret = lp.patchOps.patchObject(obj)
      if (ret) {
        lp.pr_warn("failed to patch object '%s'", obj.displayName)
        return this.enableFailed(patch, ret)
      }
    }
    tr.start()
    patch.enabled = true
    tr.tryComplete()
    return 0
  }

  private enableFailed (patch: KlpPatch, ret: number): number {
    this.lp.pr_warn("failed to enable patch '%s'", patch.name)
    this.lp.transition.cancel()
    return ret
  }

  // --- disable and sysfs stores ---------------------------------------------------

  /** __klp_disable_patch */
  private disablePatch (patch: KlpPatch): number {
    const lp = this.lp
    const tr = lp.transition
    if (!patch.enabled) { lp.warnOnce('__klp_disable_patch: not enabled'); return -EINVAL }
    if (tr.patch) return -EBUSY
    if (lp.abi.registerModel) {
      // only the last enabled patch can be disabled
      const i = this.patches.indexOf(patch)
      if (i < this.patches.length - 1 && this.patches[i + 1].enabled) return -EBUSY
    }
    tr.init(patch, 0)
    for (const obj of patch.objs) if (obj.patched) this.preUnpatchCallback(obj)
    tr.start()
    patch.enabled = false
    tr.tryComplete()
    return 0
  }

  /** enabled_store */
  enabledStore (patch: KlpPatch, buf: string): number {
    const enabled = this.lp.kernel.kstrtobool(buf)
    if (typeof enabled === 'number') return enabled
    if (patch.enabled === enabled) return -EINVAL
    if (patch === this.transitionPatch) {
      this.lp.transition.reverse()
      return 0
    }
    if (!enabled) return this.disablePatch(patch)
    // re-enabling a registered patch was possible until 5.1
    if (this.lp.abi.registerModel) return this.enableRegistered(patch)
    return -EINVAL
  }

  /** force_store */
  forceStore (patch: KlpPatch, buf: string): number {
    const val = this.lp.kernel.kstrtobool(buf)
    if (typeof val === 'number') return val
    if (!val) return 0
    if (patch !== this.transitionPatch) return -EINVAL
    this.lp.transition.force()
    return 0
  }

  /** signal_store (4.15–5.0): send fake signals to the tasks still pending. */
  private signalStore (patch: KlpPatch, buf: string): number {
    const val = this.lp.kernel.kstrtobool(buf)
    if (typeof val === 'number') return val
    if (!val) return 0
    if (patch !== this.transitionPatch) return -EINVAL
    this.lp.transition.signalNow()
    return 0
  }

  /** stack_order_show: 1-based position in klp_patches (or their count if not listed). */
  stackOrder (patch: KlpPatch): number {
    let order = 0
    for (const p of this.patches) {
      order++
      if (p === patch) break
    }
    return order
  }

  // --- atomic replace and freeing -------------------------------------------------

  /** klp_unpatch_replaced_patches */
  unpatchReplacedPatches (newPatch: KlpPatch): void {
    for (const old of this.patches) {
      if (old === newPatch) return
      old.enabled = false
      this.lp.patchOps.unpatchObjects(old)
    }
  }

  /** klp_discard_nops */
  discardNops (patch: KlpPatch): void {
    this.lp.patchOps.unpatchObjectsDynamic(patch)
    this.freeObjects(patch, true)
  }

  /** __klp_free_objects / __klp_free_funcs */
  private freeObjects (patch: KlpPatch, nopsOnly: boolean): void {
    for (const obj of [...patch.objs]) {
      for (const func of [...obj.funcs]) {
        if (nopsOnly && !func.nop) continue
        func.kobj?.detach()
        func.kobj = null
        if (nopsOnly) obj.funcs.splice(obj.funcs.indexOf(func), 1)
      }
      if (nopsOnly && !obj.dynamic) continue
      if (nopsOnly) patch.objs.splice(patch.objs.indexOf(obj), 1)
      obj.kobj?.detach()
      obj.kobj = null
    }
  }

  /** klp_free_patch_start: off klp_patches, object and func directories gone. */
  private freePatchStart (patch: KlpPatch): void {
    const i = this.patches.indexOf(patch)
    if (i >= 0) this.patches.splice(i, 1)
    patch.listed = false
    this.freeObjects(patch, false)
  }

  /** klp_free_patch_finish: the patch directory goes, then the module reference (unless forced). */
  freePatchFinish (patch: KlpPatch): void | Promise<void> {
    patch.kobj?.detach()
    patch.kobj = null
    if (this.byModule.get(patch.mod) === patch) this.byModule.delete(patch.mod)
    if (patch.forced) return
    const delay = this.faults.refcountDropDelayMs?.() ?? 0
    if (delay > 0) return this.lp.kernel.clock.sleep(delay).then(() => this.lp.kernel.modules.put(patch.mod))
    this.lp.kernel.modules.put(patch.mod)
  }

  /** klp_free_patch_async: the finish runs from a workqueue, outside klp_mutex. */
  freePatchAsync (patch: KlpPatch): void {
    this.freePatchStart(patch)
    const fn = this.lp.kernel.kallsyms.lookupName('klp_free_patch_work_fn')
    this.lp.kernel.workqueues.queueWork(createWork(fn ?? ((_ctx: Ctx, w: { data: KlpPatch }) => this.freePatchFinish(w.data)), patch))
  }

  /** klp_free_replaced_patches_async */
  freeReplacedPatchesAsync (newPatch: KlpPatch): void {
    for (const old of [...this.patches]) {
      if (old === newPatch) return
      this.freePatchAsync(old)
    }
  }

  // --- module coming / going ------------------------------------------------------

  /** klp_cleanup_module_patches_limited */
  private cleanupModulePatchesLimited (mod: ModuleInstance, limit: KlpPatch | null): void {
    const lp = this.lp
    for (const patch of this.patches) {
      if (patch === limit) break
      for (const obj of patch.objs) {
        if (!obj.isModule || obj.name !== mod.name) continue
        if (!lp.abi.registerModel || patch.enabled || patch === this.transitionPatch) {
          if (patch !== this.transitionPatch) this.preUnpatchCallback(obj)
          lp.pr_notice("reverting patch '%s' on unloading module '%s'", patch.name, obj.name)
          lp.patchOps.unpatchObject(obj)
          this.postUnpatchCallback(obj)
        }
        lp.relocations?.clearObject(patch, obj)
        this.freeObjectLoaded(obj)
        break
      }
    }
  }

  /** klp_module_coming: patch a module before its init runs. */
  moduleComing (mod: ModuleInstance): number {
    const lp = this.lp
    if (mod.state !== 'COMING') { lp.warnOnce('klp_module_coming: module not coming'); return -EINVAL }
    if (mod.name === 'vmlinux') {
      lp.pr_err('vmlinux.ko: invalid module name')
      return -EINVAL
    }
    mod.klpAlive = true
    for (const patch of this.patches) {
      for (const obj of patch.objs) {
        if (!obj.isModule || obj.name !== mod.name) continue
        obj.mod = mod
        let ret = this.initObjectLoaded(patch, obj)
        if (ret) {
          lp.pr_warn("failed to initialize patch '%s' for module '%s' (%d)", patch.name, mod.name, ret)
          return this.comingFailed(mod, patch, obj, ret)
        }
        // ≤5.0: registered but disabled patches are not applied
        if (lp.abi.registerModel && !patch.enabled && patch !== this.transitionPatch) break
        lp.pr_notice("applying patch '%s' to loading module '%s'", patch.name, mod.name)
        ret = this.prePatchCallback(obj)
        if (ret) {
          lp.pr_warn("pre-patch callback failed for object '%s'", obj.name)
          return this.comingFailed(mod, patch, obj, ret)
        }
        ret = lp.patchOps.patchObject(obj)
        if (ret) {
          lp.pr_warn("failed to apply patch '%s' to module '%s' (%d)", patch.name, mod.name, ret)
          this.postUnpatchCallback(obj)
          return this.comingFailed(mod, patch, obj, ret)
        }
        if (patch !== this.transitionPatch) this.postPatchCallback(obj)
        break
      }
    }
    return 0
  }

  private comingFailed (mod: ModuleInstance, patch: KlpPatch, obj: KlpObject, ret: number): number {
    this.lp.pr_warn("patch '%s' failed for module '%s', refusing to load module '%s'", patch.name, mod.name, mod.name)
    mod.klpAlive = false
    obj.mod = null
    this.cleanupModulePatchesLimited(mod, patch)
    return ret
  }

  /** klp_module_going: revert every patch's object for a module that goes away. */
  moduleGoing (mod: ModuleInstance): void {
    if (mod.state !== 'GOING' && mod.state !== 'COMING') { this.lp.warnOnce('klp_module_going: module not going'); return }
    mod.klpAlive = false
    this.cleanupModulePatchesLimited(mod, null)
  }

  /** All patches with a sysfs directory (listed or being freed), for status views. */
  registered (): KlpPatch[] { return [...this.patches] }

  /** A patch by its module name. */
  find (name: string): KlpPatch | undefined { return this.patches.find(p => p.name === name) }
}
