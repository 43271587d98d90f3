import { defineModule } from '../kernel/module'
import type { Ctx } from '../kernel/context'
import type { SeqFile } from '../kernel/seqfile'

function livepatch_mod_target_show (ctx: Ctx, m: SeqFile): number {
  ctx.call('seq_printf', m, '%s: %s\n', ctx.module!.name, 'this has been live patched')
  return 0
}

export default defineModule({
  name: 'test_klp_mod_patch',
  livepatch: true,
  license: 'GPL',
  author: 'Pablo Hugen <phugen@redhat.com>',
  description: 'Livepatch test: patch for module-provided function',
  functions: { livepatch_mod_target_show },
  init: (ctx) => ctx.klp.patch({
    objs: [{ name: 'test_klp_mod_target', funcs: [{ oldName: 'test_klp_mod_target_show', newFunc: livepatch_mod_target_show }] }],
  }),
  exit: () => {},
})
