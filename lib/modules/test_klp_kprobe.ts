// Puts a kprobe on cmdline_proc_show; with a post_handler the probe needs the
// instruction pointer (IPMODIFY) and then conflicts with a livepatch there.
import { defineModule } from '../kernel/module'
import type { Kprobe } from '../kernel/kprobes'

export default defineModule<{ kp: Kprobe | null }>({
  name: 'test_klp_kprobe',
  license: 'GPL',
  author: 'Michael Vetter <mvetter@suse.com>',
  description: 'Livepatch test: kprobe function',
  params: { has_post_handler: { type: 'bool', mode: 0o444, default: true, description: 'Whether the kprobe uses a post_handler' } },
  state: () => ({ kp: null }),
  init: (ctx) => {
    const kp: Kprobe = { symbolName: 'cmdline_proc_show', offset: 0, armed: false, owner: ctx.module.name }
    if (ctx.module.params.has_post_handler) kp.postHandler = () => {}
    const ret = ctx.kernel.kprobes.register(kp)
    if (ret < 0) return ret
    ctx.module.data.kp = kp
    return 0
  },
  exit: (ctx) => {
    if (ctx.module.data.kp) ctx.kernel.kprobes.unregister(ctx.module.data.kp)
  },
})
