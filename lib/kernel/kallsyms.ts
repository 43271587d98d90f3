// kallsyms: the symbols of vmlinux and of every loaded module, in kallsyms
// (address) order, with lookups by name, by (object, name, position) and by address.
import type { FunctionSite } from './ftrace'

/** A simulated kernel function: runs on the calling task (ctx), may be async when it sleeps. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KFunc = (ctx: any, ...args: any[]) => any

export interface SymbolFlags {
  /** Offset of a static key (jump label) site inside the function. */
  staticKeyAt?: number
  /** Offset of a static call site inside the function. */
  staticCallAt?: number
  /** The first bytes contain a call instruction (stop_machine "jump instruction" heuristic). */
  callInPrologue?: boolean
}

export class Ksym {
  /** ftrace call site, present while any ftrace_ops is attached to this function. */
  site: FunctionSite | undefined = undefined
  /** A jump or breakpoint written over the function's first bytes (text patching). */
  jump: ((ctx: any) => Ksym | undefined) | undefined = undefined
  impl: KFunc | undefined = undefined
  /** The owner object's per-instance data for module code (set by the module loader). */
  owner: unknown = undefined
  notrace = false
  flags: SymbolFlags | undefined = undefined
  /** Offset of the return address shown while this function is calling another. */
  readonly callOff: number

  constructor (
    readonly name: string,
    readonly addr: bigint,
    public size: number,
    readonly type: string,
    /** null = vmlinux, else the module name. */
    readonly object: string | null,
  ) {
    this.callOff = size > 8 ? Math.max(5, Math.floor(size * 0.37)) : Math.max(0, size - 1)
  }

  get isText (): boolean { return this.type === 'T' || this.type === 't' || this.type === 'W' || this.type === 'w' }
  get objectName (): string { return this.object ?? 'vmlinux' }
}

/** One object's symbols (vmlinux or a module). */
export class SymbolTable {
  readonly syms: Ksym[] = []
  private readonly byName = new Map<string, Ksym[]>()

  constructor (readonly object: string | null) {}

  add (sym: Ksym): void {
    this.syms.push(sym)
    const list = this.byName.get(sym.name)
    if (list) list.push(sym)
    else this.byName.set(sym.name, [sym])
  }

  /** Every symbol with this exact name, in kallsyms order. */
  matches (name: string): readonly Ksym[] {
    return this.byName.get(name) ?? EMPTY
  }

  sortByAddress (): void {
    this.syms.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0))
    for (const list of this.byName.values()) list.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0))
  }
}

const EMPTY: readonly Ksym[] = Object.freeze([])

export interface AddressLookup { sym: Ksym, offset: number }

export class Kallsyms {
  readonly vmlinux = new SymbolTable(null)
  /** Loaded modules' tables, newest first (the order of the kernel's module list). */
  private modules: SymbolTable[] = []
  private sorted: Ksym[] | null = null

  table (object: string | null): SymbolTable | undefined {
    if (object === null || object === 'vmlinux') return this.vmlinux
    return this.modules.find(t => t.object === object)
  }

  addModule (table: SymbolTable): void {
    this.modules.unshift(table)
    this.sorted = null
  }

  removeModule (object: string): void {
    this.modules = this.modules.filter(t => t.object !== object)
    this.sorted = null
  }

  moduleTables (): readonly SymbolTable[] { return this.modules }

  /** kallsyms_lookup_name: vmlinux first, then modules. */
  lookupName (name: string): Ksym | undefined {
    const v = this.vmlinux.matches(name)
    if (v.length) return v[0]
    for (const t of this.modules) {
      const m = t.matches(name)
      if (m.length) return m[0]
    }
    return undefined
  }

  /** Symbols with this name in one object, in kallsyms order. */
  matches (object: string | null, name: string): readonly Ksym[] {
    return this.table(object)?.matches(name) ?? EMPTY
  }

  invalidate (): void { this.sorted = null }

  private allSorted (): Ksym[] {
    if (!this.sorted) {
      const all: Ksym[] = [...this.vmlinux.syms]
      for (const t of this.modules) all.push(...t.syms)
      all.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0))
      this.sorted = all
    }
    return this.sorted
  }

  /** kallsyms_lookup_size_offset: the symbol containing addr, and the offset into it. */
  lookupAddress (addr: bigint): AddressLookup | undefined {
    const all = this.allSorted()
    let lo = 0
    let hi = all.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (all[mid].addr <= addr) { found = mid; lo = mid + 1 } else hi = mid - 1
    }
    if (found < 0) return undefined
    const sym = all[found]
    const offset = Number(addr - sym.addr)
    if (sym.size > 0 && offset >= sym.size) return undefined
    return { sym, offset }
  }

  /** Lines of /proc/kallsyms. */
  * lines (): Generator<string> {
    for (const s of this.vmlinux.syms) yield `${hex16(s.addr)} ${s.type} ${s.name}\n`
    for (const t of this.modules) for (const s of t.syms) yield `${hex16(s.addr)} ${s.type} ${s.name}\t[${t.object}]\n`
  }
}

export function hex16 (v: bigint): string {
  return v.toString(16).padStart(16, '0')
}

/** `name+0xoff/0xsize` as %pS prints it (with ` [module]` for module symbols). */
export function formatSymbolOffset (sym: Ksym, offset: number, withModule = true): string {
  const base = `${sym.name}+0x${offset.toString(16)}/0x${sym.size.toString(16)}`
  return withModule && sym.object ? `${base} [${sym.object}]` : base
}
