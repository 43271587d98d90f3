import { defineModule } from '../kernel/module'

export default defineModule({
  name: 'test_klp_callbacks_mod',
  license: 'GPL',
  author: 'Joe Lawrence <joe.lawrence@redhat.com>',
  description: 'Livepatch test: target module',
  init: (ctx) => { ctx.module.pr_info('%s', 'test_klp_callbacks_mod_init'); return 0 },
  exit: (ctx) => { ctx.module.pr_info('%s', 'test_klp_callbacks_mod_exit') },
})
