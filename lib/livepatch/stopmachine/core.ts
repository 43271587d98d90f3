// The openEuler livepatch core without ftrace (kernel/livepatch/core.c under
// CONFIG_LIVEPATCH_WO_FTRACE, OLK-6.6): klp_register_patch from the patch
// module's init, enable and disable through sysfs as one stop_machine step over
// every CPU (kprobe restriction, stack check, jump written at the old entry),
// the breakpoint retries, the stacking order, module references,
// klp_module_delete_safety_check, load/unload hooks and klp_unregister_patch at
// module exit. Symbol resolution, relocations and the function directories are
// the ftrace core's (klp_init_object_loaded, klp_find_object_symbol).
import type { Ctx } from '../../kernel/context'
import { KernelOops } from '../../kernel/dispatch'
import type { DebugSite } from '../../kernel/dyndbg'
import type { Kernel } from '../../kernel/kernel'
import type { ModuleInstance } from '../../kernel/module'
import { KERN_DEBUG, KERN_ERR, KERN_NOTICE } from '../../kernel/printk'
import { EAGAIN, EBUSY, EINVAL, ENODEV, ENOPKG } from '../../kobject/errno'
import { SYSFS_WRITE_ROUTE } from '../core'
import type { Livepatch } from '../livepatch'
import { KLP_STACK_OPTIMIZE, KlpFunc, KlpObject, KlpPatch, KlpPatchDesc, KSYM_NAME_LEN, MODULE_NAME_LEN } from '../types'
import { KLP_RETRY_COUNT, KLP_RETRY_INTERVAL, klpMaxReplaceSize } from './arch'
import { CalltraceConfig, doCheckCalltrace, klpCheckCalltrace, klpLog, moduleCoreCheck } from './calltrace'
import { KlpFuncList } from './func-node'
import { PatchOperations, StopMachineFaults } from './patching'
import { KlpMutex } from './klp-mutex'
import { createProcState } from './proc-state'
import { checkAddressConflict, klpCheckPatchKprobed } from './restrictions'

/** Kernel configuration of the variant. */
export interface StopMachineOptions {
  /** CONFIG_LIVEPATCH_STACK: enable and disable follow registration order (default on). */
  stack?: boolean
  /** CONFIG_LIVEPATCH_RESTRICT_KPROBE: no (un)patching while the old function is kprobed (default on). */
  restrictKprobe?: boolean
  /** CONFIG_PREEMPTION: the simulated kernel is built preemptible (default on). */
  preemption?: boolean
}

/**
 * kstrtobool as OLK-6.6 has it: y/Y/t/T/1/on true, n/N/f/F/0/off false;
 * anything else (including the later e/d forms) is -EINVAL.
 */
export function kstrtoboolOlk (s: string): boolean | number {
  if (!s) return -EINVAL
  switch (s[0]) {
    case 'y': case 'Y': case 't': case 'T': case '1': return true
    case 'n': case 'N': case 'f': case 'F': case '0': return false
    case 'o': case 'O':
      if (s[1] === 'n' || s[1] === 'N') return true
      if (s[1] === 'f' || s[1] === 'F') return false
  }
  return -EINVAL
}

export class StopMachineCore {
  /** klp_patches: every registered patch, enabled or not, in registration order. */
  readonly patches: KlpPatch[] = []
  /** klp_func_list */
  readonly funcList = new KlpFuncList()
  private readonly ops: PatchOperations
  readonly mutex = new KlpMutex()
  /** KLP_MAX_REPLACE_SIZE of the simulated architecture. */
  readonly maxReplaceSize: number
  readonly stack: boolean
  readonly restrictKprobe: boolean
  readonly preemption: boolean
  faults: StopMachineFaults = {}
  private readonly byModule = new Map<ModuleInstance, KlpPatch>()
  private readonly debugSites: { noBreakpoint: DebugSite, safetyCheck: DebugSite }

