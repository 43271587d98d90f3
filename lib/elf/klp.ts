import { EINVAL, ENOEXEC } from '../kobject/errno'
import {
  EM_AARCH64, EM_X86_64, R_AARCH64_ABS16, R_AARCH64_ABS32, R_AARCH64_ABS64, R_AARCH64_NONE,
  R_AARCH64_PREL16, R_AARCH64_PREL32, R_AARCH64_PREL64, R_ARM_NONE, R_X86_64_32, R_X86_64_32S,
  R_X86_64_64, R_X86_64_NONE, R_X86_64_PC32, R_X86_64_PC64, R_X86_64_PLT32, SHF_RELA_LIVEPATCH,
  SHN_LIVEPATCH,
} from './constants'
import type { ElfFile, ElfSection } from './reader'

export type KlpLogLevel = 'err' | 'warn' | 'info'
/** Receives messages without pr_fmt prefix ("livepatch: " is the caller's business). */
export type KlpLogger = (level: KlpLogLevel, msg: string) => void
/** Address of the symbol, or a negative errno (the resolver logs its own kallsyms messages). */
export type KlpResolver = (objname: string, symname: string, sympos: number) => { addr: bigint } | number

export interface KlpSymName {
  objname: string
  symname: string
  sympos: number
}

// MODULE_NAME_LEN - 1 and KSYM_NAME_LEN - 1: the field widths of the kernel's sscanf formats.
const OBJNAME_WIDTH = 55
const SYMNAME_WIDTH = 511
const KLP_RELA_PREFIX = '.klp.rela.'
const KLP_SYM_PREFIX = '.klp.sym.'

// The kernel scans bytes; names are handled as their UTF-8 bytes, one char per byte.
const NON_ASCII = /[^\x00-\x7f]/
function toBytes(s: string): string {
  const nul = s.indexOf('\0')
  const c = nul >= 0 ? s.slice(0, nul) : s
  return NON_ASCII.test(c) ? Buffer.from(c, 'utf8').toString('latin1') : c
}
function fromBytes(b: string): string {
  return NON_ASCII.test(b) ? Buffer.from(b, 'latin1').toString('utf8') : b
}

/** End of a non-empty `%<width>[^<stop>]` match starting at pos, or -1 (vsscanf: "match must be non-empty"). */
function scanSet(s: string, pos: number, width: number, stop: string): number {
  let end = pos
  while (end < s.length && end - pos < width && s[end] !== stop) end++
  return end > pos ? end : -1
}

/** isspace() of the kernel's lib/ctype.c (Latin-1 table: 0x09-0x0d, 0x20 and 0xa0). */
function kernelIsSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0
}

/**
 * The kernel's vsscanf `%lu`: skip_spaces(), then a decimal digit is required (no '+'
 * or '-' sign is accepted for unsigned conversions, unlike glibc), then
 * simple_strntoull() reads digits up to the first non-digit, wrapping modulo 2^64 on
 * overflow.  Trailing characters are left unread (sscanf still counts the field).
 * Returns null when no digit follows.  Values above 2^53 lose precision as a number.
 */
function scanUlong(s: string, pos: number): number | null {
  let p = pos
  while (p < s.length && kernelIsSpace(s.charCodeAt(p))) p++
  const start = p
  while (p < s.length && s.charCodeAt(p) >= 0x30 && s.charCodeAt(p) <= 0x39) p++
  if (p === start) return null
  const digits = s.slice(start, p)
  if (digits.length <= 15) return Number(digits)
  return Number(BigInt.asUintN(64, BigInt(digits)))
}

/**
 * Object name of a `.klp.rela.<objname>.<section>` name, read like the kernel's
 * `sscanf(name, ".klp.rela.%55[^.]", sec_objname)`: at least one and at most 55 bytes
 * other than '.'; a longer object name is silently cut at 55 bytes (sscanf still
 * returns 1).  null when the prefix does not match or the name is empty.
 */
export function parseKlpRelaSecName(name: string): string | null {
  const s = toBytes(name)
  if (!s.startsWith(KLP_RELA_PREFIX)) return null
  const p = KLP_RELA_PREFIX.length
  const end = scanSet(s, p, OBJNAME_WIDTH, '.')
  return end < 0 ? null : fromBytes(s.slice(p, end))
}

