// What may not share an old function with a stop_machine livepatch: a kprobe
// anywhere in its body (CONFIG_LIVEPATCH_RESTRICT_KPROBE, checked at every
// enable and disable) and a static key or static call site inside the entry
// bytes the jump overwrites (check_address_conflict, at registration).
import type { Kernel } from '../../kernel/kernel'
import { KERN_ERR } from '../../kernel/printk'
import { EINVAL } from '../../kobject/errno'
import type { KlpPatch } from '../types'
import { klpLog } from './calltrace'

/** klp_check_patch_kprobed: true (after the message) when a func's old body holds a kprobe. */
export function klpCheckPatchKprobed (k: Kernel, patch: KlpPatch): boolean {
  for (const func of patch.funcs()) {
    if (func.oldFunc && k.kprobes.probedIn(func.oldFunc)) {
      klpLog(k, KERN_ERR, 'func %s has been probed, (un)patch failed', func.oldName)
      return true
    }
  }
  return false
}

/** Is a site at this offset within [start, start + size - 1]? */
function inEntry (offset: number | undefined, size: number): boolean {
  return offset !== undefined && offset >= 0 && offset <= size - 1
}

/**
 * check_address_conflict: jump_label_text_reserved and
 * static_call_text_reserved over each old function's first
 * KLP_MAX_REPLACE_SIZE bytes (both report a hit as 1).
 */
export function checkAddressConflict (k: Kernel, patch: KlpPatch, maxReplaceSize: number): number {
  for (const func of patch.funcs()) {
    const flags = func.oldFunc?.flags
    if (!flags) continue
    if (inEntry(flags.staticKeyAt, maxReplaceSize)) {
      klpLog(k, KERN_ERR, "'%s' has static key in first %zu bytes, ret=%d", func.oldName, maxReplaceSize, 1)
      return -EINVAL
    }
    if (inEntry(flags.staticCallAt, maxReplaceSize)) {
      klpLog(k, KERN_ERR, "'%s' has static call in first %zu bytes, ret=%d", func.oldName, maxReplaceSize, 1)
      return -EINVAL
    }
  }
  return 0
}