  constructor (private readonly lp: Livepatch, opts: StopMachineOptions = {}) {
    const k = lp.kernel
    this.maxReplaceSize = klpMaxReplaceSize(k.arch)
    this.stack = opts.stack ?? true
    this.restrictKprobe = opts.restrictKprobe ?? true
    this.preemption = opts.preemption ?? true
    this.ops = new PatchOperations(k, this.funcList, () => this.faults)
    const site = (func: string, line: number, fmt: string) => k.dyndbg.site('livepatch', 'kernel/livepatch/core.c', func, line, fmt)
    this.debugSites = {
      noBreakpoint: site('__klp_enable_patch', 2213, 'breakpoint exception optimization is not used.\n'),
      safetyCheck: site('klp_module_delete_safety_check', 1655, 'failed to check klp module calltrace: %d\n'),
    }
    createProcState(k, this.mutex, () => this.patches)
    k.modules.hooks.deleteCheck.push((mod) => this.moduleDeleteSafetyCheck(mod))
    k.modules.hooks.exited.push((mod, ctx) => this.moduleExit(mod, ctx))
    k.modules.hooks.going.push((mod) => this.moduleGone(mod))
  }

  private get k (): Kernel { return this.lp.kernel }

  private get calltraceConfig (): CalltraceConfig {
    return { kernel: this.k, maxReplaceSize: this.maxReplaceSize, preemption: this.preemption }
  }

  private err (fmt: string, ...args: unknown[]): void { klpLog(this.k, KERN_ERR, fmt, ...args) }
  private notice (fmt: string, ...args: unknown[]): void { klpLog(this.k, KERN_NOTICE, fmt, ...args) }

  private debug (site: DebugSite, fmt: string, ...args: unknown[]): void {
    if (!site.flags.includes('p')) return
    this.k.printk.log(KERN_DEBUG, this.k.dyndbg.prefix(site, 0) + 'livepatch: ' + this.k.format(fmt, args))
  }

  /** WARN_ON in the core: logged with the task's stack, never fatal. */
  private warnOn (ctx: Ctx, where: string): void {
    this.k.warn(ctx.task, 'kernel/livepatch/core.c', 0, where)
  }

  /** The patch a module registered, if it is still registered. */
  patchOf (mod: ModuleInstance): KlpPatch | undefined { return this.byModule.get(mod) }

  /** klp_is_patch_registered */
  isRegistered (patch: KlpPatch): boolean { return this.patches.includes(patch) }

  /** All registered patches in klp_patches order. */
  registered (): KlpPatch[] { return [...this.patches] }

  /** A registered patch by its module name. */
  find (name: string): KlpPatch | undefined { return this.patches.find(p => p.name === name) }

  /**
   * klp_stop_machine: every CPU is parked in its stopper and the first to
   * arrive runs fn. The simulated kernel runs one event loop, so nothing else
   * executes while fn does.
   */
  private stopMachine (fn: () => number): number {
    return fn()
  }

  // --- registration -------------------------------------------------------------

  /** klp_register_patch, called from the patch module's init. */
  registerPatch (ctx: Ctx, mod: ModuleInstance, desc: KlpPatchDesc | null | undefined): number | Promise<number> {
    if (!desc) { this.err('patch invalid'); return -EINVAL }
    if (!desc.objs) { this.err('patch->objs invalid'); return -EINVAL }
    for (const od of desc.objs) {
      if (od && (od.name === null || od.name === undefined) && !od.funcs) break
      if (!od || !od.funcs) { this.err('obj->funcs invalid'); return -EINVAL }
    }
    if (!mod.livepatch) {
      this.err('module %s is not marked as a livepatch module', mod.name)
      return -EINVAL
    }
    if (this.lp.core.root.removed) {
      this.err('kernel live patch not available')
      return -ENODEV
    }
    return this.mutex.run(() => {
      const existing = this.byModule.get(mod)
      if (existing && this.isRegistered(existing)) return -EINVAL
      const patch = this.initPatchEarly(mod, desc)
      const ret = this.initPatch(ctx, patch)
      if (ret) {
        this.freePatchStart(patch)
        this.freePatchFinish(patch)
        return ret
      }
      this.byModule.set(mod, patch)
      return 0
    })
  }

  /** klp_init_patch_early: replace is kept to be refused with its message */
  private initPatchEarly (mod: ModuleInstance, desc: KlpPatchDesc): KlpPatch {
    return KlpPatch.fromDescription(mod, desc, !!desc.replace)
  }

