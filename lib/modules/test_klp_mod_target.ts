// A module with a function of its own to patch: /proc/test_klp_mod_target shows
// what test_klp_mod_target_show prints.
import { defineModule } from '../kernel/module'
import type { Ctx } from '../kernel/context'
import type { SeqFile } from '../kernel/seqfile'
import { ENOMEM } from '../kobject/errno'

function test_klp_mod_target_show (ctx: Ctx, m: SeqFile): number {
  ctx.call('seq_printf', m, '%s: %s\n', ctx.module!.name, 'original output')
  return 0
}

export default defineModule({
  name: 'test_klp_mod_target',
  license: 'GPL',
  author: 'Pablo Hugen <phugen@redhat.com>',
  description: 'Livepatch test: target module with proc entry',
  functions: { test_klp_mod_target_show: { impl: test_klp_mod_target_show, size: 0x40 } },
  init: (ctx) => {
    ctx.module.pr_info('%s', 'test_klp_mod_target_init')
    const entry = ctx.kernel.procfs.createSingle('test_klp_mod_target', 0, null, ctx.module.symbol('test_klp_mod_target_show')!)
    if (typeof entry === 'number') return -ENOMEM
    return 0
  },
  exit: (ctx) => {
    ctx.module.pr_info('%s', 'test_klp_mod_target_exit')
    ctx.kernel.procfs.remove('test_klp_mod_target')
  },
})
