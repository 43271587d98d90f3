// Helpers shared by the selftest modules.
import type { KlpObject } from '../livepatch/types'
import type { ModuleInstance } from '../kernel/module'

const MODULE_STATE: Record<string, string> = {
  LIVE: '[MODULE_STATE_LIVE] Normal state',
  COMING: '[MODULE_STATE_COMING] Full formed, running module_init',
  GOING: '[MODULE_STATE_GOING] Going away',
  UNFORMED: '[MODULE_STATE_UNFORMED] Still setting it up',
}

/** The callback line of the callback selftest modules: `<callback>: vmlinux` or `<callback>: <mod> -> <state>`. */
export function callbackInfo (self: ModuleInstance, callback: string, obj: KlpObject): void {
  if (obj.mod) self.pr_info('%s: %s -> %s', callback, obj.mod.name, MODULE_STATE[obj.mod.state])
  else self.pr_info('%s: vmlinux', callback)
}
