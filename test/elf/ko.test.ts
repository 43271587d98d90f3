import test from 'ava'
import { ENOEXEC } from '../../lib/kobject/errno'
import {
  EM_AARCH64, EM_X86_64, R_AARCH64_ABS64, R_X86_64_64, SHF_ALLOC, SHF_INFO_LINK, SHF_RELA_LIVEPATCH, SHF_WRITE,
  SHN_LIVEPATCH, SHT_NOBITS, SHT_PROGBITS, STB_GLOBAL,
} from '../../lib/elf/constants'
import { KLP_REFS_SECTION, PAYLOAD_SECTION, THIS_MODULE_SIZE, buildKo, koWriter, readKo } from '../../lib/elf/ko'
import { ElfFormatError } from '../../lib/elf/reader'
import { ElfWriter } from '../../lib/elf/writer'
import { LIVEPATCH_SPEC, findModinfo, readelf, run, sampleKo, shdrOff, withTempFile } from './helpers'

test('buildKo layout: this_module, modinfo, payload, klp sections', (t) => {
  const ko = readKo(sampleKo())
  const { elf } = ko
  t.is(ko.name, 'livepatch_sample')
  t.is(ko.machine, 'x86_64')
  t.is(elf.machine, EM_X86_64)
  const tm = elf.sectionByName('.gnu.linkonce.this_module')!
  t.is(tm.type, SHT_PROGBITS)
  t.is(tm.flags, SHF_ALLOC | SHF_WRITE)
  t.is(tm.addralign, 64n)
  t.is(tm.size, THIS_MODULE_SIZE)
  t.is(tm.offset % 64, 0)
  t.is(tm.data.toString('latin1', 0x18, 0x18 + 16), 'livepatch_sample')
  const nonZero = [...tm.data.entries()].filter(([, v]) => v !== 0).map(([i]) => i)
  t.deepEqual(nonZero, Array.from({ length: 16 }, (_, i) => 0x18 + i))
  const thisModule = elf.symbols.find((s) => s.name === '__this_module')!
  t.is(thisModule.shndx, tm.index)
  t.is(thisModule.size, BigInt(THIS_MODULE_SIZE))

  t.deepEqual(ko.modinfo, LIVEPATCH_SPEC.modinfo)
  t.is(elf.sectionByName('.modinfo')!.data.toString('latin1'),
    'name=livepatch_sample\0livepatch=Y\0license=GPL\0vermagic=6.8.0-klpsim SMP preempt mod_unload modversions \0')
  t.true(ko.livepatch)
  t.is(ko.vermagic, '6.8.0-klpsim SMP preempt mod_unload modversions ')
  t.is(ko.payload!.toString(), LIVEPATCH_SPEC.payload!.toString())
  const payload = elf.sectionByName(PAYLOAD_SECTION)!
  t.is(payload.flags & SHF_ALLOC, 0)

  const refs = elf.sectionByName(KLP_REFS_SECTION)!
  t.is(refs.flags, SHF_ALLOC | SHF_WRITE)
  t.is(refs.size, 8 * 4)
  t.true(refs.data.every((b) => b === 0))
  t.deepEqual(ko.klpRelaSections.map((s) => [s.name, s.objname, s.target, s.count]), [
    ['.klp.rela.vmlinux..data.klpsim.refs', 'vmlinux', refs.index, 3],
    ['.klp.rela.ext4..data.klpsim.refs', 'ext4', refs.index, 1],
  ])
  for (const info of ko.klpRelaSections) {
    const s = elf.sections[info.index]
    t.is(s.flags, SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH)
    t.is(s.link, elf.symtab!.index)
  }
  const vmlinux = elf.relas(ko.klpRelaSections[0].index)
  t.deepEqual(vmlinux.map((r) => [r.offset, r.type, elf.symbols[r.sym].name, r.addend]), [
    [0n, R_X86_64_64, '.klp.sym.vmlinux.cmdline_proc_show,0', 0n],
    [8n, R_X86_64_64, '.klp.sym.vmlinux.dup_static,2', 0n],
    [24n, R_X86_64_64, '.klp.sym.vmlinux.cmdline_proc_show,0', 0n],
  ])
  t.is(vmlinux[0].sym, vmlinux[2].sym, 'one symbol per distinct ref')
  t.deepEqual(elf.relas(ko.klpRelaSections[1].index).map((r) => [r.offset, elf.symbols[r.sym].name]), [[16n, '.klp.sym.ext4.ext4_static,0']])
  const klpSyms = elf.symbols.filter((s) => s.shndx === SHN_LIVEPATCH)
  t.is(klpSyms.length, 3)
  t.true(klpSyms.every((s) => s.bind === STB_GLOBAL))
})

