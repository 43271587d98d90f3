import test, { ExecutionContext } from 'ava'
import { ENOEXEC } from '../../lib/kobject/errno'
import { EM_X86_64, SHT_NOBITS, SHT_PROGBITS, SHT_SYMTAB } from '../../lib/elf/constants'
import { ElfWriter } from '../../lib/elf/writer'
import { ElfFormatError, parseElf } from '../../lib/elf/reader'
import { patched, prng, sampleObject, shdrOff } from './helpers'

const base = sampleObject()
const valid = parseElf(base)
const idx = (name: string): number => valid.sectionByName(name)!.index
const SH = { name: 0, type: 4, flags: 8, addr: 16, offset: 24, size: 32, link: 40, info: 44, align: 48, entsize: 56 }

function expectFormatError(t: ExecutionContext, buf: Buffer, message: RegExp): void {
  const err = t.throws(() => parseElf(buf), { instanceOf: ElfFormatError, message })
  if (err) {
    t.is(err.errno, ENOEXEC)
    t.is(err.code, 'ENOEXEC')
    t.false(err.message.includes('\n'))
  }
}

function setSh(b: Buffer, i: number, field: keyof typeof SH, v: number | bigint): void {
  const o = shdrOff(base, i) + SH[field]
  if (field === 'name' || field === 'type' || field === 'link' || field === 'info') b.writeUInt32LE(Number(v), o)
  else b.writeBigUInt64LE(BigInt(v), o)
}

