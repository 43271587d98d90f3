// samples/livepatch/livepatch-sample: /proc/cmdline says it has been live patched.
import { defineModule } from '../kernel/module'
import type { Ctx } from '../kernel/context'
import type { SeqFile } from '../kernel/seqfile'

function livepatch_cmdline_proc_show (ctx: Ctx, m: SeqFile): number {
  ctx.call('seq_printf', m, '%s\n', 'this has been live patched')
  return 0
}

export default defineModule({
  name: 'livepatch_sample',
  livepatch: true,
  intree: true,
  license: 'GPL',
  description: 'Livepatch sample: replaces cmdline_proc_show',
  functions: { livepatch_cmdline_proc_show },
  init: (ctx) => ctx.klp.patch({
    objs: [{ name: null, funcs: [{ oldName: 'cmdline_proc_show', newFunc: livepatch_cmdline_proc_show }] }],
  }),
  exit: () => {},
})