test('buildKo: aarch64 uses R_AARCH64_ABS64', (t) => {
  const ko = readKo(buildKo({ ...LIVEPATCH_SPEC, machine: 'aarch64' }))
  t.is(ko.machine, 'aarch64')
  t.is(ko.elf.machine, EM_AARCH64)
  t.true(ko.elf.relas(ko.klpRelaSections[0].index).every((r) => r.type === R_AARCH64_ABS64))
  const r = readelf(buildKo({ ...LIVEPATCH_SPEC, machine: 'aarch64' }))
  t.is(r.stderr, '')
  t.false(/warning/i.test(r.stdout))
  t.regex(r.stdout, /R_AARCH64_ABS64/)
})

test('buildKo: minimal module without refs or payload', (t) => {
  const ko = readKo(buildKo({ name: 'plain' }))
  t.is(ko.name, 'plain')
  t.deepEqual(ko.modinfo, [])
  t.is(ko.payload, null)
  t.false(ko.livepatch)
  t.is(ko.vermagic, undefined)
  t.deepEqual(ko.klpRelaSections, [])
  t.is(ko.elf.sectionByName(KLP_REFS_SECTION), undefined)
})

test('modinfo: order kept, Map last-wins, livepatch/vermagic as the kernel reads them', (t) => {
  const ko = readKo(buildKo({
    name: 'm',
    modinfo: [['vermagic', 'first'], ['alias', 'a'], ['alias', 'b'], ['vermagic', 'second'], ['livepatch', 'N'], ['empty', '']],
  }))
  t.deepEqual(ko.modinfo.map(([k]) => k), ['vermagic', 'alias', 'alias', 'vermagic', 'livepatch', 'empty'])
  t.is(ko.modinfoMap.get('alias'), 'b')
  t.is(ko.modinfoMap.get('vermagic'), 'second')
  t.is(ko.modinfoMap.get('empty'), '')
  t.is(ko.vermagic, 'first', "get_modinfo() returns the first match")
  t.true(ko.livepatch, 'check_modinfo_livepatch() only tests that the key exists')
})

test('modinfo parsing skips padding and entries without =', (t) => {
  const w = koWriter({ name: 'pad' })
  const data = Buffer.from('\0\0a=1\0junk\0\0b=x=y\0tail=z')
  ;(w.modinfo.opts as { data?: Buffer }).data = data
  const ko = readKo(w.writer.build())
  t.deepEqual(ko.modinfo, [['a', '1'], ['b', 'x=y'], ['tail', 'z']])
})

test('readelf accepts .ko files without warnings; -p shows exactly the name', (t) => {
  for (const buf of [sampleKo(), buildKo({ name: 'x' }), buildKo({ name: 'n'.repeat(55), klpRefs: [{ object: 'vmlinux', symbol: 's', sympos: 1 }] })]) {
    const r = readelf(buf)
    t.is(r.status, 0)
    t.is(r.stderr, '')
    t.false(/warning/i.test(r.stdout), r.stdout)
  }
  const name = 'livepatch_sample'
  const p = readelf(sampleKo(), ['-p', '.gnu.linkonce.this_module'])
  t.is(p.stderr, '')
  const bracketed = p.stdout.split('\n').filter((l) => /\[\s*[0-9a-f]+\]/.test(l))
  t.is(bracketed.length, 1)
  t.is(bracketed[0].trim().split(/\s+/)[2], name, 'kpatch takes the third field')
  t.regex(bracketed[0], /^\s+\[\s+18\]\s+livepatch_sample$/)
  const payload = readelf(sampleKo(), ['-p', '.modinfo'])
  t.false(payload.stdout.includes('funcs'), 'payload not in .modinfo')
})

test('modinfo(8) reads the generated module', (t) => {
  const modinfo = findModinfo()
  if (!modinfo) {
    t.log('modinfo(8) not installed (Debian package kmod): skipped')
    t.pass()
    return
  }
  withTempFile(sampleKo(), 'livepatch_sample.ko', (path) => {
    const r = run(modinfo, [path])
    t.is(r.status, 0, r.stderr)
    t.regex(r.stdout, /^livepatch:\s+Y$/m)
    t.regex(r.stdout, /^vermagic:\s+6\.8\.0-klpsim SMP preempt mod_unload modversions\s*$/m)
    t.regex(r.stdout, /^name:\s+livepatch_sample$/m)
    t.false(r.stdout.includes('funcs'))
    const f = run(modinfo, ['-F', 'livepatch', path])
    t.is(f.stdout.trim(), 'Y')
  })
})

test('buildKo rejects names it cannot encode', (t) => {
  t.throws(() => buildKo({ name: '' }), { instanceOf: RangeError })
  t.throws(() => buildKo({ name: 'x'.repeat(56) }), { instanceOf: RangeError })
  t.notThrows(() => buildKo({ name: 'x'.repeat(55) }))
  t.throws(() => buildKo({ name: 'm', klpRefs: [{ object: 'a.b', symbol: 's', sympos: 0 }] }), { instanceOf: RangeError })
  t.throws(() => buildKo({ name: 'm', klpRefs: [{ object: 'x'.repeat(56), symbol: 's', sympos: 0 }] }), { instanceOf: RangeError })
  t.throws(() => buildKo({ name: 'm', klpRefs: [{ object: 'vmlinux', symbol: 'a,b', sympos: 0 }] }), { instanceOf: RangeError })
  t.throws(() => buildKo({ name: 'm', klpRefs: [{ object: 'vmlinux', symbol: 's', sympos: -1 }] }), { instanceOf: RangeError })
  t.notThrows(() => buildKo({ name: 'm', klpRefs: [{ object: 'vmlinux', symbol: 'foo.cold.12', sympos: 3 }] }))
})

