// The livepatch data model (struct klp_patch, klp_object, klp_func, klp_state)
// and the descriptions module authors write.
import type { Ctx } from '../kernel/context'
import type { KFunc, Ksym } from '../kernel/kallsyms'
import type { ModuleInstance } from '../kernel/module'
import type { KDir } from '../kobject/node'

export const KLP_TRANSITION_IDLE = -1
export const KLP_TRANSITION_UNPATCHED = 0
export const KLP_TRANSITION_PATCHED = 1

/** KSYM_NAME_LEN since 6.1 */
export const KSYM_NAME_LEN = 512
/** MODULE_NAME_LEN on 64-bit */
export const MODULE_NAME_LEN = 56

/** stop_machine mode: per-function stack-check policy (klp_func.force). */
export const KLP_NORMAL_FORCE = 0
export const KLP_ENFORCEMENT = 1
export const KLP_STACK_OPTIMIZE = 2

// ---------------------------------------------------------------------------------
// What a patch module writes (struct klp_patch as a module author fills it)

export interface KlpCallbacks {
  prePatch?: (ctx: Ctx, obj: KlpObject) => number | void
  postPatch?: (ctx: Ctx, obj: KlpObject) => void
  preUnpatch?: (ctx: Ctx, obj: KlpObject) => void
  postUnpatch?: (ctx: Ctx, obj: KlpObject) => void
}

export interface KlpFuncDesc {
  oldName: string
  /** The replacement: a function of the patch module, its name, or a kernel symbol. */
  newFunc: KFunc | string | Ksym | null
  /** 0 = the name must be unique in the object; N = the Nth occurrence. */
  oldSympos?: number
  /** stop_machine mode: KLP_NORMAL_FORCE (default), KLP_ENFORCEMENT, KLP_STACK_OPTIMIZE. */
  force?: number
}

export interface KlpObjectDesc {
  /** Module name, or null/undefined for vmlinux. */
  name?: string | null
  /** Functions to patch; null/undefined is invalid, [] is allowed. */
  funcs: KlpFuncDesc[] | null | undefined
  callbacks?: KlpCallbacks
  /** stop_machine mode: run at the end of registration / at unregistration. */
  hooksLoad?: Array<(ctx: Ctx) => void>
  hooksUnload?: Array<(ctx: Ctx) => void>
}

export interface KlpStateDesc {
  id: number
  version: number
  data?: unknown
}

export interface KlpPatchDesc {
  objs: KlpObjectDesc[] | null | undefined
  states?: KlpStateDesc[]
  replace?: boolean
}

// ---------------------------------------------------------------------------------
// The core's internal objects

export class KlpFunc {
  oldFunc: Ksym | undefined = undefined
  newFunc: Ksym | undefined = undefined
  oldSize = 0
  newSize = 0
  patched = false
  transition = false
  kobj: KDir | null = null
  /** stop_machine mode: the shared per-address node this func sits on. */
  funcNode: unknown = undefined

  constructor (
    readonly obj: KlpObject,
    readonly oldName: string,
    /** What the author gave as new_func (resolved at object load). */
    readonly newFuncDesc: KlpFuncDesc['newFunc'],
    readonly oldSympos: number,
    readonly nop: boolean,
    readonly force: number,
  ) {}

  /** The function directory name: `<old_name>,<sympos or 1>`. */
  get dirName (): string { return `${this.oldName},${this.oldSympos || 1}` }
}

export class KlpObject {
  readonly funcs: KlpFunc[] = []
  mod: ModuleInstance | null = null
  patched = false
  kobj: KDir | null = null
  postUnpatchEnabled = false

  constructor (
    readonly patch: KlpPatch,
    /** null for vmlinux */
    readonly name: string | null,
    readonly callbacks: KlpCallbacks,
    readonly dynamic: boolean,
    readonly hooksLoad: Array<(ctx: Ctx) => void> = [],
    readonly hooksUnload: Array<(ctx: Ctx) => void> = [],
  ) {}

  get isModule (): boolean { return this.name !== null }
  /** vmlinux is always loaded; a module object only while its module is there. */
  get loaded (): boolean { return this.name === null || this.mod !== null }
  get displayName (): string { return this.name ?? 'vmlinux' }
}

export class KlpPatch {
  readonly objs: KlpObject[] = []
  readonly states: KlpStateDesc[]
  enabled = false
  forced = false
  kobj: KDir | null = null
  /** On klp_patches (enabled or in transition). */
  listed = false

  constructor (readonly mod: ModuleInstance, readonly replace: boolean, states: KlpStateDesc[] | undefined) {
    this.states = []
    for (const s of states ?? []) {
      if (!s || s.id === 0) break
      this.states.push(s)
    }
  }

  get name (): string { return this.mod.name }

  /**
   * klp_init_patch_early: the patch, its objects and funcs as the author described
   * them; static arrays end at their all-NULL entry.
   */
  static fromDescription (mod: ModuleInstance, desc: KlpPatchDesc, replace: boolean): KlpPatch {
    const patch = new KlpPatch(mod, replace, desc.states)
    for (const od of desc.objs!) {
      if ((od.name === null || od.name === undefined) && !od.funcs) break
      const obj = new KlpObject(patch, od.name ?? null, od.callbacks ?? {}, false, od.hooksLoad ?? [], od.hooksUnload ?? [])
      patch.objs.push(obj)
      for (const fd of od.funcs!) {
        if (!fd || (!fd.oldName && !fd.newFunc && !fd.oldSympos)) break
        obj.funcs.push(new KlpFunc(obj, fd.oldName, fd.newFunc, fd.oldSympos ?? 0, false, fd.force ?? KLP_NORMAL_FORCE))
      }
    }
    return patch
  }

  * funcs (): Generator<KlpFunc> {
    for (const o of this.objs) yield * o.funcs
  }
}
