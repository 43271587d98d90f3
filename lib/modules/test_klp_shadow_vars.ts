// Exercises the shadow variable API and prints every call with pointer ids
// (PTR<n>, numbered in order of first use) instead of addresses.
import { defineModule, ModuleCtx } from '../kernel/module'
import type { Ctx } from '../kernel/context'
import { EINVAL, ENOMEM } from '../kobject/errno'
import type { ShadowData } from '../livepatch/shadow'

const SV_ID1 = 0x1234
const SV_ID2 = 0x1235
const PTR_SIZE = 8

/** A C pointer to a pointer variable: ctor_data points at a variable that holds a field pointer. */
interface PtrVar { value: object }

function ptrId (ctx: Ctx, ptr: unknown): number {
  const ids = (ctx.module!.data as { ids: unknown[] }).ids
  const i = ids.indexOf(ptr)
  if (i >= 0) return i
  ids.push(ptr)
  return ids.length - 1
}

function shadow_ctor (ctx: Ctx, _obj: unknown, shadowData: ShadowData, ctorData: unknown): number {
  const v = ctorData as PtrVar | null
  if (!v) return -EINVAL
  shadowData.value = v.value
  ctx.module!.pr_info('%s: PTR%d -> PTR%d', 'shadow_ctor', ptrId(ctx, shadowData), ptrId(ctx, v.value))
  return 0
}

function shadow_dtor (ctx: Ctx, obj: unknown, shadowData: ShadowData): void {
  ctx.module!.pr_info('%s(obj=PTR%d, shadow_data=PTR%d)', 'shadow_dtor', ptrId(ctx, obj), ptrId(ctx, shadowData))
}

function shadowGet (ctx: Ctx, obj: object, id: number): ShadowData | null {
  const ret = ctx.klp.shadowGet(obj, id)
  ctx.module!.pr_info('klp_%s(obj=PTR%d, id=0x%lx) = PTR%d', 'shadow_get', ptrId(ctx, obj), id, ptrId(ctx, ret))
  return ret
}

function shadowAlloc (ctx: Ctx, kind: 'shadow_alloc' | 'shadow_get_or_alloc', obj: object, id: number, ctorData: PtrVar): ShadowData | null {
  const ret = kind === 'shadow_alloc'
    ? ctx.klp.shadowAlloc(obj, id, PTR_SIZE, 'GFP_KERNEL', shadow_ctor, ctorData)
    : ctx.klp.shadowGetOrAlloc(obj, id, PTR_SIZE, 'GFP_KERNEL', shadow_ctor, ctorData)
  ctx.module!.pr_info('klp_%s(obj=PTR%d, id=0x%lx, size=%zx, gfp_flags=%pGg), ctor=PTR%d, ctor_data=PTR%d = PTR%d',
    kind, ptrId(ctx, obj), id, PTR_SIZE, 'GFP_KERNEL', ptrId(ctx, shadow_ctor), ptrId(ctx, ctorData.value), ptrId(ctx, ret))
  return ret
}

function shadowFree (ctx: Ctx, obj: object, id: number): void {
  ctx.klp.shadowFree(obj, id, shadow_dtor)
  ctx.module!.pr_info('klp_%s(obj=PTR%d, id=0x%lx, dtor=PTR%d)', 'shadow_free', ptrId(ctx, obj), id, ptrId(ctx, shadow_dtor))
}

function shadowFreeAll (ctx: Ctx, id: number): void {
  ctx.klp.shadowFreeAll(id)
  ctx.module!.pr_info('klp_%s(id=0x%lx, dtor=PTR%d)', 'shadow_free_all', id, ptrId(ctx, null))
}

function gotExpected (ctx: Ctx, sv: ShadowData, field: object): void {
  ctx.module!.pr_info('  got expected PTR%d -> PTR%d result', ptrId(ctx, sv), ptrId(ctx, field))
}

function run (ctx: ModuleCtx<{ ids: unknown[] }>): number {
  const self = ctx.module
  const objs = [{ obj: 0 }, { obj: 1 }, { obj: 2 }]
  const nfield1 = [{ c: 0 }, { c: 1 }, { c: 2 }]
  const nfield2 = [{ i: 0 }, { i: 1 }, { i: 2 }]
  const pnfield1: PtrVar[] = []
  const pnfield2: PtrVar[] = []
  const sv1: ShadowData[] = []
  const sv2: ShadowData[] = []
  ptrId(ctx, null)

  // pass 0: nothing is attached yet
  if (!shadowGet(ctx, objs[0], SV_ID1)) self.pr_info('  got expected NULL result')

  // pass 1: attach two variables to every object
  for (let i = 0; i < 3; i++) {
    pnfield1[i] = { value: nfield1[i] }
    ptrId(ctx, nfield1[i])
    const a = shadowAlloc(ctx, i % 2 ? 'shadow_alloc' : 'shadow_get_or_alloc', objs[i], SV_ID1, pnfield1[i])
    if (!a) return -ENOMEM
    sv1[i] = a
    pnfield2[i] = { value: nfield2[i] }
    ptrId(ctx, nfield2[i])
    const b = shadowAlloc(ctx, 'shadow_alloc', objs[i], SV_ID2, pnfield2[i])
    if (!b) return -ENOMEM
    sv2[i] = b
  }

  // pass 2: they can be found again
  for (let i = 0; i < 3; i++) {
    const a = shadowGet(ctx, objs[i], SV_ID1)
    if (!a) return -EINVAL
    if (a === sv1[i] && a.value === nfield1[i]) gotExpected(ctx, a, nfield1[i])
    const b = shadowGet(ctx, objs[i], SV_ID2)
    if (!b) return -EINVAL
    if (b === sv2[i] && b.value === nfield2[i]) gotExpected(ctx, b, nfield2[i])
  }

  // pass 3: get_or_alloc returns the existing variable and runs no constructor
  for (let i = 0; i < 3; i++) {
    const dup: PtrVar = { value: nfield1[i] }
    const a = shadowAlloc(ctx, 'shadow_get_or_alloc', objs[i], SV_ID1, dup)
    if (!a) return -EINVAL
    if (a === sv1[i] && a.value === nfield1[i]) gotExpected(ctx, a, nfield1[i])
  }

  // pass 4: free the first variable of every object
  for (let i = 0; i < 3; i++) {
    shadowFree(ctx, objs[i], SV_ID1)
    if (!shadowGet(ctx, objs[i], SV_ID1)) self.pr_info('  got expected NULL result')
  }

  // pass 5: the second variable is still there
  for (let i = 0; i < 3; i++) {
    const b = shadowGet(ctx, objs[i], SV_ID2)
    if (!b) return -EINVAL
    if (b === sv2[i] && b.value === nfield2[i]) gotExpected(ctx, b, nfield2[i])
  }

  // pass 6: free every variable with the second id at once
  shadowFreeAll(ctx, SV_ID2)
  for (let i = 0; i < 3; i++) {
    if (!shadowGet(ctx, objs[i], SV_ID2)) self.pr_info('  got expected NULL result')
  }
  return 0
}

export default defineModule<{ ids: unknown[] }>({
  name: 'test_klp_shadow_vars',
  license: 'GPL',
  author: 'Joe Lawrence <joe.lawrence@redhat.com>',
  description: 'Livepatch test: shadow variables',
  state: () => ({ ids: [] }),
  init: (ctx) => {
    const ret = run(ctx)
    if (ret) {
      shadowFreeAll(ctx, SV_ID1)
      shadowFreeAll(ctx, SV_ID2)
    }
    return ret
  },
  exit: () => {},
})
