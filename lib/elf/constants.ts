// ELF64 constants (System V gABI, x86-64 and AArch64 psABIs, include/uapi/linux/elf.h).

export const ELFMAG = Buffer.from([0x7f, 0x45, 0x4c, 0x46]) // "\x7fELF"
export const EI_CLASS = 4
export const EI_DATA = 5
export const EI_VERSION = 6
export const EI_OSABI = 7
export const EI_NIDENT = 16
export const ELFCLASSNONE = 0
export const ELFCLASS32 = 1
export const ELFCLASS64 = 2
export const ELFDATA2LSB = 1
export const ELFDATA2MSB = 2
export const EV_CURRENT = 1
export const ELFOSABI_NONE = 0

export const ET_NONE = 0
export const ET_REL = 1
export const ET_EXEC = 2
export const ET_DYN = 3
export const ET_CORE = 4

export const EM_386 = 3
export const EM_ARM = 40
export const EM_X86_64 = 62
export const EM_AARCH64 = 183
export const EM_RISCV = 243

export const ELF64_EHDR_SIZE = 64
export const ELF64_SHDR_SIZE = 64
export const ELF64_SYM_SIZE = 24
export const ELF64_RELA_SIZE = 24

export const SHT_NULL = 0
export const SHT_PROGBITS = 1
export const SHT_SYMTAB = 2
export const SHT_STRTAB = 3
export const SHT_RELA = 4
export const SHT_HASH = 5
export const SHT_DYNAMIC = 6
export const SHT_NOTE = 7
export const SHT_NOBITS = 8
export const SHT_REL = 9
export const SHT_DYNSYM = 11
export const SHT_INIT_ARRAY = 14
export const SHT_FINI_ARRAY = 15
export const SHT_GROUP = 17
export const SHT_SYMTAB_SHNDX = 18

export const SHF_WRITE = 0x1
export const SHF_ALLOC = 0x2
export const SHF_EXECINSTR = 0x4
export const SHF_MERGE = 0x10
export const SHF_STRINGS = 0x20
export const SHF_INFO_LINK = 0x40
export const SHF_LINK_ORDER = 0x80
export const SHF_GROUP = 0x200
// OS-specific flag (SHF_MASKOS range) marking .klp.rela.* sections (include/uapi/linux/elf.h).
export const SHF_RELA_LIVEPATCH = 0x00100000

export const SHN_UNDEF = 0
export const SHN_LORESERVE = 0xff00
// OS-specific section index (SHN_LOOS) of symbols resolved by livepatch (include/uapi/linux/elf.h).
export const SHN_LIVEPATCH = 0xff20
export const SHN_ABS = 0xfff1
export const SHN_COMMON = 0xfff2
export const SHN_XINDEX = 0xffff

export const STB_LOCAL = 0
export const STB_GLOBAL = 1
export const STB_WEAK = 2

export const STT_NOTYPE = 0
export const STT_OBJECT = 1
export const STT_FUNC = 2
export const STT_SECTION = 3
export const STT_FILE = 4

export const STV_DEFAULT = 0

export const R_X86_64_NONE = 0
export const R_X86_64_64 = 1
export const R_X86_64_PC32 = 2
export const R_X86_64_PLT32 = 4
export const R_X86_64_32 = 10
export const R_X86_64_32S = 11
export const R_X86_64_PC64 = 24

export const R_ARM_NONE = 0
export const R_AARCH64_NONE = 256
export const R_AARCH64_ABS64 = 257
export const R_AARCH64_ABS32 = 258
export const R_AARCH64_ABS16 = 259
export const R_AARCH64_PREL64 = 260
export const R_AARCH64_PREL32 = 261
export const R_AARCH64_PREL16 = 262

export function elf64StBind(info: number): number {
  return info >> 4
}

export function elf64StType(info: number): number {
  return info & 0xf
}

export function elf64StInfo(bind: number, type: number): number {
  return ((bind << 4) | (type & 0xf)) & 0xff
}

export function machineName(machine: number): string {
  switch (machine) {
    case EM_386: return 'EM_386'
    case EM_ARM: return 'EM_ARM'
    case EM_X86_64: return 'EM_X86_64'
    case EM_AARCH64: return 'EM_AARCH64'
    case EM_RISCV: return 'EM_RISCV'
    default: return `EM_${machine}`
  }
}

/**
 * Bytes a relocation of this type touches, or 0 for "no write" (NONE) and
 * null for a type the simulator does not know.
 */
export function relocWidth(machine: number, type: number): number | null {
  if (machine === EM_X86_64) {
    switch (type) {
      case R_X86_64_NONE: return 0
      case R_X86_64_64: case R_X86_64_PC64: return 8
      case R_X86_64_PC32: case R_X86_64_PLT32: case R_X86_64_32: case R_X86_64_32S: return 4
      default: return null
    }
  }
  if (machine === EM_AARCH64) {
    switch (type) {
      case R_ARM_NONE: case R_AARCH64_NONE: return 0
      case R_AARCH64_ABS64: case R_AARCH64_PREL64: return 8
      case R_AARCH64_ABS32: case R_AARCH64_PREL32: return 4
      case R_AARCH64_ABS16: case R_AARCH64_PREL16: return 2
      default: return null
    }
  }
  return null
}