  /** klp_init_patch */
  private initPatch (ctx: Ctx, patch: KlpPatch): number {
    const dir = this.lp.core.root.mkdir(patch.name)
    if (typeof dir === 'number') return dir
    patch.kobj = dir
    const k = this.k
    dir.addAttr('enabled', 0o644, {
      show: () => `${patch.enabled ? 1 : 0}\n`,
      store: (s) => k.callerSyscall(SYSFS_WRITE_ROUTE, (c) => this.enabledStore(c, patch, s)) as number | Promise<number>,
    })
    if (patch.replace) {
      this.err('Replacing is not supported')
      return -EINVAL
    }
    for (const obj of patch.objs) {
      const ret = this.initObject(patch, obj)
      if (ret) return ret
    }
    // the patch module's own jump labels and static calls are registered here
    // (MODULE_KLP_REL_DONE); module code has none in the simulation
    const ret = checkAddressConflict(k, patch, this.maxReplaceSize)
    if (ret) return ret
    for (const obj of patch.objs) this.runHooks(ctx, patch, obj.hooksLoad, 'hooks_load')
    this.patches.push(patch)
    patch.listed = true
    return 0
  }

  /** klp_find_object_module: the target must be loaded and live; its reference is held while registered. */
  private findObjectModule (obj: KlpObject): number {
    if (!obj.isModule) return 0
    const mods = this.k.modules
    const mod = mods.find(obj.name!)
    if (!mod || mod.state === 'UNFORMED') {
      this.err("module '%s' not loaded", obj.name)
      return -ENOPKG
    }
    if (mod.state === 'COMING' || !mods.get(mod)) return -EINVAL
    obj.mod = mod
    return 0
  }

  /** The WO size rule inside klp_init_object_loaded: the jump must fit in the old function. */
  private checkOldSize (func: KlpFunc): number {
    if (func.oldSize < this.maxReplaceSize) {
      this.err('%s size less than limit (%lu < %zu)', func.oldName, func.oldSize, this.maxReplaceSize)
      return -EINVAL
    }
    return 0
  }

  /** klp_init_object (WO): the object is loaded first, its funcs initialised after. */
  private initObject (patch: KlpPatch, obj: KlpObject): number {
    if (obj.isModule && obj.name!.length >= MODULE_NAME_LEN) {
      this.err('obj name is too long')
      return -EINVAL
    }
    for (const func of obj.funcs) {
      if (!func.oldName) { this.err('old name is invalid'); return -EINVAL }
      if (!func.newFuncDesc) { this.err('new_func is invalid'); return -EINVAL }
      if (func.oldName.length >= KSYM_NAME_LEN) { this.err('function old name is too long'); return -EINVAL }
    }
    obj.patched = false
    obj.mod = null
    let ret = this.findObjectModule(obj)
    if (ret) return ret
    const dir = patch.kobj!.mkdir(obj.displayName)
    if (typeof dir === 'number') {
      ret = dir
    } else {
      obj.kobj = dir
      ret = this.lp.core.initObjectLoaded(patch, obj, (func) => this.checkOldSize(func))
      for (const func of obj.funcs) {
        if (ret) break
        ret = this.initFunc(obj, func)
      }
    }
    if (ret && obj.mod) {
      this.k.modules.put(obj.mod)
      obj.mod = null
    }
    return ret
  }

  /** klp_init_func: the function directory `<old_name>,<sympos or 1>`. */
  private initFunc (obj: KlpObject, func: KlpFunc): number {
    if (!func.oldName || !func.newFuncDesc || func.oldName.length >= KSYM_NAME_LEN) return -EINVAL
    func.patched = false
    const dir = obj.kobj!.mkdir(func.dirName)
    if (typeof dir === 'number') return dir
    func.kobj = dir
    return 0
  }

