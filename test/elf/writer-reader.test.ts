import test from 'ava'
import {
  EM_AARCH64, EM_X86_64, ET_REL, SHF_ALLOC, SHF_INFO_LINK, SHF_RELA_LIVEPATCH, SHN_LIVEPATCH, SHN_UNDEF,
  SHT_NOBITS, SHT_PROGBITS, SHT_RELA, SHT_STRTAB, SHT_SYMTAB, STB_GLOBAL, STB_LOCAL, STT_FILE, STT_FUNC,
  STT_SECTION,
} from '../../lib/elf/constants'
import { parseElf } from '../../lib/elf/reader'
import { ElfWriter } from '../../lib/elf/writer'
import { readelf, sampleObject } from './helpers'

test('round trip: header, sections, layout', (t) => {
  const elf = parseElf(sampleObject())
  t.is(elf.type, ET_REL)
  t.is(elf.machine, EM_X86_64)
  t.deepEqual(elf.sections.map((s) => s.name), [
    '', '.text', '.data', '.bss', '.rela.text', '.rela.data', '.klp.rela.vmlinux..data', '.symtab', '.strtab', '.shstrtab',
  ])
  const text = elf.sectionByName('.text')!
  t.is(text.type, SHT_PROGBITS)
  t.is(text.offset % 16, 0)
  t.is(text.data.length, 64)
  t.true(text.data.every((b) => b === 0x90))
  const bss = elf.sectionByName('.bss')!
  t.is(bss.type, SHT_NOBITS)
  t.is(bss.size, 4096)
  t.is(bss.data.length, 0)
  t.is(bss.addralign, 32n)
  t.is(elf.sections[elf.shstrndx].name, '.shstrtab')
  t.is(elf.sections[elf.shstrndx].type, SHT_STRTAB)
  t.is(elf.symtab!.type, SHT_SYMTAB)
  t.is(elf.symtab!.link, elf.strtab!.index)
  t.is(elf.section(99), undefined)
  t.is(elf.sectionByName('.nope'), undefined)
})

test('round trip: symbols (locals first, section symbols, sh_info)', (t) => {
  const elf = parseElf(sampleObject())
  const syms = elf.symbols
  t.is(syms[0].name, '')
  t.is(syms[0].shndx, SHN_UNDEF)
  t.is(syms[1].type, STT_FILE)
  t.is(syms[1].name, 'sample.c')
  const sectionSyms = syms.filter((s) => s.type === STT_SECTION)
  t.deepEqual(sectionSyms.map((s) => elf.sections[s.shndx].name), ['.text', '.data', '.bss'])
  const firstGlobal = elf.symtab!.info
  t.true(syms.slice(1, firstGlobal).every((s) => s.bind === STB_LOCAL))
  t.true(syms.slice(firstGlobal).every((s) => s.bind === STB_GLOBAL))
  const local = syms.find((s) => s.name === 'local_fn')!
  t.is(local.value, 16n)
  t.is(local.size, 8n)
  t.is(local.type, STT_FUNC)
  t.true(local.index < firstGlobal)
  const counter = syms.find((s) => s.name === 'counter')!
  t.is(elf.sections[counter.shndx].name, '.bss')
  const klp = syms.find((s) => s.name.startsWith('.klp.sym.'))!
  t.is(klp.shndx, SHN_LIVEPATCH)
  t.is(elf.symbol(klp.index), klp)
})

test('round trip: relocations', (t) => {
  const elf = parseElf(sampleObject())
  const relaText = elf.sectionByName('.rela.text')!
  t.is(relaText.type, SHT_RELA)
  t.is(relaText.info, elf.sectionByName('.text')!.index)
  t.is(relaText.link, elf.symtab!.index)
  t.is(relaText.flags & SHF_INFO_LINK, SHF_INFO_LINK)
  const r = elf.relas(relaText)
  t.is(r.length, 2)
  t.deepEqual([r[0].offset, r[0].type, elf.symbols[r[0].sym].name, r[0].addend], [1n, 4, 'printk', -4n])
  t.is(elf.symbols[r[1].sym].type, STT_SECTION)
  t.is(r[1].addend, 32n)
  const klp = elf.sectionByName('.klp.rela.vmlinux..data')!
  t.is(klp.flags, SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH)
  t.is(elf.relas(klp.index)[0].offset, 8n)
  t.deepEqual(elf.relas(elf.sectionByName('.text')!), [])
})

test('parseElf copies its input and owns a mutable buffer', (t) => {
  const buf = sampleObject()
  const elf = parseElf(buf)
  elf.sectionByName('.data')!.data[0] = 0xaa
  t.is(buf[elf.sectionByName('.data')!.offset], 0)
  t.is(elf.buffer[elf.sectionByName('.data')!.offset], 0xaa)
  const sym = elf.symbols.find((s) => s.name === 'printk')!
  elf.setSymbolValue(sym.index, 0xffffffff81234567n)
  t.is(sym.value, 0xffffffff81234567n)
  t.is(parseElf(elf.buffer).symbols[sym.index].value, 0xffffffff81234567n)
})

test('readelf -h -S -s -r -W accepts writer output without warnings', (t) => {
  const r = readelf(sampleObject())
  t.is(r.status, 0)
  t.is(r.stderr, '')
  t.false(/warning/i.test(r.stdout), r.stdout)
  t.regex(r.stdout, /Type:\s+REL \(Relocatable file\)/)
  t.regex(r.stdout, /\.klp\.rela\.vmlinux\.\.data\s+RELA .* AIo /)
  t.regex(r.stdout, /R_X86_64_PLT32\s+0+ printk - 4/)
  t.regex(r.stdout, /NOTYPE\s+GLOBAL DEFAULT OS \[0xff20\] \.klp\.sym\.vmlinux\.saved_command_line,0/)
})

test('writer: aarch64, empty files, no symtab, string dedup', (t) => {
  const w = new ElfWriter({ machine: EM_AARCH64, symtab: false })
  const buf = w.build()
  const elf = parseElf(buf)
  t.is(elf.machine, EM_AARCH64)
  t.is(elf.symtab, null)
  t.deepEqual(elf.symbols, [])
  t.deepEqual(elf.sections.map((s) => s.name), ['', '.shstrtab'])
  const r = readelf(buf)
  t.is(r.stderr, '')
  t.false(/warning/i.test(r.stdout))

  const w2 = new ElfWriter({ machine: EM_X86_64 })
  w2.addSymbol({ name: 'same' })
  w2.addSymbol({ name: 'same', bind: STB_LOCAL })
  const e2 = parseElf(w2.build())
  t.is(e2.symbols[1].nameOffset, e2.symbols[2].nameOffset)
  const w4 = new ElfWriter({ machine: EM_X86_64, symtab: false })
  w4.addRelaSection(1)
  t.throws(() => w4.build(), { instanceOf: RangeError })
  const w5 = new ElfWriter({ machine: EM_X86_64 })
  const plain = w5.addSection('.text', { type: SHT_PROGBITS })
  t.throws(() => plain.addRela(0, 1, 0, 0), { instanceOf: TypeError })
  const w3 = new ElfWriter({ machine: EM_X86_64, symtab: false })
  w3.addSymbol({ name: 'x' })
  t.throws(() => w3.build(), { instanceOf: RangeError })
})
