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

  /** klp_get_state on this module's patch (during init: the description being enabled). */
  getState (id: number): KlpStateDesc | undefined {
    const patch = this.lp.core.patchOf(this.mod)
    return patch ? getState(patch, id) : undefined
  }

  /** klp_get_prev_state: valid during a transition only. */
  getPrevState (id: number): KlpStateDesc | undefined {
    return getPrevState(this.lp.core, id, () => this.lp.warnOnce('klp_get_prev_state: no transition'))
  }

  shadowGet (obj: unknown, id: number): ShadowData | null { return this.lp.shadow.get(obj, id) }
  shadowAlloc (obj: unknown, id: number, size: number, _gfp?: unknown, ctor?: ShadowCtor, ctorData?: unknown): ShadowData | null {
    return this.lp.shadow.alloc(this.ctx, obj, id, size, ctor, ctorData)
  }

  shadowGetOrAlloc (obj: unknown, id: number, size: number, _gfp?: unknown, ctor?: ShadowCtor, ctorData?: unknown): ShadowData | null {
    return this.lp.shadow.getOrAllocVar(this.ctx, obj, id, size, ctor, ctorData)
  }

  shadowFree (obj: unknown, id: number, dtor?: ShadowDtor): void { this.lp.shadow.free(this.ctx, obj, id, dtor) }
  shadowFreeAll (id: number, dtor?: ShadowDtor): void { this.lp.shadow.freeAll(this.ctx, id, dtor) }
}

/** Makes ctx.klp available for code running in this kernel. */
export function installKlpApi (lp: Livepatch): void {
  registry.set(lp.kernel, lp)
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
