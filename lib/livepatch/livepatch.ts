// The livepatch subsystem of one simulated kernel: klp_patches, klp_mutex's
// critical sections, the transition, klp_ops and shadow variables, and the
// log output with pr_fmt "livepatch: ".
import type { Kernel } from '../kernel/kernel'
import { KERN_DEBUG, KERN_ERR, KERN_NOTICE, KERN_WARNING } from '../kernel/printk'
import type { DebugSite } from '../kernel/dyndbg'
import { PatchOps } from './patch'
import { Transition } from './transition'
import { Core } from './core'
import { ShadowStore } from './shadow'
import { KlpAbi, abiForProfile } from './abi'
import type { KlpObject, KlpPatch, KlpPatchDesc } from './types'
import type { Ctx } from '../kernel/context'
import type { ModuleInstance } from '../kernel/module'
import { installKlpApi } from './api'
import { ElfRelocations } from './elf-relocs'
import { StopMachineCore, StopMachineOptions } from './stopmachine/core'

/** The pr_debug call sites of kernel/livepatch, as dynamic debug lists them. */
class DebugSites {
  private readonly sites: Record<string, DebugSite>
  constructor (private readonly lp: Livepatch) {
    const d = lp.kernel.dyndbg
    const at = (file: string, func: string, line: number, fmt: string) => d.site('livepatch', `kernel/livepatch/${file}`, func, line, fmt)
    this.sites = {
      complete: at('transition.c', 'klp_complete_transition', 78, "'%s': completing %s transition\n"),
      cancel: at('transition.c', 'klp_cancel_transition', 140, "'%s': canceling patching transition, going to unpatch\n"),
      running: at('transition.c', 'klp_try_switch_task', 321, '%s: %s:%d is running\n'),
      unreliable: at('transition.c', 'klp_try_switch_task', 324, '%s: %s:%d has an unreliable stack\n'),
      sleeping: at('transition.c', 'klp_try_switch_task', 327, '%s: %s:%d is sleeping on function %s\n'),
      unknown: at('transition.c', 'klp_try_switch_task', 331, '%s: Unknown error code (%d) when trying to switch %s:%d\n'),
      init: at('transition.c', 'klp_init_transition', 530, "'%s': initializing %s transition\n"),
      reverse: at('transition.c', 'klp_reverse_transition', 639, "'%s': reversing transition from %s\n"),
    }
  }

  private emit (site: DebugSite, fmt: string, args: unknown[]): void {
    if (!site.flags.includes('p')) return
    const k = this.lp.kernel
    k.printk.log(KERN_DEBUG, k.dyndbg.prefix(site, 0) + 'livepatch: ' + k.format(fmt, args))
  }

  completeTransition (p: string, dir: string): void { this.emit(this.sites.complete, "'%s': completing %s transition", [p, dir]) }
  cancelTransition (p: string): void { this.emit(this.sites.cancel, "'%s': canceling patching transition, going to unpatch", [p]) }
  initTransition (p: string, dir: string): void { this.emit(this.sites.init, "'%s': initializing %s transition", [p, dir]) }
  reverseTransition (p: string, dir: string): void { this.emit(this.sites.reverse, "'%s': reversing transition from %s", [p, dir]) }
  switchRunning (comm: string, pid: number): void { this.emit(this.sites.running, '%s: %s:%d is running', ['klp_try_switch_task', comm, pid]) }
  switchUnreliable (comm: string, pid: number): void { this.emit(this.sites.unreliable, '%s: %s:%d has an unreliable stack', ['klp_try_switch_task', comm, pid]) }
  switchSleeping (comm: string, pid: number, fn: string): void { this.emit(this.sites.sleeping, '%s: %s:%d is sleeping on function %s', ['klp_try_switch_task', comm, pid, fn]) }
  switchUnknown (err: number, comm: string, pid: number): void { this.emit(this.sites.unknown, '%s: Unknown error code (%d) when trying to switch %s:%d', ['klp_try_switch_task', err, comm, pid]) }
}

export interface LivepatchOptions {
  /** Which kernel's sysfs ABI and lifecycle to present (default 7.1). */
  profile?: string
  /** ftrace (upstream, default) or stop-machine (openEuler CONFIG_LIVEPATCH_WO_FTRACE). */
  mode?: 'ftrace' | 'stop-machine'
  /** The stop_machine variant's configuration. */
  stopMachine?: StopMachineOptions
}

export class Livepatch {
  readonly patchOps: PatchOps
  readonly transition: Transition
  readonly core: Core
  readonly shadow: ShadowStore
  readonly debug: DebugSites
  readonly abi: KlpAbi
  /** Livepatch ELF relocations of module objects (.klp.rela.<module>.*), when the patch came from an ELF image. */
  relocations: { applyObject (patch: KlpPatch, obj: KlpObject): number, clearObject (patch: KlpPatch, obj: KlpObject): void } | undefined = undefined
  private readonly warned = new Set<string>()
  readonly mode: 'ftrace' | 'stop-machine'
  /** The stop_machine core, in stop-machine mode. */
  readonly stopMachine: StopMachineCore | undefined

  constructor (readonly kernel: Kernel, opts: LivepatchOptions = {}) {
    this.mode = opts.mode ?? 'ftrace'
    this.abi = abiForProfile(opts.profile ?? '7.1')
    this.debug = new DebugSites(this)
    this.patchOps = new PatchOps(this)
    this.transition = new Transition(this)
    this.shadow = new ShadowStore(this)
    this.core = new Core(this)
    new ElfRelocations(this)
    if (this.mode === 'stop-machine') this.stopMachine = new StopMachineCore(this, opts.stopMachine)
    installKlpApi(this)
  }

  /** The call a patch module's init makes: klp_enable_patch in ftrace mode, klp_register_patch in stop_machine mode. */
  entry (ctx: Ctx, mod: ModuleInstance, desc: KlpPatchDesc): number | Promise<number> {
    if (this.stopMachine) return this.stopMachine.registerPatch(ctx, mod, desc)
    return this.core.enablePatch(ctx, mod, desc)
  }

  private log (level: number, fmt: string, args: unknown[]): void {
    this.kernel.printk.log(level, 'livepatch: ' + this.kernel.format(fmt, args))
  }

  pr_err (fmt: string, ...args: unknown[]): void { this.log(KERN_ERR, fmt, args) }
  pr_warn (fmt: string, ...args: unknown[]): void { this.log(KERN_WARNING, fmt, args) }
  pr_notice (fmt: string, ...args: unknown[]): void { this.log(KERN_NOTICE, fmt, args) }

  /** WARN_ON_ONCE in the core: logged once, never fatal. */
  warnOnce (what: string): void {
    if (this.warned.has(what)) return
    this.warned.add(what)
    const k = this.kernel
    k.warn(k.caller, 'kernel/livepatch/core.c', 0, what.split(':')[0])
  }
}
