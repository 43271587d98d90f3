import {
  EM_AARCH64, EM_X86_64, R_AARCH64_ABS64, R_X86_64_64, SHF_ALLOC, SHF_INFO_LINK, SHF_RELA_LIVEPATCH,
  SHF_WRITE, SHN_LIVEPATCH, SHN_UNDEF, STB_LOCAL, SHT_NOBITS, SHT_PROGBITS, SHT_SYMTAB, STB_GLOBAL, STT_NOTYPE, STT_OBJECT,
} from './constants'
import { parseKlpRelaSecName } from './klp'
import { ElfFile, ElfFormatError, MODULE_NAME_LEN, THIS_MODULE_NAME_OFFSET, parseElf } from './reader'
import { ElfWriter, WriterSection, WriterSymbol } from './writer'

export type KoMachine = 'x86_64' | 'aarch64'

export interface KlpRef {
  /** 'vmlinux' or a module name. */
  object: string
  symbol: string
  sympos: number
}

export interface KoSpec {
  name: string
  machine?: KoMachine
  /** Written in order into .modinfo as `key=value\0`. */
  modinfo?: Array<[string, string]>
  /** Simulator payload, kept in the non-SHF_ALLOC section `.klpsim.module`. */
  payload?: Buffer
  klpRefs?: KlpRef[]
  /** Kernel symbols the module links against: undefined (SHN_UNDEF) global symbols. */
  imports?: string[]
}

export interface KlpRelaSectionInfo {
  index: number
  name: string
  /** Object parsed from the name like the kernel's sscanf(".klp.rela.%55[^.]"), null if it does not parse. */
  objname: string | null
  /** sh_info: the section the relocations patch. */
  target: number
  count: number
}

export interface KoFile {
  elf: ElfFile
  /** struct module's name from .gnu.linkonce.this_module. */
  name: string
  modinfo: Array<[string, string]>
  /** Last value wins. */
  modinfoMap: Map<string, string>
  payload: Buffer | null
  machine: KoMachine
  /** As the kernel's check_modinfo_livepatch(): true when a `livepatch` modinfo key exists at all. */
  livepatch: boolean
  /** First `vermagic` entry, as the kernel's get_modinfo() finds it. */
  vermagic: string | undefined
  /** Sections flagged SHF_RELA_LIVEPATCH, in section order. */
  klpRelaSections: KlpRelaSectionInfo[]
  /** Named undefined global symbols, in symbol-table order: what simplify_symbols resolves. */
  imports: string[]
}

/** sizeof(struct module) the simulated kernel was built with (x86_64 value). */
export const THIS_MODULE_SIZE = 0x500
export const THIS_MODULE_SECTION = '.gnu.linkonce.this_module'
export const PAYLOAD_SECTION = '.klpsim.module'
export const KLP_REFS_SECTION = '.data.klpsim.refs'
export const KLP_REF_SIZE = 8

const MACHINES: Record<KoMachine, number> = { x86_64: EM_X86_64, aarch64: EM_AARCH64 }

/** `.klp.sym.<object>.<symbol>,<sympos>` (Documentation/livepatch/module-elf-format.rst). */
export function klpSymName(ref: KlpRef): string {
  return `.klp.sym.${ref.object}.${ref.symbol},${ref.sympos}`
}

/** `.klp.rela.<object>.<section>`. */
export function klpRelaSecName(object: string, section: string): string {
  return `.klp.rela.${object}.${section}`
}

function checkModuleName(name: string, allowEmpty: boolean): void {
  const bytes = Buffer.byteLength(name, 'utf8')
  if (bytes >= MODULE_NAME_LEN) throw new RangeError(`module name '${name}' is longer than ${MODULE_NAME_LEN - 1} bytes`)
  if (name.includes('\0')) throw new RangeError('module name contains NUL')
  if (!allowEmpty && bytes === 0) throw new RangeError('module name is empty')
}

