// The per-architecture facts of the openEuler livepatch without ftrace
// (arch/{x86,arm64}/include/asm/livepatch.h, OLK-6.6).
import type { Arch } from '../../kernel/kernel'
import type { Ksym } from '../../kernel/kallsyms'

/**
 * KLP_MAX_REPLACE_SIZE: the bytes of the old function's entry that are
 * rewritten. x86_64 writes a 5-byte `jmp rel32` (JMP_E9_INSN_SIZE); arm64
 * saves and may rewrite 4 instructions (LJMP_INSN_SIZE) for a long jump.
 */
export function klpMaxReplaceSize (arch: Arch): number {
  return arch === 'arm64' ? 16 : 5
}

/** KLP_RETRY_COUNT and KLP_RETRY_INTERVAL (ms) of the breakpoint path. */
export const KLP_RETRY_COUNT = 5
export const KLP_RETRY_INTERVAL = 100

/** x86 stack_trace_save_tsk_reliable buffer (MAX_STACK_ENTRIES). */
export const MAX_STACK_ENTRIES = 100

/** Stopper threads run stop_machine itself and are never checked. */
export const KLP_MIGRATION_NAME_PREFIX = 'migration/'

/**
 * arch_check_jump_insn: does the entry (the first KLP_MAX_REPLACE_SIZE bytes)
 * hold a call instruction (x86 E8/9A/FF /2, arm64 bl/blr/blraa)? The simulated
 * image records it as a symbol flag.
 */
export function archCheckJumpInsn (sym: Ksym | undefined): boolean {
  return sym?.flags?.callInPrologue ?? false
}
