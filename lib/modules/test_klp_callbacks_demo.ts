import { defineModule } from '../kernel/module'
import type { Ctx } from '../kernel/context'
import type { KlpCallbacks, KlpObject } from '../livepatch/types'
import { callbackInfo } from './util'

function patched_work_func (ctx: Ctx): void {
  ctx.module!.pr_info('%s', 'patched_work_func')
}

// every object gets the same four callbacks; pre_patch returns pre_patch_ret as read at call time
const callbacks: KlpCallbacks = {
  prePatch: (ctx: Ctx, obj: KlpObject) => {
    callbackInfo(ctx.module!, 'pre_patch_callback', obj)
    return ctx.module!.params.pre_patch_ret as number
  },
  postPatch: (ctx: Ctx, obj: KlpObject) => callbackInfo(ctx.module!, 'post_patch_callback', obj),
  preUnpatch: (ctx: Ctx, obj: KlpObject) => callbackInfo(ctx.module!, 'pre_unpatch_callback', obj),
  postUnpatch: (ctx: Ctx, obj: KlpObject) => callbackInfo(ctx.module!, 'post_unpatch_callback', obj),
}

export default defineModule({
  name: 'test_klp_callbacks_demo',
  livepatch: true,
  license: 'GPL',
  author: 'Joe Lawrence <joe.lawrence@redhat.com>',
  description: 'Livepatch test: livepatch demo',
  params: { pre_patch_ret: { type: 'int', mode: 0o644, default: 0, description: 'pre_patch_ret (default=0)' } },
  functions: { patched_work_func },
  init: (ctx) => ctx.klp.patch({
    objs: [
      { name: null, funcs: [], callbacks },
      { name: 'test_klp_callbacks_mod', funcs: [], callbacks },
      { name: 'test_klp_callbacks_busy', funcs: [{ oldName: 'busymod_work_func', newFunc: patched_work_func }], callbacks },
    ],
  }),
  exit: () => {},
})
