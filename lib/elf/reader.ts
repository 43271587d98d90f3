import { ENOEXEC } from '../kobject/errno'
import {
  EI_CLASS, EI_DATA, EI_VERSION, ELF64_EHDR_SIZE, ELF64_RELA_SIZE, ELF64_SHDR_SIZE, ELF64_SYM_SIZE,
  ELFCLASS32, ELFCLASS64, ELFDATA2LSB, ELFMAG, EM_AARCH64, EM_X86_64, ET_REL, EV_CURRENT,
  SHF_INFO_LINK, SHN_LORESERVE, SHN_UNDEF, SHT_NOBITS, SHT_NULL, SHT_REL, SHT_RELA, SHT_STRTAB,
  SHT_SYMTAB, elf64StBind, elf64StType, machineName, relocWidth,
} from './constants'

/** Malformed or unsupported ELF input; the kernel's module loader answers these with -ENOEXEC. */
export class ElfFormatError extends Error {
  readonly errno = ENOEXEC
  readonly code = 'ENOEXEC'
  constructor(message: string) {
    // Names come from the file: keep the message on one line whatever bytes they hold.
    super(message.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`))
    this.name = 'ElfFormatError'
  }
}

export interface ElfSection {
  readonly index: number
  readonly name: string
  readonly nameOffset: number
  readonly type: number
  /** sh_flags; every flag we test lives in the low 32 bits, so `&` on this number is safe. */
  readonly flags: number
  readonly addr: bigint
  readonly offset: number
  /** sh_size (exact for sections with file data; an SHT_NOBITS size above 2^53 is rounded). */
  readonly size: number
  readonly link: number
  readonly info: number
  readonly addralign: bigint
  readonly entsize: bigint
  /** View of the section bytes inside the ElfFile's own copy of the file (mutable; empty for SHT_NOBITS). */
  readonly data: Buffer
}

export interface ElfSymbol {
  readonly index: number
  readonly name: string
  readonly nameOffset: number
  /** st_value; livepatch symbol resolution overwrites it (use ElfFile.setSymbolValue). */
  value: bigint
  readonly size: bigint
  readonly info: number
  readonly bind: number
  readonly type: number
  readonly other: number
  readonly shndx: number
}

export interface ElfRela {
  readonly offset: bigint
  readonly info: bigint
  readonly type: number
  readonly sym: number
  readonly addend: bigint
}

const THIS_MODULE_SECTION = '.gnu.linkonce.this_module'
// offsetof(struct module, name) on 64-bit: after `enum module_state state` (4, padded to 8) and
// `struct list_head list` (16).  MODULE_NAME_LEN = 64 - sizeof(unsigned long) = 56.
export const THIS_MODULE_NAME_OFFSET = 0x18
export const MODULE_NAME_LEN = 56

function fail(msg: string): never {
  throw new ElfFormatError(msg)
}

function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`
}

/** A NUL-terminated string at `off` of a string table, or an ElfFormatError. */
function readString(table: ElfSection, off: number, what: string): string {
  const d = table.data
  if (off >= d.length) fail(`${what}: string offset ${off} out of range (${table.name || 'string table'} size ${d.length})`)
  const end = d.indexOf(0, off)
  if (end < 0) fail(`${what}: unterminated string at offset ${off} of ${table.name || 'string table'}`)
  return d.toString('utf8', off, end)
}

export class ElfFile {
  readonly machine: number
  readonly type: number
  readonly shstrndx: number
  readonly sections: readonly ElfSection[]
  readonly symtab: ElfSection | null
  readonly strtab: ElfSection | null
  readonly symbols: readonly ElfSymbol[]
  private readonly relaTables: Map<number, readonly ElfRela[]>
  private readonly byName = new Map<string, ElfSection[]>()

  /** @internal use parseElf() */
  constructor(readonly buffer: Buffer, parts: {
    machine: number; type: number; shstrndx: number; sections: ElfSection[]
    symtab: ElfSection | null; strtab: ElfSection | null; symbols: ElfSymbol[]; relas: Map<number, ElfRela[]>
  }) {
    this.machine = parts.machine
    this.type = parts.type
    this.shstrndx = parts.shstrndx
    this.sections = parts.sections
    this.symtab = parts.symtab
    this.strtab = parts.strtab
    this.symbols = parts.symbols
    this.relaTables = parts.relas
    for (const s of parts.sections) {
      const list = this.byName.get(s.name)
      if (list) list.push(s)
      else this.byName.set(s.name, [s])
    }
  }

  section(index: number): ElfSection | undefined {
    return this.sections[index]
  }

  /** First section with this name. */
  sectionByName(name: string): ElfSection | undefined {
    return this.byName.get(name)?.[0]
  }

  sectionsByName(name: string): readonly ElfSection[] {
    return this.byName.get(name) ?? []
  }

  symbol(index: number): ElfSymbol | undefined {
    return this.symbols[index]
  }

  /** Parsed entries of a SHT_RELA section (empty for any other section). */
  relas(section: ElfSection | number): readonly ElfRela[] {
    return this.relaTables.get(typeof section === 'number' ? section : section.index) ?? []
  }

  /** Writes st_value both in the parsed symbol and in the owned file bytes, as the kernel does in its copy. */
  setSymbolValue(index: number, value: bigint): void {
    const sym = this.symbols[index]
    if (!sym || !this.symtab) throw new RangeError(`no symbol ${index}`)
    sym.value = BigInt.asUintN(64, value)
    this.symtab.data.writeBigUInt64LE(sym.value, index * ELF64_SYM_SIZE + 8)
  }

  /**
   * `.modinfo` entries in file order.  The section is a sequence of NUL-terminated
   * `key=value` strings; empty strings (alignment padding) and strings without '='
   * are skipped (the kernel's get_modinfo() can never match them either).
   */
  modinfo(): Array<[string, string]> {
    const sec = this.sectionByName('.modinfo')
    if (!sec) return []
    const out: Array<[string, string]> = []
    const d = sec.data
    let p = 0
    while (p < d.length) {
      let end = d.indexOf(0, p)
      if (end < 0) end = d.length
      if (end > p) {
        const entry = d.toString('utf8', p, end)
        const eq = entry.indexOf('=')
        if (eq >= 0) out.push([entry.slice(0, eq), entry.slice(eq + 1)])
      }
      p = end + 1
    }
    return out
  }

  /**
   * struct module's `name` (NUL-terminated within MODULE_NAME_LEN bytes at offset 0x18 of
   * .gnu.linkonce.this_module), or null when the section is missing, too short or the name
   * is not terminated.
   */
  thisModuleName(): string | null {
    const sec = this.sectionByName(THIS_MODULE_SECTION)
    if (!sec || sec.type === SHT_NOBITS) return null
    const d = sec.data
    if (d.length <= THIS_MODULE_NAME_OFFSET) return null
    const limit = Math.min(d.length, THIS_MODULE_NAME_OFFSET + MODULE_NAME_LEN)
    const end = d.subarray(0, limit).indexOf(0, THIS_MODULE_NAME_OFFSET)
    if (end < 0) return null
    return d.toString('utf8', THIS_MODULE_NAME_OFFSET, end)
  }
}

/**
 * Parse and validate an ELF64 little-endian relocatable file for x86_64 or aarch64.
 * Every malformation raises ElfFormatError (errno ENOEXEC); the input is copied, so the
 * returned ElfFile owns (and may modify) its bytes.  Nothing is allocated from a count read
 * in the file before that count is checked against the file size.
 */
export function parseElf(input: Buffer | Uint8Array): ElfFile {
  const buf = Buffer.from(input)
  const len = buf.length

  if (len < ELF64_EHDR_SIZE) fail(`Invalid ELF header len ${len}`)
  if (buf.compare(ELFMAG, 0, 4, 0, 4) !== 0) fail('Invalid ELF header magic: != \\177ELF')
  const cls = buf[EI_CLASS]
  if (cls === ELFCLASS32) fail('Unsupported ELF class ELFCLASS32: only ELFCLASS64 files are supported')
  if (cls !== ELFCLASS64) fail(`Invalid ELF class ${cls}`)
  const data = buf[EI_DATA]
  if (data !== ELFDATA2LSB) fail(`Unsupported ELF data encoding ${data}: only ELFDATA2LSB (little-endian) is supported`)
  if (buf[EI_VERSION] !== EV_CURRENT) fail(`Invalid ELF ident version ${buf[EI_VERSION]}`)

  const type = buf.readUInt16LE(16)
  const machine = buf.readUInt16LE(18)
  const version = buf.readUInt32LE(20)
  const shoff = buf.readBigUInt64LE(40)
  const ehsize = buf.readUInt16LE(52)
  const shentsize = buf.readUInt16LE(58)
  const shnum = buf.readUInt16LE(60)
  const shstrndx = buf.readUInt16LE(62)

  if (type !== ET_REL) fail(`Invalid ELF header type: ${type} != ${ET_REL}`)
  if (machine !== EM_X86_64 && machine !== EM_AARCH64) {
    fail(`Invalid architecture in ELF header: ${machine} (${machineName(machine)}); only EM_X86_64 (${EM_X86_64}) and EM_AARCH64 (${EM_AARCH64}) are supported`)
  }
  if (version !== EV_CURRENT) fail(`Invalid ELF version ${version}`)
  if (ehsize !== ELF64_EHDR_SIZE) fail(`Invalid ELF header size e_ehsize ${ehsize} != ${ELF64_EHDR_SIZE}`)
  if (shentsize !== ELF64_SHDR_SIZE) fail(`Invalid ELF section header size e_shentsize ${shentsize} != ${ELF64_SHDR_SIZE}`)
  if (shnum === 0) fail('ELF file has no section headers (e_shnum 0)')
  // e_shnum is 16-bit, so the table is at most 4 MiB; it must lie inside the file.
  if (shoff >= BigInt(len) || BigInt(shnum * ELF64_SHDR_SIZE) > BigInt(len) - shoff) {
    fail(`Invalid ELF section header overflow: ${shnum} headers at ${hex(shoff)} exceed the ${len}-byte file`)
  }
  const tableOff = Number(shoff)
  if (tableOff < ELF64_EHDR_SIZE) fail(`Section header table at ${hex(tableOff)} overlaps the ELF header`)

  interface Raw { name: number; type: number; flags: bigint; addr: bigint; offset: bigint; size: bigint; link: number; info: number; align: bigint; entsize: bigint }
  const raw: Raw[] = []
  for (let i = 0; i < shnum; i++) {
    const h = tableOff + i * ELF64_SHDR_SIZE
    raw.push({
      name: buf.readUInt32LE(h),
      type: buf.readUInt32LE(h + 4),
      flags: buf.readBigUInt64LE(h + 8),
      addr: buf.readBigUInt64LE(h + 16),
      offset: buf.readBigUInt64LE(h + 24),
      size: buf.readBigUInt64LE(h + 32),
      link: buf.readUInt32LE(h + 40),
      info: buf.readUInt32LE(h + 44),
      align: buf.readBigUInt64LE(h + 48),
      entsize: buf.readBigUInt64LE(h + 56),
    })
  }
  const s0 = raw[0]
  if (s0.type !== SHT_NULL || s0.size !== 0n || s0.addr !== 0n) {
    fail(`ELF Spec violation: section 0 type(${s0.type})!=SH_NULL or non-zero len or addr`)
  }

  const blen = BigInt(len)
  for (let i = 1; i < shnum; i++) {
    const r = raw[i]
    if (r.type === SHT_NULL || r.type === SHT_NOBITS) continue
    const end = r.offset + r.size
    if (end > blen) {
      fail(`Invalid ELF section in module (section ${i} type ${r.type}): data [${hex(r.offset)}, ${hex(end)}) beyond the ${len}-byte file`)
    }
  }

  if (shstrndx === SHN_UNDEF || shstrndx >= shnum) {
    fail(`Invalid ELF section name index: ${shstrndx} || e_shstrndx (${shstrndx}) >= e_shnum (${shnum})`)
  }
  const shstr = raw[shstrndx]
  if (shstr.type !== SHT_STRTAB) fail(`ELF Spec violation: e_shstrndx (${shstrndx}) doesn't point to SHT_STRTAB`)
  if (shstr.size === 0n) fail('empty section name table')
  const shstrData = buf.subarray(Number(shstr.offset), Number(shstr.offset + shstr.size))
  if (shstrData[shstrData.length - 1] !== 0) fail("ELF Spec violation: section name table isn't null terminated")

  const sections: ElfSection[] = []
  for (let i = 0; i < shnum; i++) {
    const r = raw[i]
    let name = ''
    if (r.type !== SHT_NULL) {
      if (r.name >= shstrData.length) fail(`Invalid ELF section name in module (section ${i} type ${r.type}): sh_name ${r.name} out of range`)
      name = shstrData.toString('utf8', r.name, shstrData.indexOf(0, r.name))
    }
    if (r.link >= shnum) fail(`section ${i} (${name}): sh_link ${r.link} out of range (e_shnum ${shnum})`)
    const infoIsIndex = r.type === SHT_RELA || r.type === SHT_REL || (r.flags & BigInt(SHF_INFO_LINK)) !== 0n
    if (infoIsIndex && r.info >= shnum) fail(`section ${i} (${name}): sh_info ${r.info} out of range (e_shnum ${shnum})`)
    const hasData = r.type !== SHT_NULL && r.type !== SHT_NOBITS
    const offset = hasData ? Number(r.offset) : (r.offset <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(r.offset) : Number.MAX_SAFE_INTEGER)
    sections.push({
      index: i,
      name,
      nameOffset: r.name,
      type: r.type,
      flags: Number(r.flags),
      addr: r.addr,
      offset,
      size: Number(r.size),
      link: r.link,
      info: r.info,
      addralign: r.align,
      entsize: r.entsize,
      data: hasData ? buf.subarray(offset, offset + Number(r.size)) : buf.subarray(0, 0),
    })
  }

  // File ranges must not overlap each other, the ELF header or the section header table.
  const ranges: Array<{ start: number; end: number; what: string }> = [
    { start: 0, end: ELF64_EHDR_SIZE, what: 'the ELF header' },
    { start: tableOff, end: tableOff + shnum * ELF64_SHDR_SIZE, what: 'the section header table' },
  ]
  for (const s of sections) {
    if (s.type === SHT_NULL || s.type === SHT_NOBITS || s.size === 0) continue
    ranges.push({ start: s.offset, end: s.offset + s.size, what: `section ${s.index} (${s.name})` })
  }
  ranges.sort((a, b) => a.start - b.start || a.end - b.end)
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i].start < ranges[i - 1].end) fail(`ELF file data overlap: ${ranges[i - 1].what} and ${ranges[i].what}`)
  }

  // Symbol table (the module loader insists on exactly one; a plain object file may have none).
  const symtabs = sections.filter((s) => s.type === SHT_SYMTAB)
  if (symtabs.length > 1) fail(`ELF file has ${symtabs.length} symbol tables`)
  const symtab = symtabs[0] ?? null
  let strtab: ElfSection | null = null
  const symbols: ElfSymbol[] = []
  if (symtab) {
    if (symtab.entsize !== BigInt(ELF64_SYM_SIZE)) fail(`symbol table ${symtab.name}: sh_entsize ${symtab.entsize} != ${ELF64_SYM_SIZE}`)
    if (symtab.size % ELF64_SYM_SIZE !== 0) fail(`symbol table ${symtab.name}: size ${symtab.size} is not a multiple of ${ELF64_SYM_SIZE}`)
    if (symtab.link === SHN_UNDEF) fail(`symbol table ${symtab.name}: sh_link is SHN_UNDEF (no string table)`)
    strtab = sections[symtab.link]
    if (strtab.type !== SHT_STRTAB) fail(`symbol table ${symtab.name}: sh_link ${symtab.link} is not a SHT_STRTAB section`)
    const count = symtab.size / ELF64_SYM_SIZE
    if (symtab.info > count) fail(`symbol table ${symtab.name}: sh_info ${symtab.info} beyond its ${count} symbols`)
    const d = symtab.data
    for (let i = 0; i < count; i++) {
      const o = i * ELF64_SYM_SIZE
      const nameOffset = d.readUInt32LE(o)
      const info = d[o + 4]
      const shndx = d.readUInt16LE(o + 6)
      if (nameOffset >= strtab.size && !(nameOffset === 0 && strtab.size === 0)) {
        fail(`symbol ${i}: st_name ${nameOffset} out of range (${strtab.name} size ${strtab.size})`)
      }
      const name = strtab.size === 0 ? '' : readString(strtab, nameOffset, `symbol ${i}`)
      if (shndx !== SHN_UNDEF && shndx < SHN_LORESERVE && shndx >= shnum) {
        fail(`symbol ${i} (${name}): st_shndx ${shndx} out of range (e_shnum ${shnum})`)
      }
      symbols.push({
        index: i,
        name,
        nameOffset,
        value: d.readBigUInt64LE(o + 8),
        size: d.readBigUInt64LE(o + 16),
        info,
        bind: elf64StBind(info),
        type: elf64StType(info),
        other: d[o + 5],
        shndx,
      })
    }
  }

  const relas = new Map<number, ElfRela[]>()
  for (const s of sections) {
    if (s.type !== SHT_RELA) continue
    if (s.entsize !== BigInt(ELF64_RELA_SIZE)) fail(`relocation section ${s.name}: sh_entsize ${s.entsize} != ${ELF64_RELA_SIZE}`)
    if (s.size % ELF64_RELA_SIZE !== 0) fail(`relocation section ${s.name}: size ${s.size} is not a multiple of ${ELF64_RELA_SIZE}`)
    if (!symtab || s.link !== symtab.index) fail(`relocation section ${s.name}: sh_link ${s.link} is not the symbol table`)
    if (s.info === SHN_UNDEF) fail(`relocation section ${s.name}: sh_info names no target section`)
    const target = sections[s.info]
    if (target.type === SHT_NOBITS || target.type === SHT_NULL) fail(`relocation section ${s.name}: target section ${s.info} (${target.name}) has no file data`)
    const list: ElfRela[] = []
    const d = s.data
    const count = s.size / ELF64_RELA_SIZE
    const tsize = BigInt(target.size)
    for (let i = 0; i < count; i++) {
      const o = i * ELF64_RELA_SIZE
      const offset = d.readBigUInt64LE(o)
      const info = d.readBigUInt64LE(o + 8)
      const sym = Number(info >> 32n)
      const rtype = Number(info & 0xffffffffn)
      if (sym >= symbols.length) fail(`relocation ${i} in ${s.name}: symbol index ${sym} out of range (${symbols.length} symbols)`)
      const width = BigInt(relocWidth(machine, rtype) ?? 1)
      if (offset + width > tsize) {
        fail(`relocation ${i} in ${s.name}: offset ${hex(offset)} beyond ${target.name} (size ${hex(target.size)})`)
      }
      list.push({ offset, info, type: rtype, sym, addend: d.readBigInt64LE(o + 16) })
    }
    relas.set(s.index, list)
  }

  return new ElfFile(buf, { machine, type, shstrndx, sections, symtab, strtab, symbols, relas })
}