function expectKoError(t: import('ava').ExecutionContext, buf: Buffer, message: RegExp): void {
  const e = t.throws(() => readKo(buf), { instanceOf: ElfFormatError, message })
  if (e) t.is(e.errno, ENOEXEC)
}

test('readKo: missing .gnu.linkonce.this_module', (t) => {
  const w = new ElfWriter({ machine: EM_X86_64 })
  w.addSection('.modinfo', { type: SHT_PROGBITS, flags: SHF_ALLOC, data: Buffer.from('name=nomod\0') })
  expectKoError(t, w.build(), /^module nomod: Exactly one \.gnu\.linkonce\.this_module section must exist\.$/)
  const w2 = new ElfWriter({ machine: EM_X86_64 })
  expectKoError(t, w2.build(), /^module \(missing \.modinfo section or name field\): Exactly one/)
})

test('readKo: duplicated sections', (t) => {
  const k = koWriter({ name: 'dup' })
  k.writer.addSection('.gnu.linkonce.this_module', { type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_WRITE, data: Buffer.alloc(0x500) })
  expectKoError(t, k.writer.build(), /Exactly one \.gnu\.linkonce\.this_module section must exist/)
  const k2 = koWriter({ name: 'dup' })
  k2.writer.addSection('.modinfo', { type: SHT_PROGBITS, data: Buffer.alloc(1) })
  expectKoError(t, k2.writer.build(), /^Only one \.modinfo section must exist\.$/)
})

test('readKo: this_module of the wrong size, NOBITS or not SHF_ALLOC', (t) => {
  const buf = sampleKo()
  const elf = readKo(buf).elf
  const tm = elf.sectionByName('.gnu.linkonce.this_module')!
  const small = Buffer.from(buf)
  small.writeBigUInt64LE(0x4c0n, shdrOff(buf, tm.index) + 32)
  expectKoError(t, small, /^module livepatch_sample: \.gnu\.linkonce\.this_module section size must match the kernel's built struct module size at run time$/)
  const nobits = Buffer.from(buf)
  nobits.writeUInt32LE(SHT_NOBITS, shdrOff(buf, tm.index) + 4)
  expectKoError(t, nobits, /\.gnu\.linkonce\.this_module section must have a size set$/)
  const noalloc = Buffer.from(buf)
  noalloc.writeBigUInt64LE(BigInt(SHF_WRITE), shdrOff(buf, tm.index) + 8)
  expectKoError(t, noalloc, /\.gnu\.linkonce\.this_module must occupy memory during process execution$/)
})

test('readKo: no symbol table', (t) => {
  const w = new ElfWriter({ machine: EM_X86_64, symtab: false })
  w.addSection('.gnu.linkonce.this_module', { type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_WRITE, data: Buffer.alloc(0x500) })
  expectKoError(t, w.build(), /^\(missing \.modinfo section or name field\): module has no symbols \(stripped\?\)$/)
})

test('readKo: empty or unterminated module name', (t) => {
  expectKoError(t, koWriter({ name: '' }).writer.build(), /^module \(missing \.modinfo section or name field\): empty module name/)
  const buf = buildKo({ name: 'x'.repeat(55) })
  const tm = readKo(buf).elf.sectionByName('.gnu.linkonce.this_module')!
  const b = Buffer.from(buf)
  b[tm.offset + 0x18 + 55] = 0x41
  expectKoError(t, b, /not NUL-terminated within 56 bytes/)
})

test('readKo: generic ELF problems surface as ElfFormatError', (t) => {
  expectKoError(t, sampleKo().subarray(0, 100), /section header overflow/)
  const b = Buffer.from(sampleKo())
  b.writeUInt16LE(3, 18)
  expectKoError(t, b, /EM_386/)
})

test('a module with 10,000 klp relocations still passes readelf', (t) => {
  const klpRefs = Array.from({ length: 10000 }, (_, i) => ({ object: i % 10 ? 'vmlinux' : `mod${i % 7}`, symbol: `sym_${i % 6000}`, sympos: i % 3 }))
  const buf = buildKo({ name: 'big', modinfo: [['livepatch', 'Y']], klpRefs })
  const ko = readKo(buf)
  t.is(ko.klpRelaSections.reduce((n, s) => n + s.count, 0), 10000)
  t.is(ko.klpRelaSections.length, 8)
  const r = readelf(buf)
  t.is(r.status, 0)
  t.is(r.stderr, '')
  t.false(/warning/i.test(r.stdout))
})