  /** klp_load_hook / klp_unload_hook: plain void functions of the patch module. */
  private runHooks (ctx: Ctx, patch: KlpPatch, hooks: ReadonlyArray<(ctx: Ctx) => void>, kind: string): void {
    for (const hook of hooks) {
      if (typeof hook !== 'function') break
      const saved = ctx.module
      ctx.module = patch.mod
      try {
        const r: unknown = hook(ctx)
        if (r instanceof Promise) {
          r.catch(() => {})
          this.k.reportOops(ctx, `${patch.name}:${kind}`, new Error('livepatch hooks run under klp_mutex and must not sleep (returned a Promise)'))
        }
      } catch (e) {
        if (!(e instanceof KernelOops)) this.k.reportOops(ctx, `${patch.name}:${kind}`, e)
      } finally {
        ctx.module = saved
      }
    }
  }

  /** klp_free_patch_start: off klp_patches; target references put; object and func directories gone. */
  private freePatchStart (patch: KlpPatch): void {
    const i = this.patches.indexOf(patch)
    if (i >= 0) this.patches.splice(i, 1)
    patch.listed = false
    for (const obj of patch.objs) {
      if (obj.isModule && obj.mod) {
        this.k.modules.put(obj.mod)
        obj.mod = null
      }
      for (const func of obj.funcs) {
        func.kobj?.detach()
        func.kobj = null
      }
      obj.kobj?.detach()
      obj.kobj = null
    }
  }

  /** kobject_put of the patch: its directory goes. */
  private freePatchFinish (patch: KlpPatch): void {
    patch.kobj?.detach()
    patch.kobj = null
    if (this.byModule.get(patch.mod) === patch) this.byModule.delete(patch.mod)
  }

  /** klp_unregister_patch, run at the patch module's exit. */
  unregisterPatch (ctx: Ctx, patch: KlpPatch): number | Promise<number> {
    return this.mutex.run(() => {
      if (!this.isRegistered(patch)) return -EINVAL
      if (patch.enabled) return -EBUSY
      for (const obj of patch.objs) this.runHooks(ctx, patch, obj.hooksUnload, 'hooks_unload')
      this.freePatchStart(patch)
      this.freePatchFinish(patch)
      return 0
    })
  }

  // --- sysfs ----------------------------------------------------------------------

  /** enabled_store */
  enabledStore (ctx: Ctx, patch: KlpPatch, buf: string): number | Promise<number> {
    const enabled = kstrtoboolOlk(buf)
    if (typeof enabled === 'number') return enabled
    return this.mutex.run(() => {
      // the module went away meanwhile, or is not initialised yet
      if (!this.isRegistered(patch)) return -EINVAL
      if (patch.enabled === enabled) return -EINVAL
      return enabled ? this.enablePatch(ctx, patch) : this.disablePatch(ctx, patch)
    })
  }

  // --- enable ---------------------------------------------------------------------

  /** klp_try_enable_patch */
  private tryEnablePatch (patch: KlpPatch, rollback: boolean): number {
    if (this.restrictKprobe && klpCheckPatchKprobed(this.k, patch)) return -EINVAL
    const ret = klpCheckCalltrace(patch, true, this.calltraceConfig)
    if (ret) return ret
    return this.ops.enablePatch(patch, rollback)
  }

  /** klp_use_breakpoint: only when every func is KLP_STACK_OPTIMIZE. */
  private useBreakpoint (patch: KlpPatch): boolean {
    for (const func of patch.funcs()) if (func.force !== KLP_STACK_OPTIMIZE) return false
    return true
  }

  /** klp_breakpoint_optimize: up to KLP_RETRY_COUNT stop_machine attempts, KLP_RETRY_INTERVAL ms apart. */
  private async breakpointOptimize (ctx: Ctx, patch: KlpPatch): Promise<number> {
    let ret = this.ops.addBreakpoint(patch, () => this.warnOn(ctx, 'add_breakpoint'))
    if (ret) {
      this.err('failed to add breakpoints, ret=%d', ret)
      return ret
    }
    let tried = 0
    for (let i = 0; i < KLP_RETRY_COUNT; i++) {
      const rollback = i === KLP_RETRY_COUNT - 1
      tried++
      ret = this.stopMachine(() => this.tryEnablePatch(patch, rollback))
      if (ret !== -EAGAIN) break
      this.notice('try again in %d ms', KLP_RETRY_INTERVAL)
      await ctx.msleep(KLP_RETRY_INTERVAL)
    }
    this.notice('patching %s, tried %d times, ret=%d.', ret ? 'failed' : 'success', tried, ret)
    this.ops.breakpointPostProcess(patch, ret !== 0)
    return ret
  }

