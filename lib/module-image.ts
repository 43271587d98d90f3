// What a module file carries besides its code: the .modinfo the kernel build
// writes for a module definition.
import { createHash } from 'node:crypto'
import type { ModuleDefinition } from './kernel/module'
import type { ModuleImage } from './kernel/loader'
import { definitionSource, importsOfSource } from './module-imports'

/** srcversion: 24 upper-case hex digits, a digest of the module's source. */
export function srcversion (def: ModuleDefinition, source?: string): string {
  const h = createHash('md5').update(source ?? def.name + JSON.stringify(def.params ?? {}) + Object.keys(def.functions ?? {}).join(','))
  return h.digest('hex').slice(0, 24).toUpperCase()
}

/** The .modinfo entries, in the order a kernel build writes them. */
export function modinfoFor (def: ModuleDefinition, vermagic: string, source?: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  if (def.livepatch) out.push(['livepatch', 'Y'])
  out.push(['license', def.license ?? 'GPL'])
  if (def.description) out.push(['description', def.description])
  if (def.author) out.push(['author', def.author])
  if (def.version) out.push(['version', def.version])
  for (const [name, p] of Object.entries(def.params ?? {})) {
    if (p.description) out.push(['parm', `${name}:${p.description}`])
    out.push(['parmtype', `${name}:${paramTypeName(p.type)}`])
  }
  out.push(['srcversion', srcversion(def, source)])
  out.push(['depends', (def.depends ?? []).join(',')])
  out.push(['retpoline', 'Y'])
  if (def.intree) out.push(['intree', 'Y'])
  out.push(['name', def.name])
  out.push(['vermagic', vermagic])
  return out
}

function paramTypeName (t: string): string {
  switch (t) {
    case 'int_array': return 'array of int'
    case 'uint_array': return 'array of uint'
    case 'bool_array': return 'array of bool'
    default: return t
  }
}

/** An image of a module definition as the loader takes it; source is the module's code (else its definition's functions). */
export function imageOf (def: ModuleDefinition, vermagic: string, source?: string): ModuleImage {
  return { def, name: def.name, modinfo: modinfoFor(def, vermagic), imports: importsOfSource(source ?? definitionSource(def)) }
}
