import {
  ELF64_EHDR_SIZE, ELF64_RELA_SIZE, ELF64_SHDR_SIZE, ELF64_SYM_SIZE, ELFCLASS64, ELFDATA2LSB,
  ELFMAG, ELFOSABI_NONE, ET_REL, EV_CURRENT, SHN_UNDEF, SHT_GROUP, SHT_NOBITS, SHT_NULL, SHT_REL,
  SHT_RELA, SHT_STRTAB, SHT_SYMTAB, SHT_SYMTAB_SHNDX, SHF_INFO_LINK, STB_GLOBAL, STB_LOCAL, STT_FILE,
  STT_NOTYPE, STT_SECTION, elf64StInfo,
} from './constants'

export type Num = number | bigint

/** Which section a header field points at: a section, one of the generated tables, or a raw index. */
export type SectionRef = WriterSection | 'symtab' | 'strtab' | 'shstrtab' | number

export interface SectionOptions {
  type: number
  flags?: number
  /** Contents; for SHT_NOBITS only its length is used unless `size` is given. */
  data?: Buffer
  /** sh_size of an SHT_NOBITS section. */
  size?: number
  addr?: bigint
  addralign?: number
  entsize?: number
  link?: SectionRef
  info?: SectionRef
  /** Emit an STT_SECTION symbol for it (default: yes, except for symbol/string/relocation/group tables). */
  sectionSymbol?: boolean
}

export interface SymbolOptions {
  name: string
  value?: Num
  size?: Num
  bind?: number
  type?: number
  other?: number
  /** Defining section, or a raw st_shndx such as SHN_UNDEF, SHN_ABS or SHN_LIVEPATCH. */
  section?: WriterSection | number
}

export class WriterSymbol {
  /** Symbol table index, known once `build()` ran. */
  index = -1
  constructor(readonly opts: Readonly<Required<Omit<SymbolOptions, 'section'>>> & { section: WriterSection | number }) {}
  get isLocal(): boolean {
    return this.opts.bind === STB_LOCAL
  }
}

export interface RelaEntry {
  offset: Num
  type: number
  /** A symbol, or a raw symbol index. */
  symbol: WriterSymbol | number
  addend: Num
}

export class WriterSection {
  symbol: WriterSymbol | null = null
  readonly relas: RelaEntry[] = []
  constructor(readonly index: number, readonly name: string, readonly opts: SectionOptions) {}

  /** Append an Elf64_Rela entry (only meaningful for SHT_RELA sections). */
  addRela(offset: Num, type: number, symbol: WriterSymbol | number, addend: Num = 0): this {
    if (this.opts.type !== SHT_RELA) throw new TypeError(`${this.name} is not a SHT_RELA section`)
    this.relas.push({ offset, type, symbol, addend })
    return this
  }
}

export interface ElfWriterOptions {
  machine: number
  type?: number
  osabi?: number
  flags?: number
  /** Emit .symtab/.strtab (default true). */
  symtab?: boolean
  /** Emit a leading STT_FILE symbol with this name. */
  fileName?: string
}

const U64 = (1n << 64n) - 1n

function toU64(v: Num): bigint {
  return BigInt.asUintN(64, typeof v === 'bigint' ? v : BigInt(v))
}

function alignUp(n: number, a: number): number {
  return a > 1 ? Math.ceil(n / a) * a : n
}

class StringTable {
  private readonly offsets = new Map<string, number>()
  private readonly parts: Buffer[] = [Buffer.alloc(1)]
  private length = 1

  add(s: string): number {
    if (s === '') return 0
    const known = this.offsets.get(s)
    if (known !== undefined) return known
    const bytes = Buffer.from(s, 'utf8')
    if (bytes.includes(0)) throw new RangeError(`string contains NUL: ${JSON.stringify(s)}`)
    const off = this.length
    this.parts.push(bytes, Buffer.alloc(1))
    this.length += bytes.length + 1
    this.offsets.set(s, off)
    return off
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts, this.length)
  }
}

function isMetaType(type: number): boolean {
  return type === SHT_SYMTAB || type === SHT_STRTAB || type === SHT_RELA || type === SHT_REL
    || type === SHT_GROUP || type === SHT_SYMTAB_SHNDX || type === SHT_NULL
}

/**
 * Builder of ELF64 little-endian relocatable files.  Section indexes are
 * assigned in the order sections are added (starting at 1); .symtab, .strtab
 * and .shstrtab follow the user sections; the section header table comes last.
 */
export class ElfWriter {
  private readonly sections: WriterSection[] = []
  private readonly symbols: WriterSymbol[] = []
  private readonly fileSymbol: WriterSymbol | null

