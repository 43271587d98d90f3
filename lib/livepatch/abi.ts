// Kernel profiles: which livepatch sysfs ABI and lifecycle a script sees.
// (kernel-semantics.md §8.4, kpatch-compat.md §2.6)

export interface KlpAbi {
  readonly profile: string
  /** <patch>/replace (6.11+) */
  readonly replaceAttr: boolean
  /** <patch>/stack_order (6.14+) */
  readonly stackOrderAttr: boolean
  /** <patch>/<object>/patched (6.1+) */
  readonly patchedAttr: boolean
  /** <patch>/signal, write-only (4.15–5.0) */
  readonly signalAttr: boolean
  /** Pre-5.1 model: klp_register_patch then klp_enable_patch; `enabled` can be written 1 again; only the topmost patch may be disabled. */
  readonly registerModel: boolean
  /** Atomic replace and nops (5.1+) */
  readonly atomicReplace: boolean
  /** System states: klp_get_state, klp_get_prev_state (5.5+) */
  readonly systemStates: boolean
}

const PROFILES: Record<string, KlpAbi> = {
  '7.1': { profile: '7.1', replaceAttr: true, stackOrderAttr: true, patchedAttr: true, signalAttr: false, registerModel: false, atomicReplace: true, systemStates: true },
  '6.1': { profile: '6.1', replaceAttr: false, stackOrderAttr: false, patchedAttr: true, signalAttr: false, registerModel: false, atomicReplace: true, systemStates: true },
  '5.10': { profile: '5.10', replaceAttr: false, stackOrderAttr: false, patchedAttr: false, signalAttr: false, registerModel: false, atomicReplace: true, systemStates: true },
  '4.19': { profile: '4.19', replaceAttr: false, stackOrderAttr: false, patchedAttr: false, signalAttr: true, registerModel: true, atomicReplace: false, systemStates: false },
}

export const PROFILE_NAMES = Object.keys(PROFILES)

export function abiForProfile (name: string): KlpAbi {
  const p = PROFILES[name]
  if (!p) throw new RangeError(`unknown kernel profile '${name}' (known: ${PROFILE_NAMES.join(', ')})`)
  return p
}
