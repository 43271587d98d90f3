// state.c: system states that cumulative patches hand over to each other.
import type { Core } from './core'
import type { KlpPatch, KlpPatchDesc, KlpStateDesc } from './types'

/** klp_get_state */
export function getState (patch: { states: readonly KlpStateDesc[] }, id: number): KlpStateDesc | undefined {
  for (const s of patch.states) {
    if (s.id === 0) break
    if (s.id === id) return s
  }
  return undefined
}

/** klp_get_prev_state: the state of the newest patch installed before the one in transition. */
export function getPrevState (core: Core, id: number, warn: () => void): KlpStateDesc | undefined {
  const transition = core.transitionPatch
  if (!transition) { warn(); return undefined }
  let last: KlpStateDesc | undefined
  for (const p of core.patches) {
    if (p === transition) break
    const s = getState(p, id)
    if (s) last = s
  }
  return last
}

function descStates (desc: KlpPatchDesc): KlpStateDesc[] {
  const out: KlpStateDesc[] = []
  for (const s of desc.states ?? []) {
    if (!s || s.id === 0) break
    out.push(s)
  }
  return out
}

/** klp_is_patch_compatible: a cumulative patch must handle every installed state, none may go back in version. */
export function isPatchCompatible (core: Core, desc: KlpPatchDesc): boolean {
  const newPatch = { states: descStates(desc) }
  for (const old of core.patches as KlpPatch[]) {
    for (const oldState of old.states) {
      const state = getState(newPatch, oldState.id)
      if (!state) {
        if (desc.replace) return false
        continue
      }
      if (state.version < oldState.version) return false
    }
  }
  return true
}
