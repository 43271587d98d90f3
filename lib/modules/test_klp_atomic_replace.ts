import { defineModule } from '../kernel/module'
import type { Ctx } from '../kernel/context'
import type { SeqFile } from '../kernel/seqfile'

function livepatch_meminfo_proc_show (ctx: Ctx, m: SeqFile): number {
  ctx.call('seq_printf', m, '%s: %s\n', ctx.module!.name, 'this has been live patched')
  return 0
}

export default defineModule({
  name: 'test_klp_atomic_replace',
  livepatch: true,
  license: 'GPL',
  author: 'Joe Lawrence <joe.lawrence@redhat.com>',
  description: 'Livepatch test: atomic replace',
  params: { replace: { type: 'int', mode: 0o644, default: 0, description: 'replace (int)' } },
  functions: { livepatch_meminfo_proc_show },
  init: (ctx) => ctx.klp.patch({
    replace: ctx.module.params.replace !== 0,
    objs: [{ name: null, funcs: [{ oldName: 'meminfo_proc_show', newFunc: livepatch_meminfo_proc_show }] }],
  }),
  exit: () => {},
})
