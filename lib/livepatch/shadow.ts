// shadow.c: data attached to existing kernel objects by <object, id>, global and
// independent of any patch's lifetime.
import type { Ctx } from '../kernel/context'
import { KernelOops } from '../kernel/dispatch'
import { KERN_ERR } from '../kernel/printk'
import type { Livepatch } from './livepatch'

/** The memory of one shadow variable: `size` zeroed bytes plus a slot for a JS value (a stored pointer). */
export class ShadowData {
  readonly bytes: Buffer
  value: unknown = undefined
  constructor (size: number) { this.bytes = Buffer.alloc(Math.max(0, size)) }
}

export type ShadowCtor = (ctx: Ctx, obj: unknown, data: ShadowData, ctorData: unknown) => number | void
export type ShadowDtor = (ctx: Ctx, obj: unknown, data: ShadowData) => void

interface ShadowVar { obj: unknown, id: number, data: ShadowData }

export class ShadowStore {
  /** Keyed by the parent object, like the kernel's hash of obj pointers. */
  private readonly table = new Map<unknown, ShadowVar[]>()
  /** Fault injection: the allocation fails (kzalloc returns NULL). */
  allocFault: (() => boolean) | undefined = undefined

  constructor (private readonly lp: Livepatch) {}

  /** klp_shadow_get */
  get (obj: unknown, id: number): ShadowData | null {
    const list = this.table.get(obj)
    if (!list) return null
    for (const v of list) if (v.id === id) return v.data
    return null
  }

  private callModule<T> (ctx: Ctx, what: string, fn: () => T): T | number {
    try {
      return fn()
    } catch (e) {
      if (!(e instanceof KernelOops)) this.lp.kernel.reportOops(ctx, what, e)
      return -14
    }
  }

  /** __klp_shadow_get_or_alloc */
  private getOrAlloc (ctx: Ctx, obj: unknown, id: number, size: number, ctor: ShadowCtor | undefined, ctorData: unknown, warnOnExist: boolean): ShadowData | null {
    const existing = this.get(obj, id)
    if (existing) {
      if (warnOnExist) this.warnDuplicate(ctx, obj, id)
      return warnOnExist ? null : existing
    }
    if (this.allocFault?.()) return null
    const data = new ShadowData(size)
    if (ctor) {
      const ret = this.callModule(ctx, 'shadow ctor', () => ctor(ctx, obj, data, ctorData))
      if (typeof ret === 'number' && ret !== 0) {
        const k = this.lp.kernel
        k.printk.log(KERN_ERR, 'livepatch: ' + k.format('Failed to construct shadow variable <%p, %lx> (%d)', [obj, id, ret]))
        return null
      }
    }
    const list = this.table.get(obj)
    if (list) list.push({ obj, id, data })
    else this.table.set(obj, [{ obj, id, data }])
    return data
  }

  private warnDuplicate (ctx: Ctx, obj: unknown, id: number): void {
    const k = this.lp.kernel
    k.warn(ctx.task, 'kernel/livepatch/shadow.c', 116, k.kallsyms.lookupName('klp_shadow_alloc') ?? '__klp_shadow_get_or_alloc',
      k.format('Duplicate shadow variable <%p, %lx>', [obj, id]))
  }

  /** klp_shadow_alloc: WARN and NULL if <obj, id> exists; the ctor runs only on creation. */
  alloc (ctx: Ctx, obj: unknown, id: number, size: number, ctor?: ShadowCtor, ctorData?: unknown): ShadowData | null {
    return this.getOrAlloc(ctx, obj, id, size, ctor, ctorData, true)
  }

  /** klp_shadow_get_or_alloc */
  getOrAllocVar (ctx: Ctx, obj: unknown, id: number, size: number, ctor?: ShadowCtor, ctorData?: unknown): ShadowData | null {
    return this.getOrAlloc(ctx, obj, id, size, ctor, ctorData, false)
  }

  /** klp_shadow_free */
  free (ctx: Ctx, obj: unknown, id: number, dtor?: ShadowDtor): void {
    const list = this.table.get(obj)
    if (!list) return
    const i = list.findIndex(v => v.id === id)
    if (i < 0) return
    const [v] = list.splice(i, 1)
    if (list.length === 0) this.table.delete(obj)
    if (dtor) this.callModule(ctx, 'shadow dtor', () => dtor(ctx, v.obj, v.data))
  }

  /** klp_shadow_free_all */
  freeAll (ctx: Ctx, id: number, dtor?: ShadowDtor): void {
    for (const [obj, list] of [...this.table]) {
      for (let i = list.length - 1; i >= 0; i--) {
        if (list[i].id !== id) continue
        const [v] = list.splice(i, 1)
        if (dtor) this.callModule(ctx, 'shadow dtor', () => dtor(ctx, v.obj, v.data))
      }
      if (list.length === 0) this.table.delete(obj)
    }
  }

  /** Number of live shadow variables (status views). */
  get size (): number {
    let n = 0
    for (const l of this.table.values()) n += l.length
    return n
  }
}
