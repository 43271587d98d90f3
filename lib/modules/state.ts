// The system-state selftest modules (test_klp_state, test_klp_state2, test_klp_state3):
// a cumulative patch that records console_loglevel in a klp_state and hands it
// over to later versions of itself.
import { defineModule, ModuleDefinition } from '../kernel/module'
import type { Ctx } from '../kernel/context'
import { EINVAL } from '../kobject/errno'
import { CONSOLE_LOGLEVEL_MOTORMOUTH } from '../kernel/printk'
import type { KlpCallbacks, KlpObject, KlpStateDesc } from '../livepatch/types'
import { callbackInfo } from './util'

const CONSOLE_LOGLEVEL_STATE = 1

interface LoglevelData { loglevel: number }

function ownState (ctx: Ctx): KlpStateDesc | undefined {
  return ctx.klp.getState(CONSOLE_LOGLEVEL_STATE)
}

/** version 1 knows only its own state; later versions take over an earlier patch's. */
function stateCallbacks (version: number): KlpCallbacks {
  const aware = version > 1
  const log = (ctx: Ctx, fmt: string, ...args: unknown[]) => ctx.module!.pr_info(fmt, ...args)
  return {
    prePatch: (ctx: Ctx, obj: KlpObject) => {
      callbackInfo(ctx.module!, 'pre_patch_callback', obj)
      const state = ownState(ctx)
      if (!state) return -EINVAL
      const prev = aware ? ctx.klp.getPrevState(CONSOLE_LOGLEVEL_STATE) : undefined
      if (prev) {
        log(ctx, '%s: space to store console_loglevel already allocated', 'allocate_loglevel_state')
        return 0
      }
      state.data = { loglevel: 0 } satisfies LoglevelData
      log(ctx, '%s: allocating space to store console_loglevel', 'allocate_loglevel_state')
      return 0
    },
    postPatch: (ctx: Ctx, obj: KlpObject) => {
      callbackInfo(ctx.module!, 'post_patch_callback', obj)
      const state = ownState(ctx)
      if (!state) return
      const prev = aware ? ctx.klp.getPrevState(CONSOLE_LOGLEVEL_STATE) : undefined
      if (prev) {
        log(ctx, '%s: taking over the console_loglevel change', 'fix_console_loglevel')
        state.data = prev.data
        return
      }
      log(ctx, '%s: fixing console_loglevel', 'fix_console_loglevel')
      const printk = ctx.kernel.printk
      ;(state.data as LoglevelData).loglevel = printk.consoleLoglevel
      printk.consoleLoglevel = CONSOLE_LOGLEVEL_MOTORMOUTH
    },
    preUnpatch: (ctx: Ctx, obj: KlpObject) => {
      callbackInfo(ctx.module!, 'pre_unpatch_callback', obj)
      const state = ownState(ctx)
      if (!state) return
      const prev = aware ? ctx.klp.getPrevState(CONSOLE_LOGLEVEL_STATE) : undefined
      if (prev) {
        log(ctx, '%s: passing the console_loglevel change back to the old livepatch', 'restore_console_loglevel')
        return
      }
      log(ctx, '%s: restoring console_loglevel', 'restore_console_loglevel')
      ctx.kernel.printk.consoleLoglevel = (state.data as LoglevelData).loglevel
    },
    postUnpatch: (ctx: Ctx, obj: KlpObject) => {
      callbackInfo(ctx.module!, 'post_unpatch_callback', obj)
      const state = ownState(ctx)
      if (!state) return
      const prev = aware ? ctx.klp.getPrevState(CONSOLE_LOGLEVEL_STATE) : undefined
      if (prev) {
        log(ctx, '%s: keeping space to store console_loglevel', 'free_loglevel_state')
        return
      }
      log(ctx, '%s: freeing space for the stored console_loglevel', 'free_loglevel_state')
      state.data = undefined
    },
  }
}

export function stateModule (name: string, version: number): ModuleDefinition {
  const callbacks = stateCallbacks(version)
  return defineModule({
    name,
    livepatch: true,
    license: 'GPL',
    author: 'Petr Mladek <pmladek@suse.com>',
    description: 'Livepatch test: system state modification',
    init: (ctx) => ctx.klp.patch({
      replace: true,
      objs: [{ name: null, funcs: [], callbacks }],
      states: [{ id: CONSOLE_LOGLEVEL_STATE, version }],
    }),
    exit: () => {},
  })
}

export const testKlpState = stateModule('test_klp_state', 1)
export const testKlpState2 = stateModule('test_klp_state2', 2)
export const testKlpState3 = stateModule('test_klp_state3', 2)
