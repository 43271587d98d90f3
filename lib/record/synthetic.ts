// The stand-in for a recorded livepatch module: a module of the same name whose
// init enables a patch with the recorded objects and functions, so that the
// livepatch core builds the same sysfs tree and func stacks. Its replacement
// functions are the module's recorded functions (kallsyms, stack frames with
// the module's [name]); their code is not in a recording, so each runs the
// original function's simulated code.
import type { Ctx } from '../kernel/context'
import { defineModule, ModuleDefinition, ModuleFunctionSpec } from '../kernel/module'
import type { KlpObjectDesc } from '../livepatch/types'
import type { RecordedModule, RecordedPatch } from './format'
import { DEFAULT_FUNCTION_SIZE, NeededSymbol } from './symbols'

export interface PatchPlan {
  def: ModuleDefinition
  /** Functions left to the core's atomic-replace nops (not replacements of this patch). */
  nops: string[]
  /** patched function (object:name,sympos) → the module function that replaces it. */
  replacements: Map<string, string>
}

const key = (object: string, name: string, sympos: number): string => `${object}:${name},${sympos}`

/** Runs the simulated code of the original function (the replacement's own code was not recorded). */
function runsOriginal (object: string, name: string, sympos: number) {
  return (ctx: Ctx, ...args: unknown[]): unknown => {
    const orig = ctx.kernel.kallsyms.matches(object === 'vmlinux' ? null : object, name).filter(s => s.isText)[Math.max(1, sympos) - 1]
    return orig?.impl ? orig.impl(ctx, ...args) : 0
  }
}

const nothing = (): number => 0

/**
 * Pairs every patched function with the module function that replaces it:
 * the same name (kpatch), or a name ending in _<name> (livepatch_<name>); then,
 * if exactly as many functions as replacements are left, in order. A function
 * of a replace patch in transition that an older patch also patches and that
 * nothing replaces is a nop. The rest get a replacement of the same name.
 */
export function planPatch (patch: RecordedPatch, older: readonly RecordedPatch[], moduleSymbols: Map<string, NeededSymbol> | undefined, taint: string | null): PatchPlan {
  const replace = patch.attributes.replace === '1'
  const inReplaceTransition = replace && patch.attributes.transition === '1' && patch.attributes.enabled !== '0'
  const olderFuncs = new Set(older.flatMap(p => p.objects.flatMap(o => o.functions.map(f => key(o.name, f.name, f.sympos)))))
  const funcs = patch.objects.flatMap(o => o.functions.map(f => ({ object: o.name, name: f.name, sympos: f.sympos, k: key(o.name, f.name, f.sympos) })))
  const symbols = [...(moduleSymbols?.values() ?? [])]
  const free = new Set(symbols.map(s => s.name))
  const replacements = new Map<string, string>()

  for (const f of funcs) {
    const match = [...free].find(s => s === f.name) ?? [...free].find(s => s.endsWith('_' + f.name))
    if (match) { replacements.set(f.k, match); free.delete(match) }
  }
  const canBeNop = (f: typeof funcs[number]): boolean => inReplaceTransition && olderFuncs.has(f.k)
  const unpaired = funcs.filter(f => !replacements.has(f.k) && !canBeNop(f))
  if (unpaired.length && unpaired.length === free.size) {
    const left = [...free]
    unpaired.forEach((f, i) => { replacements.set(f.k, left[i]); free.delete(left[i]) })
  }
  const nops: string[] = []
  for (const f of funcs) {
    if (replacements.has(f.k)) continue
    if (canBeNop(f)) { nops.push(f.k); continue }
    replacements.set(f.k, f.name)
  }

  const functions: Record<string, ModuleFunctionSpec> = {}
  const sizeOf = (name: string): number => moduleSymbols?.get(name)?.sizes[0] ?? DEFAULT_FUNCTION_SIZE
  for (const s of symbols) functions[s.name] = { impl: nothing, size: sizeOf(s.name) }
  for (const f of funcs) {
    const fn = replacements.get(f.k)
    if (fn) functions[fn] = { impl: runsOriginal(f.object, f.name, f.sympos), size: sizeOf(fn) }
  }

  const objs: KlpObjectDesc[] = []
  for (const o of patch.objects) {
    const own = o.functions.filter(f => replacements.has(key(o.name, f.name, f.sympos)))
    // an object made of nops only is one the core adds for the replace itself
    if (o.functions.length && !own.length) continue
    objs.push({
      name: o.name === 'vmlinux' ? null : o.name,
      funcs: own.map(f => ({ oldName: f.name, oldSympos: f.sympos, newFunc: replacements.get(key(o.name, f.name, f.sympos))! })),
    })
  }

  const def = defineModule({
    name: patch.name,
    livepatch: true,
    intree: taint !== null && !taint.includes('O'),
    license: 'GPL',
    description: 'klpsim: a livepatch replayed from a recording',
    functions,
    init: (ctx) => ctx.klp.patch({ replace, objs }),
    exit: () => {},
  })
  return { def, nops, replacements }
}

/** A livepatch module that is loaded but whose patch is gone (disabled and freed, or replaced). */
export function patchlessModule (mod: RecordedModule, moduleSymbols: Map<string, NeededSymbol> | undefined): ModuleDefinition {
  const functions: Record<string, ModuleFunctionSpec> = {}
  for (const s of moduleSymbols?.values() ?? []) functions[s.name] = { impl: nothing, size: s.sizes[0] ?? DEFAULT_FUNCTION_SIZE }
  return defineModule({
    name: mod.name,
    livepatch: true,
    intree: mod.taint !== null && !mod.taint.includes('O'),
    license: 'GPL',
    description: 'klpsim: a livepatch module replayed from a recording (its patch was gone)',
    functions,
    exit: () => {},
  })
}
