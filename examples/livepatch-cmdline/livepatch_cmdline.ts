// A livepatch for klpsim's simulated kernel: /proc/cmdline says that it has
// been live patched and how often the reading task has read it since.
//
// - cmdline_proc_show is replaced by livepatch_cmdline_proc_show;
// - the read count is a shadow variable attached to the reading task (reads.ts);
// - the callbacks log each step, and the last one frees the counters;
// - the message is a parameter, writable at
//   /sys/module/livepatch_cmdline/parameters/message.
//
// Build:  klpsim build livepatch_cmdline.ts -o livepatch_cmdline.ko
import { defineModule } from 'klpsim'
import type { Ctx, KlpCallbacks, SeqFile } from 'klpsim'
import { countRead, forgetReads } from './reads'

function livepatch_cmdline_proc_show (ctx: Ctx, m: SeqFile): number {
  const reads = countRead(ctx)
  if (reads < 0) return reads
  const message = ctx.module!.params.message as string
  ctx.call('seq_printf', m, '%s (read %d time%s)\n', message, reads, reads === 1 ? '' : 's')
  return 0
}

const callbacks: KlpCallbacks = {
  prePatch: (ctx) => { ctx.module!.pr_info('pre-patch: /proc/cmdline will count its readers') },
  postPatch: (ctx) => { ctx.module!.pr_info('post-patch: every task runs the new cmdline_proc_show') },
  preUnpatch: (ctx) => { ctx.module!.pr_info('pre-unpatch: going back to the original') },
  postUnpatch: (ctx) => {
    forgetReads(ctx)
    ctx.module!.pr_info('post-unpatch: read counters freed')
  },
}

export default defineModule({
  name: 'livepatch_cmdline',
  livepatch: true,
  license: 'GPL',
  description: 'Example livepatch: /proc/cmdline counts its readers',
  params: {
    message: { type: 'charp', mode: 0o644, default: 'this has been live patched', description: 'what /proc/cmdline says' },
  },
  functions: { livepatch_cmdline_proc_show },
  init: (ctx) => ctx.klp.patch({
    objs: [{
      name: null, // vmlinux
      funcs: [{ oldName: 'cmdline_proc_show', newFunc: livepatch_cmdline_proc_show }],
      callbacks,
    }],
  }),
  exit: () => {},
})
