// A module's undefined symbols: the kernel functions its code calls. For a C
// module the compiler leaves them in the symbol table; for klpsim module code
// they are the livepatch API methods it calls (ctx.klp.shadowGet → klp_shadow_get),
// found in the code's text. `klpsim build` writes them into the .ko and the
// loader resolves them against the kernel's exports, as simplify_symbols does.
import type { ModuleDefinition } from './kernel/module'
import { KLP_API_SYMBOLS } from './livepatch/api'

const CALL = /\bklp\s*\.\s*([A-Za-z_$][\w$]*)\s*\(/g

/** The livepatch API symbols a module's source calls, sorted. */
export function importsOfSource (source: string): string[] {
  const found = new Set<string>()
  for (const m of source.matchAll(CALL)) {
    const sym = Object.prototype.hasOwnProperty.call(KLP_API_SYMBOLS, m[1]) ? KLP_API_SYMBOLS[m[1]] : undefined
    if (sym) found.add(sym)
  }
  return [...found].sort()
}

/** The text of a definition's own functions: the code of a module defined in place (no source file). */
export function definitionSource (def: ModuleDefinition): string {
  const parts: string[] = []
  for (const fn of [def.init, def.exit, def.state]) if (typeof fn === 'function') parts.push(String(fn))
  for (const f of Object.values(def.functions ?? {})) {
    const impl = typeof f === 'function' ? f : f?.impl
    if (typeof impl === 'function') parts.push(String(impl))
  }
  return parts.join('\n')
}
