// The livepatch API module code calls as ctx.klp (klp_enable_patch, states,
// shadow variables), bound to the calling task and to the module running.
import { Ctx } from '../kernel/context'
import type { Kernel } from '../kernel/kernel'
import { EINVAL } from '../kobject/errno'
import type { Livepatch } from './livepatch'
import { ShadowCtor, ShadowData, ShadowDtor } from './shadow'
import { getPrevState, getState } from './state'
import type { KlpPatchDesc, KlpStateDesc } from './types'

declare module '../kernel/context' {
  interface Ctx {
    /** The livepatch API, as the running module sees it. */
    readonly klp: KlpApi
  }
}

const registry = new WeakMap<Kernel, Livepatch>()

/** What a patch module's init returns the result of, in whichever mode the kernel runs. */
export type PatchEntry = (ctx: Ctx, desc: KlpPatchDesc) => number | Promise<number>

export class KlpApi {
  constructor (private readonly ctx: Ctx, private readonly lp: Livepatch) {}

  private get mod () {
    const m = this.ctx.module
    if (!m) throw Object.assign(new Error('ctx.klp used outside module code'), { klpsimPassThrough: true })
    return m
  }

  /** klp_enable_patch (ftrace mode; in stop_machine mode the patch is registered, as openEuler modules do). */
  patch (desc: KlpPatchDesc): number | Promise<number> {
    return this.lp.entry(this.ctx, this.mod, desc)
  }

  /** klp_enable_patch */
  enablePatch (desc: KlpPatchDesc): number {
    return this.lp.core.enablePatch(this.ctx, this.mod, desc)
  }

  /**
   * A call the module's .ko would not have linked: its code reached the API in
   * a way the build did not see (e.g. through an alias). Treated as a bug in
   * the module: the oops is contained by whoever ran the module code.
   */
  private linked (method: string): void {
    const sym = KLP_API_SYMBOLS[method]
    if (!this.lp.kernel.exports.has(sym)) throw new Error(`${this.ctx.module?.name ?? 'module code'} called ${sym}, which this kernel does not export (the module could not have loaded: Unknown symbol ${sym})`)
  }

  /** klp_get_state on this module's patch (during init: the description being enabled). */
  getState (id: number): KlpStateDesc | undefined {
    this.linked('getState')
    const patch = this.lp.core.patchOf(this.mod)
    return patch ? getState(patch, id) : undefined
  }

  /** klp_get_prev_state: valid during a transition only. */
  getPrevState (id: number): KlpStateDesc | undefined {
    this.linked('getPrevState')
    return getPrevState(this.lp.core, id, () => this.lp.warnOnce('klp_get_prev_state: no transition'))
  }

  shadowGet (obj: unknown, id: number): ShadowData | null {
    this.linked('shadowGet')
    return this.lp.shadow.get(obj, id)
  }

  shadowAlloc (obj: unknown, id: number, size: number, _gfp?: unknown, ctor?: ShadowCtor, ctorData?: unknown): ShadowData | null {
    this.linked('shadowAlloc')
    return this.lp.shadow.alloc(this.ctx, obj, id, size, ctor, ctorData)
  }

  shadowGetOrAlloc (obj: unknown, id: number, size: number, _gfp?: unknown, ctor?: ShadowCtor, ctorData?: unknown): ShadowData | null {
    this.linked('shadowGetOrAlloc')
    return this.lp.shadow.getOrAllocVar(this.ctx, obj, id, size, ctor, ctorData)
  }

  shadowFree (obj: unknown, id: number, dtor?: ShadowDtor): void {
    this.linked('shadowFree')
    this.lp.shadow.free(this.ctx, obj, id, dtor)
  }

  shadowFreeAll (id: number, dtor?: ShadowDtor): void {
    this.linked('shadowFreeAll')
    this.lp.shadow.freeAll(this.ctx, id, dtor)
  }
}

/**
 * The kernel symbols behind the ctx.klp methods: what a C module calling them
 * links against. (patch() is mode-neutral: klp_enable_patch or klp_register_patch.)
 */
export const KLP_API_SYMBOLS: Readonly<Record<string, string>> = {
  enablePatch: 'klp_enable_patch',
  getState: 'klp_get_state',
  getPrevState: 'klp_get_prev_state',
  shadowGet: 'klp_shadow_get',
  shadowAlloc: 'klp_shadow_alloc',
  shadowGetOrAlloc: 'klp_shadow_get_or_alloc',
  shadowFree: 'klp_shadow_free',
  shadowFreeAll: 'klp_shadow_free_all',
}

const SHADOW_SYMBOLS = ['klp_shadow_get', 'klp_shadow_alloc', 'klp_shadow_get_or_alloc', 'klp_shadow_free', 'klp_shadow_free_all']

/**
 * EXPORT_SYMBOL_GPL of the livepatch core. The openEuler kernel without ftrace
 * builds only core.o (no shadow.o, state.o, transition.o) and exports
 * klp_register_patch/klp_unregister_patch; pre-5.1 kernels had the
 * register-then-enable pair; system states came with 5.5.
 */
export function livepatchExports (lp: Livepatch): string[] {
  if (lp.mode === 'stop-machine') return ['klp_register_patch', 'klp_unregister_patch']
  const out = ['klp_enable_patch', ...SHADOW_SYMBOLS]
  if (lp.abi.registerModel) out.push('klp_register_patch', 'klp_unregister_patch')
  if (lp.abi.systemStates) out.push('klp_get_state', 'klp_get_prev_state')
  return out
}

/** Makes ctx.klp available for code running in this kernel. */
export function installKlpApi (lp: Livepatch): void {
  registry.set(lp.kernel, lp)
  for (const sym of livepatchExports(lp)) lp.kernel.exports.add(sym)
  if (!Object.getOwnPropertyDescriptor(Ctx.prototype, 'klp')) {
    Object.defineProperty(Ctx.prototype, 'klp', {
      configurable: true,
      get (this: Ctx) {
        const found = registry.get(this.kernel)
        if (!found) throw Object.assign(new Error('this kernel has no livepatch support'), { klpsimPassThrough: true, errno: EINVAL })
        return new KlpApi(this, found)
      },
    })
  }
}
