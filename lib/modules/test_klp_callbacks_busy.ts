// A target module whose work item can sit inside busymod_work_func for as long
// as block_transition is set: the function the demo livepatch patches.
import { defineModule, ModuleCtx } from '../kernel/module'
import { createWork, WorkStruct } from '../kernel/workqueue'
import { Completion, createCompletion } from '../kernel/image/functions'

interface BusyState { work: WorkStruct | null, started: Completion }

async function busymod_work_func (ctx: ModuleCtx<BusyState>): Promise<void> {
  const self = ctx.module
  self.pr_info('%s enter', 'busymod_work_func')
  ctx.call('complete', self.data.started)
  while (self.params.block_transition) await ctx.msleep(20)
  self.pr_info('%s exit', 'busymod_work_func')
}

export default defineModule<BusyState>({
  name: 'test_klp_callbacks_busy',
  license: 'GPL',
  author: 'Joe Lawrence <joe.lawrence@redhat.com>',
  description: 'Livepatch test: busy target module',
  params: { block_transition: { type: 'bool', mode: 0o644, default: false, description: 'block_transition (default=false)' } },
  functions: { busymod_work_func: { impl: busymod_work_func, size: 0x90 } },
  state: () => ({ work: null, started: createCompletion() }),
  init: async (ctx) => {
    const self = ctx.module
    self.pr_info('%s', 'test_klp_callbacks_busy_init')
    const work = createWork(self.symbol('busymod_work_func')!)
    self.data.work = work
    ctx.kernel.workqueues.queueWork(work)
    await ctx.call('wait_for_completion', self.data.started)
    if (!self.params.block_transition) await ctx.kernel.workqueues.flushWork(work)
    return 0
  },
  exit: async (ctx) => {
    const self = ctx.module
    self.params.block_transition = false
    if (self.data.work) await ctx.kernel.workqueues.flushWork(self.data.work)
    self.pr_info('%s', 'test_klp_callbacks_busy_exit')
  },
})