function checkRef(ref: KlpRef): void {
  const objBytes = Buffer.byteLength(ref.object, 'utf8')
  if (objBytes === 0 || objBytes >= MODULE_NAME_LEN || /[.\0]/.test(ref.object)) {
    throw new RangeError(`invalid livepatch object name '${ref.object}' (1-55 bytes, no '.')`)
  }
  const symBytes = Buffer.byteLength(ref.symbol, 'utf8')
  if (symBytes === 0 || symBytes > 511 || /[,\0]/.test(ref.symbol)) {
    throw new RangeError(`invalid livepatch symbol name '${ref.symbol}' (1-511 bytes, no ',')`)
  }
  if (!Number.isSafeInteger(ref.sympos) || ref.sympos < 0) throw new RangeError(`invalid sympos ${ref.sympos} for '${ref.symbol}'`)
}

export interface KoParts {
  writer: ElfWriter
  thisModule: WriterSection
  modinfo: WriterSection
  payload: WriterSection | null
  refs: WriterSection | null
  klpRelas: Map<string, WriterSection>
  klpSymbols: Map<string, WriterSymbol>
}

/**
 * The ElfWriter behind buildKo(), before build(), for callers that add sections or
 * symbols of their own.  Only the module name length is checked here.
 */
export function koWriter(spec: KoSpec): KoParts {
  checkModuleName(spec.name, true)
  const machine = MACHINES[spec.machine ?? 'x86_64']
  if (machine === undefined) throw new RangeError(`unsupported machine ${String(spec.machine)}`)
  const w = new ElfWriter({ machine })
  const refsList = spec.klpRefs ?? []

  let refs: WriterSection | null = null
  const klpRelas = new Map<string, WriterSection>()
  const klpSymbols = new Map<string, WriterSymbol>()
  if (refsList.length > 0) {
    refs = w.addSection(KLP_REFS_SECTION, {
      type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_WRITE, addralign: 8,
      data: Buffer.alloc(refsList.length * KLP_REF_SIZE),
    })
    const rtype = machine === EM_AARCH64 ? R_AARCH64_ABS64 : R_X86_64_64
    refsList.forEach((ref, i) => {
      const symName = klpSymName(ref)
      let sym = klpSymbols.get(symName)
      if (!sym) {
        sym = w.addSymbol({ name: symName, bind: STB_GLOBAL, type: STT_NOTYPE, section: SHN_LIVEPATCH })
        klpSymbols.set(symName, sym)
      }
      let rela = klpRelas.get(ref.object)
      if (!rela) {
        rela = w.addRelaSection(refs as WriterSection, {
          name: klpRelaSecName(ref.object, KLP_REFS_SECTION),
          flags: SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH,
        })
        klpRelas.set(ref.object, rela)
      }
      rela.addRela(i * KLP_REF_SIZE, rtype, sym, 0)
    })
  }

  const modinfoData = Buffer.concat((spec.modinfo ?? []).map(([k, v]) => Buffer.from(`${k}=${v}\0`, 'utf8')))
  const modinfo = w.addSection('.modinfo', { type: SHT_PROGBITS, flags: SHF_ALLOC, addralign: 1, data: modinfoData })

  const payload = spec.payload === undefined ? null
    : w.addSection(PAYLOAD_SECTION, { type: SHT_PROGBITS, flags: 0, addralign: 8, data: spec.payload })

  const tm = Buffer.alloc(THIS_MODULE_SIZE)
  tm.write(spec.name, THIS_MODULE_NAME_OFFSET, 'utf8')
  const thisModule = w.addSection(THIS_MODULE_SECTION, {
    type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_WRITE, addralign: 64, data: tm,
  })
  w.addSymbol({ name: '__this_module', bind: STB_GLOBAL, type: STT_OBJECT, section: thisModule, size: THIS_MODULE_SIZE })
  for (const name of spec.imports ?? []) w.addSymbol({ name, bind: STB_GLOBAL, type: STT_NOTYPE, section: SHN_UNDEF })

  return { writer: w, thisModule, modinfo, payload, refs, klpRelas, klpSymbols }
}