const cases: Array<[string, (b: Buffer) => Buffer | void, RegExp]> = [
  ['empty input', () => Buffer.alloc(0), /^Invalid ELF header len 0$/],
  ['truncated header', (b) => b.subarray(0, 63), /^Invalid ELF header len 63$/],
  ['bad magic', (b) => { b[1] = 0x46 }, /^Invalid ELF header magic/],
  ['ELFCLASS32', (b) => { b[4] = 1 }, /ELFCLASS32/],
  ['bad class', (b) => { b[4] = 9 }, /Invalid ELF class 9/],
  ['big endian', (b) => { b[5] = 2 }, /data encoding 2/],
  ['bad ident version', (b) => { b[6] = 0 }, /ident version 0/],
  ['not ET_REL', (b) => { b.writeUInt16LE(3, 16) }, /^Invalid ELF header type: 3 != 1$/],
  ['EM_386', (b) => { b.writeUInt16LE(3, 18) }, /architecture in ELF header: 3 \(EM_386\)/],
  ['EM_RISCV', (b) => { b.writeUInt16LE(243, 18) }, /243 \(EM_RISCV\)/],
  ['bad e_version', (b) => { b.writeUInt32LE(2, 20) }, /Invalid ELF version 2/],
  ['bad e_ehsize', (b) => { b.writeUInt16LE(52, 52) }, /e_ehsize 52/],
  ['bad e_shentsize', (b) => { b.writeUInt16LE(40, 58) }, /e_shentsize 40 != 64/],
  ['no section headers', (b) => { b.writeUInt16LE(0, 60) }, /no section headers/],
  ['absurd e_shnum', (b) => { b.writeUInt16LE(0xffff, 60) }, /section header overflow: 65535 headers/],
  ['e_shoff beyond file', (b) => { b.writeBigUInt64LE(BigInt(b.length), 40) }, /section header overflow/],
  ['e_shoff near 2^64', (b) => { b.writeBigUInt64LE(0xfffffffffffffff0n, 40) }, /section header overflow/],
  ['truncated section header table', (b) => b.subarray(0, b.length - 1), /section header overflow/],
  ['section header table over the ELF header', (b) => { b.writeBigUInt64LE(8n, 40) }, /overlaps the ELF header/],
  ['section 0 not null', (b) => { setSh(b, 0, 'type', SHT_PROGBITS) }, /section 0 type\(1\)!=SH_NULL/],
  ['section data beyond file', (b) => { setSh(b, idx('.data'), 'offset', b.length) }, /Invalid ELF section in module \(section 2 type 1\)/],
  ['section size near 2^64', (b) => { setSh(b, idx('.data'), 'size', 0xffffffffffffff00n) }, /Invalid ELF section in module \(section 2 type 1\)/],
  ['overlapping sections', (b) => { setSh(b, idx('.data'), 'offset', valid.sectionByName('.text')!.offset + 8) }, /overlap: section 1 \(\.text\) and section 2 \(\.data\)/],
  ['section over the ELF header', (b) => { setSh(b, idx('.data'), 'offset', 16) }, /overlap: the ELF header and section 2/],
  ['section over the section header table', (b) => { setSh(b, idx('.data'), 'offset', Number(b.readBigUInt64LE(40))) }, /overlap: .*section header table/],
  ['e_shstrndx 0', (b) => { b.writeUInt16LE(0, 62) }, /Invalid ELF section name index: 0/],
  ['e_shstrndx out of range', (b) => { b.writeUInt16LE(200, 62) }, /e_shstrndx \(200\) >= e_shnum \(10\)/],
  ['e_shstrndx not a string table', (b) => { b.writeUInt16LE(1, 62) }, /doesn't point to SHT_STRTAB/],
  ['empty section name table', (b) => { setSh(b, valid.shstrndx, 'size', 0) }, /empty section name table/],
  ['unterminated section name table', (b) => { const s = valid.sections[valid.shstrndx]; b[s.offset + s.size - 1] = 0x41 }, /section name table isn't null terminated/],
  ['sh_name out of range', (b) => { setSh(b, idx('.text'), 'name', 0x10000) }, /section name in module \(section 1 type 1\): sh_name 65536/],
  ['sh_link out of range', (b) => { setSh(b, idx('.text'), 'link', 10) }, /section 1 \(\.text\): sh_link 10 out of range/],
  ['rela sh_info out of range', (b) => { setSh(b, idx('.rela.text'), 'info', 77) }, /sh_info 77 out of range/],
  ['rela sh_info 0', (b) => { setSh(b, idx('.rela.text'), 'info', 0) }, /\.rela\.text: sh_info names no target/],
  ['rela targets NOBITS', (b) => { setSh(b, idx('.rela.text'), 'info', idx('.bss')) }, /target section 3 \(\.bss\) has no file data/],
  ['rela entsize', (b) => { setSh(b, idx('.rela.text'), 'entsize', 16) }, /\.rela\.text: sh_entsize 16 != 24/],
  ['rela size not a multiple', (b) => { setSh(b, idx('.rela.text'), 'size', 47) }, /size 47 is not a multiple of 24/],
  ['rela link not the symtab', (b) => { setSh(b, idx('.rela.text'), 'link', idx('.text')) }, /sh_link 1 is not the symbol table/],
  ['rela symbol index out of range', (b) => { b.writeUInt32LE(5000, valid.sectionByName('.rela.text')!.offset + 12) }, /relocation 0 in \.rela\.text: symbol index 5000 out of range/],
  ['rela offset beyond target', (b) => { b.writeBigUInt64LE(61n, valid.sectionByName('.rela.text')!.offset) }, /relocation 0 in \.rela\.text: offset 0x3d beyond \.text \(size 0x40\)/],
  ['rela offset near 2^64', (b) => { b.writeBigUInt64LE(0xfffffffffffffffen, valid.sectionByName('.rela.text')!.offset) }, /offset 0xfffffffffffffffe beyond/],
  ['symtab entsize', (b) => { setSh(b, idx('.symtab'), 'entsize', 16) }, /symbol table \.symtab: sh_entsize 16 != 24/],
  ['symtab size', (b) => { setSh(b, idx('.symtab'), 'size', valid.symtab!.size - 1) }, /is not a multiple of 24/],
  ['symtab without strtab', (b) => { setSh(b, idx('.symtab'), 'link', 0) }, /sh_link is SHN_UNDEF/],
  ['symtab linked to a non-strtab', (b) => { setSh(b, idx('.symtab'), 'link', idx('.text')) }, /sh_link 1 is not a SHT_STRTAB/],
  ['symtab sh_info beyond symbols', (b) => { setSh(b, idx('.symtab'), 'info', 1000) }, /sh_info 1000 beyond its/],
  ['two symbol tables', (b) => { setSh(b, idx('.rela.data'), 'type', SHT_SYMTAB) }, /2 symbol tables/],
  ['symbol st_name out of range', (b) => { b.writeUInt32LE(0xfffff, valid.symtab!.offset + 24 * 5) }, /symbol 5: st_name 1048575 out of range/],
  ['unterminated string in strtab', (b) => { const s = valid.strtab!; b[s.offset + s.size - 1] = 0x41 }, /unterminated string at offset \d+ of \.strtab/],
  ['symbol st_shndx out of range', (b) => { b.writeUInt16LE(100, valid.symtab!.offset + 24 * 5 + 6) }, /symbol 5 \(\w+\): st_shndx 100 out of range/],
]

for (const [name, mutate, re] of cases) {
  test(`malformed: ${name}`, (t) => {
    let b = Buffer.from(base)
    const r = mutate(b)
    if (r) b = r
    expectFormatError(t, b, re)
  })
}

test('NOBITS sections may claim any size and offset', (t) => {
  const b = patched(base, (x) => {
    setSh(x, idx('.bss'), 'size', 0xffffffffffffffffn)
    setSh(x, idx('.bss'), 'offset', 0xffffffffffff0000n)
  })
  const elf = parseElf(b)
  t.is(elf.sectionByName('.bss')!.type, SHT_NOBITS)
  t.is(elf.sectionByName('.bss')!.data.length, 0)
})

test('random bytes give exactly one ElfFormatError', (t) => {
  const rnd = prng(1234)
  for (let i = 0; i < 300; i++) {
    const len = Math.floor(rnd() * 600)
    const b = Buffer.alloc(len)
    for (let j = 0; j < len; j++) b[j] = Math.floor(rnd() * 256)
    if (i % 2 === 0 && len >= 20) {
      // A plausible header makes the parser go further.
      Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(b, 0)
      b.writeUInt16LE(1, 16)
      b.writeUInt16LE(62, 18)
    }
    try {
      parseElf(b)
      t.fail(`random input ${i} parsed`)
    } catch (e) {
      t.true(e instanceof ElfFormatError, String(e))
    }
  }
})

test('Uint8Array input is accepted', (t) => {
  t.is(parseElf(new Uint8Array(base)).sections.length, valid.sections.length)
})

test('messages stay on one line whatever the names contain', (t) => {
  const w = new ElfWriter({ machine: EM_X86_64 })
  w.addSection('.evil\nname', { type: SHT_PROGBITS, data: Buffer.alloc(8) })
  const buf = w.build()
  const b = patched(buf, (x) => x.writeUInt32LE(9, shdrOff(buf, 1) + 40))
  const e = t.throws(() => parseElf(b), { instanceOf: ElfFormatError })
  t.is(e?.message, 'section 1 (.evil\\x0aname): sh_link 9 out of range (e_shnum 5)')
})