/**
 * `.klp.sym.<objname>.<symname>,<sympos>` read like the kernel's
 * `sscanf(name, ".klp.sym.%55[^.].%511[^,],%lu", ...)` and null unless all three fields
 * converted: objname is 1-55 bytes without '.', and a longer run makes the following
 * literal '.' fail; symname is 1-511 bytes without ',' (it may contain '.'), and a
 * longer run makes the literal ',' fail; sympos follows the kernel's %lu (see scanUlong:
 * leading white space is skipped, a sign is rejected, trailing garbage is ignored).
 */
export function parseKlpSymName(name: string): KlpSymName | null {
  const s = toBytes(name)
  if (!s.startsWith(KLP_SYM_PREFIX)) return null
  let p = KLP_SYM_PREFIX.length
  const objEnd = scanSet(s, p, OBJNAME_WIDTH, '.')
  if (objEnd < 0) return null
  const objname = s.slice(p, objEnd)
  if (s[objEnd] !== '.') return null
  p = objEnd + 1
  const symEnd = scanSet(s, p, SYMNAME_WIDTH, ',')
  if (symEnd < 0) return null
  const symname = s.slice(p, symEnd)
  if (s[symEnd] !== ',') return null
  const sympos = scanUlong(s, symEnd + 1)
  if (sympos === null) return null
  return { objname: fromBytes(objname), symname: fromBytes(symname), sympos }
}

export interface KlpWriteOptions {
  /** Address at which a section of the patch module is loaded (P = base + r_offset). */
  sectionBase: (secIndex: number) => bigint
  /** me->name in the arch messages; default: the name in .gnu.linkonce.this_module. */
  moduleName?: string
  /**
   * Reject R_X86_64_PC32/PLT32 results outside s32 as overflows.  Default true; the
   * kernel's x86 __write_relocate_add() has no such check and silently truncates
   * (pass false for that behaviour).
   */
  checkPcrelOverflow?: boolean
  /** Where arch/<arch>/kernel/module.c messages go (they carry their own pr_fmt); default: the klp logger. */
  archLog?: KlpLogger
}

function sectionOf(elf: ElfFile, section: ElfSection | number): ElfSection {
  const sec = typeof section === 'number' ? elf.section(section) : section
  if (!sec) throw new RangeError(`no section ${String(section)}`)
  return sec
}

/**
 * klp_resolve_symbols(): every relocation of a klp rela section must reference an
 * SHN_LIVEPATCH symbol with a well-formed `.klp.sym.` name; module-specific sections may
 * not reference vmlinux; the resolved address is stored in the symbol's st_value.
 * Returns 0 or a negative errno.
 */
export function klpResolveSymbols(elf: ElfFile, relaSec: ElfSection | number, secObjname: string, resolver: KlpResolver, log: KlpLogger): number {
  const sec = sectionOf(elf, relaSec)
  const secVmlinux = secObjname === 'vmlinux'
  for (const rela of elf.relas(sec)) {
    const sym = elf.symbols[rela.sym]
    if (sym.shndx !== SHN_LIVEPATCH) {
      log('err', `symbol ${sym.name} is not marked as a livepatch symbol`)
      return -EINVAL
    }
    const parsed = parseKlpSymName(sym.name)
    if (!parsed) {
      log('err', `symbol ${sym.name} has an incorrectly formatted name`)
      return -EINVAL
    }
    if (!secVmlinux && parsed.objname === 'vmlinux') {
      log('err', `invalid access to vmlinux symbol '${parsed.symname}' from module-specific livepatch relocation section`)
      return -EINVAL
    }
    const r = resolver(parsed.objname, parsed.symname, parsed.sympos)
    if (typeof r === 'number') return r < 0 ? r : -(r || EINVAL)
    elf.setSymbolValue(sym.index, r.addr)
  }
  return 0
}

const U32_MAX = 0xffffffffn
const S32_MIN = -(1n << 31n)
const S32_MAX = (1n << 31n) - 1n
const U16_MAX = 0xffffn
const S16_MIN = -(1n << 15n)
const S16_MAX = (1n << 15n) - 1n

/** %p of a kernel pointer, printed unhashed as %px would (16 hex digits). */
function ptr(v: bigint): string {
  return v.toString(16).padStart(16, '0')
}

function readLE(d: Buffer, off: number, size: number): bigint {
  return size === 8 ? d.readBigUInt64LE(off) : size === 4 ? BigInt(d.readUInt32LE(off)) : BigInt(d.readUInt16LE(off))
}

