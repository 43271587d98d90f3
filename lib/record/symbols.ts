// The symbols a replay needs that the simulated kernel's image lacks: every
// occurrence of a patched function (so that its sympos resolves), and every
// function a recorded stack names, with the size the stack shows
// (`func+0xoff/0xsize`). Missing vmlinux functions are added to vmlinux;
// functions of recorded modules become those modules' symbols.
import { Ksym } from '../kernel/kallsyms'
import type { Kernel } from '../kernel/kernel'
import { parseStackFrame, RecordFixture } from './format'

export const DEFAULT_FUNCTION_SIZE = 0x40

export interface NeededSymbol {
  name: string
  type: string
  /** Size of each occurrence, in kallsyms order (undefined: not known). */
  sizes: Array<number | undefined>
}

/** Needed symbols per object (vmlinux or a module name), in first-seen order. */
export type SymbolNeeds = Map<string, Map<string, NeededSymbol>>

const align = (v: bigint, a: bigint): bigint => (v + a - 1n) & ~(a - 1n)

/** Everything the fixture names: kallsyms entries, patched functions of the first snapshot, stack frames of every snapshot. */
export function symbolNeeds (fx: RecordFixture): SymbolNeeds {
  const needs: SymbolNeeds = new Map()
  const entry = (object: string, name: string, type = 't'): NeededSymbol => {
    let byName = needs.get(object)
    if (!byName) needs.set(object, byName = new Map())
    let n = byName.get(name)
    if (!n) byName.set(name, n = { name, type, sizes: [] })
    return n
  }
  const recordedCount = new Map<NeededSymbol, number>()
  for (const s of fx.symbols) {
    const n = entry(s.object, s.name, s.type)
    const i = recordedCount.get(n) ?? 0
    n.sizes[i] = s.size ?? undefined
    recordedCount.set(n, i + 1)
  }
  for (const p of fx.snapshots[0].patches) {
    for (const o of p.objects) {
      for (const f of o.functions) {
        const n = entry(o.name, f.name)
        while (n.sizes.length < Math.max(1, f.sympos)) n.sizes.push(undefined)
      }
    }
  }
  for (const snap of fx.snapshots) {
    for (const t of snap.tasks) {
      for (const line of t.stack ?? []) {
        const f = parseStackFrame(line)
        if (!f) continue
        const n = entry(f.module ?? 'vmlinux', f.name)
        // the size a stack shows is exact; kallsyms distances are only an upper bound
        const i = n.sizes.indexOf(f.size)
        if (i < 0) n.sizes[0] = f.size
      }
    }
  }
  return needs
}

/**
 * Gives vmlinux every needed function: existing ones take the recorded size,
 * missing occurrences are added after the image's last symbol. Returns the
 * names added.
 */
export function ensureVmlinuxSymbols (k: Kernel, needs: Map<string, NeededSymbol> | undefined): string[] {
  if (!needs) return []
  const table = k.kallsyms.vmlinux
  let addr = 0n
  for (const s of table.syms) if (s.addr + BigInt(s.size) > addr) addr = s.addr + BigInt(s.size)
  addr = align(addr, 0x1000n)
  const added: string[] = []
  for (const need of needs.values()) {
    const existing = table.matches(need.name).filter(s => s.isText)
    const count = Math.max(need.sizes.length, 1)
    for (let i = 0; i < count; i++) {
      const size = need.sizes[i]
      if (i < existing.length) {
        if (size !== undefined && size > 0) existing[i].size = size
        continue
      }
      const sym = new Ksym(need.name, addr, size ?? DEFAULT_FUNCTION_SIZE, /^[tTwW]$/.test(need.type) ? need.type : 't', null)
      table.add(sym)
      added.push(need.name)
      addr = align(addr + BigInt(sym.size), 16n)
    }
  }
  k.kallsyms.invalidate()
  return added
}

/** The symbols of a module that was loaded on the recorded host and whose code is not simulated. */
export function residentSymbols (needs: Map<string, NeededSymbol>, base: bigint): Array<{ addr: bigint, type: string, name: string, size: number }> {
  const out: Array<{ addr: bigint, type: string, name: string, size: number }> = []
  let addr = base
  for (const need of needs.values()) {
    for (let i = 0; i < Math.max(1, need.sizes.length); i++) {
      const size = need.sizes[i] ?? DEFAULT_FUNCTION_SIZE
      out.push({ addr, type: /^[tTwW]$/.test(need.type) ? need.type : 't', name: need.name, size })
      addr = align(addr + BigInt(Math.max(size, 1)), 16n)
    }
  }
  return out
}