  constructor(private readonly options: ElfWriterOptions) {
    this.fileSymbol = options.fileName === undefined ? null : new WriterSymbol({
      name: options.fileName, value: 0, size: 0, bind: STB_LOCAL, type: STT_FILE, other: 0, section: 0xfff1,
    })
  }

  addSection(name: string, opts: SectionOptions): WriterSection {
    const sec = new WriterSection(this.sections.length + 1, name, opts)
    this.sections.push(sec)
    if (opts.sectionSymbol ?? !isMetaType(opts.type)) {
      sec.symbol = new WriterSymbol({ name: '', value: 0, size: 0, bind: STB_LOCAL, type: STT_SECTION, other: 0, section: sec })
    }
    return sec
  }

  /** A SHT_RELA section for `target` (sh_info), linked to .symtab; default name `.rela<target>`. */
  addRelaSection(target: WriterSection | number, opts: { name?: string; flags?: number; link?: SectionRef } = {}): WriterSection {
    const targetName = typeof target === 'number' ? `.sec${target}` : target.name
    return this.addSection(opts.name ?? `.rela${targetName}`, {
      type: SHT_RELA,
      flags: opts.flags ?? SHF_INFO_LINK,
      addralign: 8,
      entsize: ELF64_RELA_SIZE,
      link: opts.link ?? 'symtab',
      info: target,
    })
  }

  addSymbol(opts: SymbolOptions): WriterSymbol {
    const sym = new WriterSymbol({
      name: opts.name,
      value: opts.value ?? 0,
      size: opts.size ?? 0,
      bind: opts.bind ?? STB_GLOBAL,
      type: opts.type ?? STT_NOTYPE,
      other: opts.other ?? 0,
      section: opts.section ?? SHN_UNDEF,
    })
    this.symbols.push(sym)
    return sym
  }