/**
 * A klpsim .ko: .gnu.linkonce.this_module (0x500 zero bytes, name at 0x18), .modinfo,
 * the payload section and, for klpRefs, `.data.klpsim.refs` with one 8-byte slot per
 * ref, one SHN_LIVEPATCH symbol per distinct ref and one `.klp.rela.<object>..data.klpsim.refs`
 * section per object holding an absolute 64-bit relocation for slot i at offset 8*i.
 */
export function buildKo(spec: KoSpec): Buffer {
  checkModuleName(spec.name, false)
  for (const ref of spec.klpRefs ?? []) checkRef(ref)
  return koWriter(spec).writer.build()
}

const NO_NAME = '(missing .modinfo section or name field)'

function firstModinfo(list: Array<[string, string]>, key: string): string | undefined {
  for (const [k, v] of list) if (k === key) return v
  return undefined
}

/**
 * Parse a .ko and check it the way the kernel's module loader does before it
 * trusts it (kernel/module/main.c elf_validity_cache_index_*()): every failure is an
 * ElfFormatError (ENOEXEC) whose message is the kernel's text where it has one.
 */
export function readKo(buf: Buffer | Uint8Array): KoFile {
  const elf = parseElf(buf)
  const modinfo = elf.modinfo()
  const label = firstModinfo(modinfo, 'name') ?? NO_NAME

  if (elf.sectionsByName('.modinfo').length > 1) throw new ElfFormatError('Only one .modinfo section must exist.')

  const mods = elf.sectionsByName(THIS_MODULE_SECTION)
  if (mods.length !== 1) throw new ElfFormatError(`module ${label}: Exactly one ${THIS_MODULE_SECTION} section must exist.`)
  const mod = mods[0]
  if (mod.type === SHT_NOBITS) throw new ElfFormatError(`module ${label}: ${THIS_MODULE_SECTION} section must have a size set`)
  if ((mod.flags & SHF_ALLOC) === 0) throw new ElfFormatError(`module ${label}: ${THIS_MODULE_SECTION} must occupy memory during process execution`)
  if (mod.size !== THIS_MODULE_SIZE) {
    throw new ElfFormatError(`module ${label}: ${THIS_MODULE_SECTION} section size must match the kernel's built struct module size at run time`)
  }

  if (elf.sections.filter((s) => s.type === SHT_SYMTAB).length !== 1) throw new ElfFormatError(`${label}: module has no symbols (stripped?)`)

  const name = elf.thisModuleName()
  if (name === null) throw new ElfFormatError(`module ${label}: name in ${THIS_MODULE_SECTION} is not NUL-terminated within ${MODULE_NAME_LEN} bytes`)
  if (name === '') throw new ElfFormatError(`module ${label}: empty module name in ${THIS_MODULE_SECTION}`)

  const modinfoMap = new Map<string, string>()
  for (const [k, v] of modinfo) modinfoMap.set(k, v)

  const payloadSec = elf.sectionByName(PAYLOAD_SECTION)
  const klpRelaSections: KlpRelaSectionInfo[] = []
  for (const s of elf.sections) {
    if ((s.flags & SHF_RELA_LIVEPATCH) === 0) continue
    klpRelaSections.push({ index: s.index, name: s.name, objname: parseKlpRelaSecName(s.name), target: s.info, count: elf.relas(s).length })
  }

  return {
    elf,
    name,
    modinfo,
    modinfoMap,
    payload: payloadSec ? payloadSec.data : null,
    machine: elf.machine === EM_AARCH64 ? 'aarch64' : 'x86_64',
    livepatch: firstModinfo(modinfo, 'livepatch') !== undefined,
    vermagic: firstModinfo(modinfo, 'vermagic'),
    klpRelaSections,
    imports: elf.symbols.filter((sym) => sym.shndx === SHN_UNDEF && sym.bind !== STB_LOCAL && sym.name !== '').map((sym) => sym.name),
  }
}
