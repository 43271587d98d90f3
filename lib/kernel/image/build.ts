// Lays out the vmlinux symbol table: the default image, or the symbol set of a
// real kernel read from /proc/kallsyms or System.map.
import { Ksym, SymbolTable } from '../kallsyms'
import { defaultImageSymbols, ImageSymbol } from './symbols'
import { KERNEL_FUNCTIONS } from './functions'

export const TEXT_BASE = 0xffffffff81000000n
export const DATA_BASE = 0xffffffff82800000n

/** A symbol as read from a kallsyms dump (sizes derived from neighbours). */
export interface ExternalSymbol { addr: bigint, type: string, name: string, module: string | null, size: number }

export function buildDefaultVmlinux (): SymbolTable {
  const { text, data } = defaultImageSymbols()
  const table = new SymbolTable(null)
  let addr = TEXT_BASE
  const place = (s: ImageSymbol, base: bigint, align: bigint): bigint => {
    const sym = new Ksym(s.name, base, s.size, s.type, null)
    if (s.notrace) sym.notrace = true
    if (s.flags) sym.flags = s.flags
    table.add(sym)
    return (base + BigInt(s.size) + align - 1n) & ~(align - 1n)
  }
  for (const s of text) addr = place(s, addr, 16n)
  let daddr = DATA_BASE
  for (const s of data) daddr = place(s, daddr, 8n)
  attachImplementations(table)
  return table
}

/** Where functions the simulation runs but a real symbol table lacks are placed. */
export const INTERNALS_BASE = 0xffffffffff000000n

/** Functions the simulation itself calls by name (syscall entry, scheduling, seq_file, workqueues). */
export const SIMULATION_INTERNALS = [...Object.keys(KERNEL_FUNCTIONS), 'klp_transition_work_fn', 'klp_free_patch_work_fn']

/**
 * vmlinux from a real kernel's symbol list: exactly those symbols, in address
 * order. Functions the simulation needs that the list lacks are appended in a
 * region of their own, marked notrace so they can never be patched.
 */
export function buildExternalVmlinux (symbols: readonly ExternalSymbol[]): { table: SymbolTable, added: string[] } {
  const table = new SymbolTable(null)
  for (const s of symbols) {
    if (s.module) continue
    table.add(new Ksym(s.name, s.addr, s.size, s.type, null))
  }
  table.sortByAddress()
  const added: string[] = []
  let addr = INTERNALS_BASE
  for (const name of SIMULATION_INTERNALS) {
    if (table.matches(name).length) continue
    const sym = new Ksym(name, addr, 0x40, 't', null)
    sym.notrace = true
    table.add(sym)
    added.push(name)
    addr += 0x40n
  }
  attachImplementations(table)
  return { table, added }
}

/** Gives the simulated functions their code, by name (unique names only). */
function attachImplementations (table: SymbolTable): void {
  for (const [name, impl] of Object.entries(KERNEL_FUNCTIONS)) {
    const matches = table.matches(name)
    if (matches.length === 1) matches[0].impl = impl
  }
  for (const name of ['__schedule', 'ret_from_fork_asm', 'entry_SYSCALL_64_after_hwframe', 'do_syscall_64']) {
    for (const s of table.matches(name)) s.notrace = true
  }
}
