import { defineModule } from '../kernel/module'
import type { Ctx } from '../kernel/context'
import type { SeqFile } from '../kernel/seqfile'

function livepatch_cmdline_proc_show (ctx: Ctx, m: SeqFile): number {
  ctx.call('seq_printf', m, '%s: %s\n', ctx.module!.name, 'this has been live patched')
  return 0
}

export default defineModule({
  name: 'test_klp_livepatch',
  livepatch: true,
  license: 'GPL',
  author: 'Seth Jennings <sjenning@redhat.com>',
  description: 'Livepatch test: livepatch module',
  functions: { livepatch_cmdline_proc_show },
  init: (ctx) => ctx.klp.patch({
    objs: [{ name: null, funcs: [{ oldName: 'cmdline_proc_show', newFunc: livepatch_cmdline_proc_show }] }],
  }),
  exit: () => {},
})
