// Per-task read counters kept in shadow variables: a 4-byte count attached to
// the task, created at its first patched read.
import { errno } from 'klpsim'
import type { Ctx } from 'klpsim'

/** The shadow variable id of the read counter. */
export const SV_READS = 0x10ad

/** Counts one read by the current task; the new count, or -ENOMEM. */
export function countRead (ctx: Ctx): number {
  const sv = ctx.klp.shadowGetOrAlloc(ctx.task, SV_READS, 4, 'GFP_KERNEL')
  if (!sv) return -errno.ENOMEM
  const n = sv.bytes.readUInt32LE(0) + 1
  sv.bytes.writeUInt32LE(n, 0)
  return n
}

/** Frees every task's counter (klp_shadow_free_all). */
export function forgetReads (ctx: Ctx): void {
  ctx.klp.shadowFreeAll(SV_READS)
}