function writeLE(d: Buffer, off: number, size: number, v: bigint): void {
  if (size === 8) d.writeBigUInt64LE(BigInt.asUintN(64, v), off)
  else if (size === 4) d.writeUInt32LE(Number(BigInt.asUintN(32, v)), off)
  else d.writeUInt16LE(Number(BigInt.asUintN(16, v)), off)
}

/*
 * arch/x86/kernel/module.c __write_relocate_add(), texts verbatim:
 *   pr_err("%s: Unknown rela relocation: %llu\n", me->name, type)                       -> -ENOEXEC
 *   pr_err("x86/modules: Invalid relocation target, existing value is nonzero for type %d, loc %p, val %Lx\n")
 *   pr_warn("x86/modules: Invalid relocation target, existing value does not match expected value for type %d, loc %p, val %Lx\n")  (clearing)
 *   pr_err("overflow in relocation type %d val %Lx\n"); pr_err("`%s' likely not compiled with -mcmodel=kernel\n", me->name)
 * R_X86_64_32 must fit u32 and R_X86_64_32S s32; PC32/PLT32/PC64 subtract the location.
 */
function x86WriteRelocs(elf: ElfFile, sec: ElfSection, opts: KlpWriteOptions, log: KlpLogger, apply: boolean): number {
  const target = elf.sections[sec.info]
  const data = target.data
  const base = opts.sectionBase(target.index)
  const me = opts.moduleName ?? elf.thisModuleName() ?? ''
  const checkPcrel = opts.checkPcrelOverflow ?? true
  for (const rela of elf.relas(sec)) {
    const loc = BigInt.asUintN(64, base + rela.offset)
    let val = BigInt.asUintN(64, elf.symbols[rela.sym].value + rela.addend)
    const type = rela.type
    let size: number
    let overflow = false
    switch (type) {
      case R_X86_64_NONE:
        continue
      case R_X86_64_64:
        size = 8
        break
      case R_X86_64_32:
        overflow = val > U32_MAX
        size = 4
        break
      case R_X86_64_32S: {
        const s = BigInt.asIntN(64, val)
        overflow = s < S32_MIN || s > S32_MAX
        size = 4
        break
      }
      case R_X86_64_PC32:
      case R_X86_64_PLT32: {
        val = BigInt.asUintN(64, val - loc)
        const s = BigInt.asIntN(64, val)
        overflow = checkPcrel && (s < S32_MIN || s > S32_MAX)
        size = 4
        break
      }
      case R_X86_64_PC64:
        val = BigInt.asUintN(64, val - loc)
        size = 8
        break
      default:
        log('err', `${me}: Unknown rela relocation: ${type}`)
        return -ENOEXEC
    }
    if (overflow) {
      log('err', `overflow in relocation type ${type} val ${val.toString(16)}`)
      log('err', `\`${me}' likely not compiled with -mcmodel=kernel`)
      return -ENOEXEC
    }
    const off = Number(rela.offset)
    const cur = readLE(data, off, size)
    if (apply) {
      if (cur !== 0n) {
        log('err', `x86/modules: Invalid relocation target, existing value is nonzero for type ${type}, loc ${ptr(loc)}, val ${val.toString(16)}`)
        return -ENOEXEC
      }
      writeLE(data, off, size, val)
    } else {
      if (cur !== BigInt.asUintN(size * 8, val)) {
        log('warn', `x86/modules: Invalid relocation target, existing value does not match expected value for type ${type}, loc ${ptr(loc)}, val ${val.toString(16)}`)
        return -ENOEXEC
      }
      writeLE(data, off, size, 0n)
    }
  }
  return 0
}

/*
 * arch/arm64/kernel/module.c apply_relocate_add() for the data relocations, texts verbatim:
 *   pr_err("module %s: unsupported RELA relocation: %llu\n", me->name, type)           -> -ENOEXEC
 *   pr_err("module %s: overflow in relocation type %d val %Lx\n", me->name, type, S+A)  -> -ENOEXEC
 * reloc_data() writes first and checks after: ABS16/32 must lie in [0, U16/32_MAX],
 * PREL16/32 in [S16/32_MIN, S16/32_MAX]; 64-bit forms are never checked.  No nonzero
 * check on the target, and no clear_relocate_add() (the generic one is an empty __weak).
 */