  /** Without LIVEPATCH_STACK an enabled patch moves to the tail of klp_patches. */
  private enableDone (patch: KlpPatch): number {
    if (!this.stack) {
      const i = this.patches.indexOf(patch)
      if (i >= 0) this.patches.splice(i, 1)
      this.patches.push(patch)
    }
    return 0
  }

  /** __klp_enable_patch */
  private enablePatch (ctx: Ctx, patch: KlpPatch): number | Promise<number> {
    if (patch.enabled) { this.warnOn(ctx, '__klp_enable_patch'); return -EINVAL }
    if (this.stack) {
      const i = this.patches.indexOf(patch)
      if (i > 0 && !this.patches[i - 1].enabled) {
        this.err('only the first disabled patch can be enabled')
        return -EBUSY
      }
    }
    let ret = this.ops.memPrepare(patch)
    if (ret) return ret
    ret = this.stopMachine(() => this.tryEnablePatch(patch, true))
    if (!ret) return this.enableDone(patch)
    if (ret !== -EAGAIN || !this.useBreakpoint(patch)) {
      if (ret === -EAGAIN) this.debug(this.debugSites.noBreakpoint, 'breakpoint exception optimization is not used.')
      this.ops.memRecycle(patch)
      return ret
    }
    return this.breakpointOptimize(ctx, patch).then((r) => {
      if (!r) return this.enableDone(patch)
      this.ops.memRecycle(patch)
      return r
    })
  }

  // --- disable --------------------------------------------------------------------

  /** klp_try_disable_patch */
  private tryDisablePatch (patch: KlpPatch): number {
    if (this.restrictKprobe && klpCheckPatchKprobed(this.k, patch)) return -EINVAL
    const ret = klpCheckCalltrace(patch, false, this.calltraceConfig)
    if (ret) return ret
    return this.ops.disablePatch(patch)
  }

  /** __klp_disable_patch: no retries; the patch stays registered. */
  private disablePatch (ctx: Ctx, patch: KlpPatch): number {
    if (!patch.enabled) { this.warnOn(ctx, '__klp_disable_patch'); return -EINVAL }
    if (this.stack) {
      const next = this.patches[this.patches.indexOf(patch) + 1]
      if (next && next.enabled) {
        this.err('only the last enabled patch can be disabled')
        return -EBUSY
      }
    }
    const ret = this.stopMachine(() => this.tryDisablePatch(patch))
    if (ret) return ret
    this.ops.memRecycle(patch)
    return 0
  }

  // --- the module loader's side -----------------------------------------------------

  /** klp_module_delete_safety_check: no task may be inside the patch module's code. */
  private moduleDeleteSafetyCheck (mod: ModuleInstance): number {
    if (!mod.livepatch) return 0
    const ret = this.stopMachine(() => doCheckCalltrace(this.k, moduleCoreCheck(this.k, mod)))
    if (ret) this.debug(this.debugSites.safetyCheck, 'failed to check klp module calltrace: %d', ret)
    return ret
  }

  /** The patch module's exit: klp_unregister_patch, wrapped in WARN_ON as openEuler patch modules do. */
  private async moduleExit (mod: ModuleInstance, ctx: Ctx): Promise<void> {
    const patch = this.byModule.get(mod)
    if (!patch) return
    const ret = await this.unregisterPatch(ctx, patch)
    if (ret) this.warnOn(ctx, 'klp_unregister_patch')
  }

  /**
   * A module that goes away with its patch still registered (its init failed
   * after klp_register_patch, or the unregistration failed): the patch is
   * taken down so nothing points into freed module code.
   */
  private moduleGone (mod: ModuleInstance): void {
    const patch = this.byModule.get(mod)
    if (!patch) return
    const drop = (): number => {
      if (patch.enabled) this.ops.disablePatch(patch)
      this.ops.memRecycle(patch)
      this.freePatchStart(patch)
      this.freePatchFinish(patch)
      return 0
    }
    const r = this.mutex.run(drop)
    if (r instanceof Promise) r.catch(e => this.k.reportInternalError('klp module going', e))
  }
}
