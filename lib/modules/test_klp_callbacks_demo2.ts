import { defineModule } from '../kernel/module'
import type { Ctx } from '../kernel/context'
import type { KlpCallbacks, KlpObject } from '../livepatch/types'
import { callbackInfo } from './util'

const callbacks: KlpCallbacks = {
  prePatch: (ctx: Ctx, obj: KlpObject) => { callbackInfo(ctx.module!, 'pre_patch_callback', obj); return 0 },
  postPatch: (ctx: Ctx, obj: KlpObject) => callbackInfo(ctx.module!, 'post_patch_callback', obj),
  preUnpatch: (ctx: Ctx, obj: KlpObject) => callbackInfo(ctx.module!, 'pre_unpatch_callback', obj),
  postUnpatch: (ctx: Ctx, obj: KlpObject) => callbackInfo(ctx.module!, 'post_unpatch_callback', obj),
}

export default defineModule({
  name: 'test_klp_callbacks_demo2',
  livepatch: true,
  license: 'GPL',
  author: 'Joe Lawrence <joe.lawrence@redhat.com>',
  description: 'Livepatch test: livepatch demo2',
  params: { replace: { type: 'int', mode: 0o644, default: 0, description: 'replace (int)' } },
  init: (ctx) => ctx.klp.patch({
    replace: ctx.module.params.replace !== 0,
    objs: [{ name: null, funcs: [], callbacks }],
  }),
  exit: () => {},
})
