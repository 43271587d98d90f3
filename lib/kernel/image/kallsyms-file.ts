// Reading a real kernel's symbol table (/proc/kallsyms dump or System.map) for
// `--kallsyms FILE`: addresses, types, duplicates and sizes as kallsyms derives them.
import { readFileSync, statSync } from 'node:fs'
import { deriveSizes, parseKallsyms } from '../../elf/kallsyms-file'
import type { ExternalSymbol } from './build'

const MAX_FILE = 512 * 1024 * 1024

export function readKallsymsFile (path: string): ExternalSymbol[] {
  let size: number
  try { size = statSync(path).size } catch (e) { throw new Error(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`) }
  if (size > MAX_FILE) throw new Error(`${path} is ${size} bytes; a symbol table of more than 512 MiB is not plausible`)
  const entries = parseKallsyms(readFileSync(path))
  if (entries.length === 0) throw new Error(`${path} holds no symbols`)
  if (entries.every(e => e.addr === 0n)) {
    throw new Error(`${path} has no addresses (all zero): dump /proc/kallsyms as root, with kernel.kptr_restrict=0`)
  }
  return deriveSizes(entries).map(e => ({ addr: e.addr, type: e.type, name: e.name, module: e.module, size: Number(e.size > 0x7fffffffn ? 0x7fffffffn : e.size) }))
}
