// /proc/livepatch/state: every registered patch in klp_patches order with
// "enabled" or "disabled", framed by 47-dash lines (state_show, read under
// klp_mutex, so a reader waits while an enable sleeps between retries).
import type { Kernel } from '../../kernel/kernel'
import type { KlpPatch } from '../types'
import type { KlpMutex } from './klp-mutex'

const RULE = '-'.repeat(47) + '\n'

export function formatPatchStates (k: Kernel, patches: readonly KlpPatch[]): string {
  let out = k.format('%-5s\t%-26s\t%-8s\n', ['Index', 'Patch', 'State']) + RULE
  let index = 0
  for (const p of patches) out += k.format('%-5d\t%-26s\t%-8s\n', [++index, p.mod.name, p.enabled ? 'enabled' : 'disabled'])
  return out + RULE
}

/** proc_mkdir("livepatch") and proc_create("livepatch/state", 0, ...). */
export function createProcState (k: Kernel, mutex: KlpMutex, patches: () => readonly KlpPatch[]): void {
  const dir = k.procfs.mkdir('livepatch')
  if (typeof dir === 'number') throw new Error('/proc/livepatch exists')
  dir.addAttr('state', 0o444, { show: () => mutex.run(() => formatPatchStates(k, patches())) }, 'seq')
}