function arm64ApplyRelocs(elf: ElfFile, sec: ElfSection, opts: KlpWriteOptions, log: KlpLogger): number {
  const target = elf.sections[sec.info]
  const data = target.data
  const base = opts.sectionBase(target.index)
  const me = opts.moduleName ?? elf.thisModuleName() ?? ''
  for (const rela of elf.relas(sec)) {
    const loc = BigInt.asUintN(64, base + rela.offset)
    const val = BigInt.asUintN(64, elf.symbols[rela.sym].value + rela.addend)
    const type = rela.type
    const off = Number(rela.offset)
    let ovf = false
    switch (type) {
      case R_ARM_NONE:
      case R_AARCH64_NONE:
        break
      case R_AARCH64_ABS64:
        writeLE(data, off, 8, val)
        break
      case R_AARCH64_PREL64:
        writeLE(data, off, 8, val - loc)
        break
      case R_AARCH64_ABS32:
      case R_AARCH64_ABS16: {
        const size = type === R_AARCH64_ABS32 ? 4 : 2
        const sval = BigInt.asIntN(64, val)
        writeLE(data, off, size, sval)
        ovf = sval < 0n || sval > (size === 4 ? U32_MAX : U16_MAX)
        break
      }
      case R_AARCH64_PREL32:
      case R_AARCH64_PREL16: {
        const size = type === R_AARCH64_PREL32 ? 4 : 2
        const sval = BigInt.asIntN(64, val - loc)
        writeLE(data, off, size, sval)
        ovf = size === 4 ? sval < S32_MIN || sval > S32_MAX : sval < S16_MIN || sval > S16_MAX
        break
      }
      default:
        log('err', `module ${me}: unsupported RELA relocation: ${type}`)
        return -ENOEXEC
    }
    if (ovf) {
      log('err', `module ${me}: overflow in relocation type ${type} val ${val.toString(16)}`)
      return -ENOEXEC
    }
  }
  return 0
}

/** The arch apply_relocate_add() for one RELA section; 0 or a negative errno. */
export function applyRelocateAdd(elf: ElfFile, relaSec: ElfSection | number, log: KlpLogger, opts: KlpWriteOptions): number {
  const sec = sectionOf(elf, relaSec)
  const archLog = opts.archLog ?? log
  if (elf.machine === EM_X86_64) return x86WriteRelocs(elf, sec, opts, archLog, true)
  if (elf.machine === EM_AARCH64) return arm64ApplyRelocs(elf, sec, opts, archLog)
  return -ENOEXEC
}

/**
 * clear_relocate_add(): x86_64 writes zeros back where the relocation wrote (the
 * values must still match, or it warns and stops); other architectures do nothing.
 * Returns what the x86 helper returned, which the kernel ignores.
 */
export function clearRelocateAdd(elf: ElfFile, relaSec: ElfSection | number, log: KlpLogger, opts: KlpWriteOptions): number {
  const sec = sectionOf(elf, relaSec)
  if (elf.machine === EM_X86_64) return x86WriteRelocs(elf, sec, opts, opts.archLog ?? log, false)
  return 0
}

/**
 * klp_write_section_relocs(): apply (resolve + apply_relocate_add) or clear one
 * `.klp.rela.*` section if it belongs to `objname` (null or 'vmlinux' = vmlinux);
 * sections of other objects are skipped with 0.  Clearing always returns 0.
 */
export function klpApplySectionRelocs(
  elf: ElfFile, section: ElfSection | number, objname: string | null, resolver: KlpResolver,
  log: KlpLogger, apply: boolean, opts: KlpWriteOptions,
): number {
  const sec = sectionOf(elf, section)
  const secObjname = parseKlpRelaSecName(sec.name)
  if (secObjname === null) {
    log('err', `section ${sec.name} has an incorrectly formatted name`)
    return -EINVAL
  }
  if ((objname ?? 'vmlinux') !== secObjname) return 0
  if (apply) {
    const ret = klpResolveSymbols(elf, sec, secObjname, resolver, log)
    if (ret) return ret
    return applyRelocateAdd(elf, sec, log, opts)
  }
  clearRelocateAdd(elf, sec, log, opts)
  return 0
}

/** klp_write_object_relocs(): every SHF_RELA_LIVEPATCH section, in section order, stopping at the first error. */
export function klpWriteObjectRelocs(
  elf: ElfFile, objname: string | null, resolver: KlpResolver, log: KlpLogger, apply: boolean, opts: KlpWriteOptions,
): number {
  for (const sec of elf.sections) {
    if ((sec.flags & SHF_RELA_LIVEPATCH) === 0) continue
    const ret = klpApplySectionRelocs(elf, sec, objname, resolver, log, apply, opts)
    if (ret) return ret
  }
  return 0
}