  build(): Buffer {
    const withSymtab = this.options.symtab ?? true
    const user = this.sections
    const symtabIndex = withSymtab ? user.length + 1 : -1
    const strtabIndex = withSymtab ? user.length + 2 : -1
    const shstrtabIndex = user.length + (withSymtab ? 3 : 1)
    const shnum = shstrtabIndex + 1

    const resolveRef = (ref: SectionRef | undefined): number => {
      if (ref === undefined) return 0
      if (typeof ref === 'number') return ref
      if (ref === 'shstrtab') return shstrtabIndex
      if (ref === 'symtab' || ref === 'strtab') {
        if (!withSymtab) throw new RangeError(`reference to .${ref} in a file built without a symbol table`)
        return ref === 'symtab' ? symtabIndex : strtabIndex
      }
      return ref.index
    }

    // Symbol order: null, STT_FILE, section symbols, other locals, then globals (gABI: locals first).
    const ordered: WriterSymbol[] = []
    if (this.fileSymbol) ordered.push(this.fileSymbol)
    if (withSymtab) for (const s of user) if (s.symbol) ordered.push(s.symbol)
    for (const s of this.symbols) if (s.isLocal) ordered.push(s)
    const firstGlobal = ordered.length + 1
    for (const s of this.symbols) if (!s.isLocal) ordered.push(s)
    ordered.forEach((s, i) => { s.index = i + 1 })

    const strtab = new StringTable()
    let symtabData = Buffer.alloc(0)
    if (withSymtab) {
      symtabData = Buffer.alloc((ordered.length + 1) * ELF64_SYM_SIZE)
      ordered.forEach((s, i) => {
        const o = (i + 1) * ELF64_SYM_SIZE
        const sec = s.opts.section
        symtabData.writeUInt32LE(strtab.add(s.opts.name), o)
        symtabData.writeUInt8(elf64StInfo(s.opts.bind, s.opts.type), o + 4)
        symtabData.writeUInt8(s.opts.other & 0xff, o + 5)
        symtabData.writeUInt16LE(typeof sec === 'number' ? sec & 0xffff : sec.index, o + 6)
        symtabData.writeBigUInt64LE(toU64(s.opts.value), o + 8)
        symtabData.writeBigUInt64LE(toU64(s.opts.size), o + 16)
      })
    } else if (ordered.length > 0) {
      throw new RangeError('symbols were added to a file built without a symbol table')
    }

    const shstrtab = new StringTable()
    interface Out { name: number; type: number; flags: number; addr: bigint; data: Buffer; size: number; link: number; info: number; align: number; entsize: number }
    const out: Out[] = []
    for (const s of user) {
      const o = s.opts
      let data = o.data ?? Buffer.alloc(0)
      if (o.type === SHT_RELA && s.relas.length > 0) {
        data = Buffer.alloc(s.relas.length * ELF64_RELA_SIZE)
        s.relas.forEach((r, i) => {
          const sym = typeof r.symbol === 'number' ? r.symbol : r.symbol.index
          if (sym < 0) throw new RangeError(`relocation in ${s.name} references a symbol of another writer`)
          const p = i * ELF64_RELA_SIZE
          data.writeBigUInt64LE(toU64(r.offset), p)
          data.writeBigUInt64LE((BigInt(sym) << 32n | BigInt(r.type >>> 0)) & U64, p + 8)
          data.writeBigInt64LE(BigInt.asIntN(64, typeof r.addend === 'bigint' ? r.addend : BigInt(r.addend)), p + 16)
        })
      }
      out.push({
        name: shstrtab.add(s.name),
        type: o.type,
        flags: o.flags ?? 0,
        addr: o.addr ?? 0n,
        data: o.type === SHT_NOBITS ? Buffer.alloc(0) : data,
        size: o.type === SHT_NOBITS ? (o.size ?? data.length) : data.length,
        link: resolveRef(o.link),
        info: resolveRef(o.info),
        align: o.addralign ?? 1,
        entsize: o.entsize ?? 0,
      })
    }
    if (withSymtab) {
      out.push({ name: shstrtab.add('.symtab'), type: SHT_SYMTAB, flags: 0, addr: 0n, data: symtabData, size: symtabData.length, link: strtabIndex, info: firstGlobal, align: 8, entsize: ELF64_SYM_SIZE })
      const strData = strtab.toBuffer()
      out.push({ name: shstrtab.add('.strtab'), type: SHT_STRTAB, flags: 0, addr: 0n, data: strData, size: strData.length, link: 0, info: 0, align: 1, entsize: 0 })
    }
    const shstrName = shstrtab.add('.shstrtab')
    const shstrData = shstrtab.toBuffer()
    out.push({ name: shstrName, type: SHT_STRTAB, flags: 0, addr: 0n, data: shstrData, size: shstrData.length, link: 0, info: 0, align: 1, entsize: 0 })

    let pos = ELF64_EHDR_SIZE
    const offsets: number[] = []
    for (const s of out) {
      pos = alignUp(pos, s.align)
      offsets.push(pos)
      if (s.type !== SHT_NOBITS) pos += s.data.length
    }
    const shoff = alignUp(pos, 8)
    const buf = Buffer.alloc(shoff + shnum * ELF64_SHDR_SIZE)

    ELFMAG.copy(buf, 0)
    buf[4] = ELFCLASS64
    buf[5] = ELFDATA2LSB
    buf[6] = EV_CURRENT
    buf[7] = this.options.osabi ?? ELFOSABI_NONE
    buf.writeUInt16LE(this.options.type ?? ET_REL, 16)
    buf.writeUInt16LE(this.options.machine, 18)
    buf.writeUInt32LE(EV_CURRENT, 20)
    buf.writeBigUInt64LE(0n, 24) // e_entry
    buf.writeBigUInt64LE(0n, 32) // e_phoff
    buf.writeBigUInt64LE(BigInt(shoff), 40)
    buf.writeUInt32LE(this.options.flags ?? 0, 48)
    buf.writeUInt16LE(ELF64_EHDR_SIZE, 52)
    buf.writeUInt16LE(0, 54) // e_phentsize
    buf.writeUInt16LE(0, 56) // e_phnum
    buf.writeUInt16LE(ELF64_SHDR_SIZE, 58)
    buf.writeUInt16LE(shnum, 60)
    buf.writeUInt16LE(shstrtabIndex, 62)

    out.forEach((s, i) => {
      if (s.type !== SHT_NOBITS) s.data.copy(buf, offsets[i])
      const h = shoff + (i + 1) * ELF64_SHDR_SIZE
      buf.writeUInt32LE(s.name, h)
      buf.writeUInt32LE(s.type >>> 0, h + 4)
      buf.writeBigUInt64LE(BigInt(s.flags), h + 8)
      buf.writeBigUInt64LE(s.addr, h + 16)
      buf.writeBigUInt64LE(BigInt(offsets[i]), h + 24)
      buf.writeBigUInt64LE(BigInt(s.size), h + 32)
      buf.writeUInt32LE(s.link >>> 0, h + 40)
      buf.writeUInt32LE(s.info >>> 0, h + 44)
      buf.writeBigUInt64LE(BigInt(s.align), h + 48)
      buf.writeBigUInt64LE(BigInt(s.entsize), h + 56)
    })
    return buf
  }
}
