import test from 'ava'
import { EINVAL, ENOEXEC, ENOENT } from '../../lib/kobject/errno'
import {
  EM_AARCH64, EM_X86_64, R_AARCH64_ABS16, R_AARCH64_ABS32, R_AARCH64_ABS64, R_AARCH64_PREL16, R_AARCH64_PREL32,
  R_AARCH64_PREL64, R_X86_64_32, R_X86_64_32S, R_X86_64_64, R_X86_64_NONE, R_X86_64_PC32, R_X86_64_PC64,
  R_X86_64_PLT32, SHF_ALLOC, SHF_EXECINSTR, SHF_INFO_LINK, SHF_RELA_LIVEPATCH, SHN_LIVEPATCH, SHN_UNDEF,
  SHT_PROGBITS,
} from '../../lib/elf/constants'
import { parseKallsyms } from '../../lib/elf/kallsyms-file'
import { KallsymsIndex } from '../../lib/elf/kallsyms-index'
import { readKo } from '../../lib/elf/ko'
import {
  KlpLogLevel, KlpResolver, applyRelocateAdd, clearRelocateAdd, klpApplySectionRelocs, klpResolveSymbols,
  klpWriteObjectRelocs, parseKlpRelaSecName, parseKlpSymName,
} from '../../lib/elf/klp'
import { ElfFile, parseElf } from '../../lib/elf/reader'
import { ElfWriter } from '../../lib/elf/writer'
import { sampleKo } from './helpers'

test('parseKlpRelaSecName follows sscanf(".klp.rela.%55[^.]")', (t) => {
  t.is(parseKlpRelaSecName('.klp.rela.vmlinux..text.cmdline_proc_show'), 'vmlinux')
  t.is(parseKlpRelaSecName('.klp.rela.ext4.text.foo'), 'ext4')
  t.is(parseKlpRelaSecName('.klp.rela.vmlinux'), 'vmlinux')
  t.is(parseKlpRelaSecName('.klp.rela.' + 'a'.repeat(60) + '..text'), 'a'.repeat(55), 'sscanf stops at the field width and still converts')
  t.is(parseKlpRelaSecName('.klp.rela.'), null)
  t.is(parseKlpRelaSecName('.klp.rela..text'), null)
  t.is(parseKlpRelaSecName('.rela.text'), null)
  t.is(parseKlpRelaSecName('.klp.rel.vmlinux.x'), null)
  t.is(parseKlpRelaSecName('.klp.rela.mod\0ule.x'), 'mod', 'C strings end at NUL')
})

test('parseKlpSymName follows the kernel sscanf(".klp.sym.%55[^.].%511[^,],%lu")', (t) => {
  t.deepEqual(parseKlpSymName('.klp.sym.vmlinux.saved_command_line,0'), { objname: 'vmlinux', symname: 'saved_command_line', sympos: 0 })
  t.deepEqual(parseKlpSymName('.klp.sym.ext4.foo.cold.12,2'), { objname: 'ext4', symname: 'foo.cold.12', sympos: 2 })
  t.is(parseKlpSymName('.klp.sym.vmlinux.foo, \t\n 3')!.sympos, 3, 'leading white space is skipped')
  t.is(parseKlpSymName('.klp.sym.vmlinux.foo,\u00a03'), null, 'U+00A0 is the bytes c2 a0 in an ELF string; 0xc2 is no space')
  t.is(parseKlpSymName('.klp.sym.vmlinux.foo,+3'), null, 'kernel %lu takes no sign')
  t.is(parseKlpSymName('.klp.sym.vmlinux.foo,-3'), null)
  t.is(parseKlpSymName('.klp.sym.vmlinux.foo,3abc')!.sympos, 3, 'stops at the first non-digit')
  t.is(parseKlpSymName('.klp.sym.vmlinux.foo,007')!.sympos, 7)
  t.is(parseKlpSymName('.klp.sym.vmlinux.foo,0x10')!.sympos, 0)
  t.is(parseKlpSymName('.klp.sym.vmlinux.foo,18446744073709551617')!.sympos, 1, 'wraps modulo 2^64 like simple_strntoull')
  t.is(parseKlpSymName('.klp.sym.vmlinux.foo,'), null)
  t.is(parseKlpSymName('.klp.sym.vmlinux.foo'), null)
  t.is(parseKlpSymName('.klp.sym.vmlinux.,1'), null)
  t.is(parseKlpSymName('.klp.sym..foo,1'), null)
  t.is(parseKlpSymName('.klp.sym.vmlinux,1'), null)
  t.is(parseKlpSymName('.klp.rela.vmlinux.foo,1'), null)
  t.deepEqual(parseKlpSymName(`.klp.sym.${'o'.repeat(55)}.f,1`), { objname: 'o'.repeat(55), symname: 'f', sympos: 1 })
  t.is(parseKlpSymName(`.klp.sym.${'o'.repeat(56)}.f,1`), null, 'a 56th objname byte meets the literal "."')
  t.is(parseKlpSymName(`.klp.sym.vmlinux.${'s'.repeat(511)},1`)!.symname.length, 511)
  t.is(parseKlpSymName(`.klp.sym.vmlinux.${'s'.repeat(512)},1`), null)
  t.deepEqual(parseKlpSymName('.klp.sym.vmlinux.f\u00e9,1'), { objname: 'vmlinux', symname: 'f\u00e9', sympos: 1 })
  t.is(parseKlpSymName(`.klp.sym.${'o'.repeat(54)}\u00e9.f,1`), null, 'widths count bytes')
})

type Log = Array<[KlpLogLevel, string]>
const logger = (log: Log) => (level: KlpLogLevel, msg: string) => { log.push([level, msg]) }

interface Reloc { off: number; type: number; sym: string; addend?: number | bigint; plain?: boolean }

const TEXT_BASE = 0xffffffffc0a01000n

/** An object with `.text` (zeros) and one klp rela section over it. */
function klpObject(machine: number, secName: string, relocs: Reloc[], textSize = 64): ElfFile {
  const w = new ElfWriter({ machine })
  w.addSection('.modinfo', { type: SHT_PROGBITS, flags: SHF_ALLOC, data: Buffer.from('livepatch=Y\0') })
  const text = w.addSection('.text', { type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_EXECINSTR, addralign: 16, data: Buffer.alloc(textSize) })
  const tm = Buffer.alloc(0x500)
  tm.write('lp_mod', 0x18)
  w.addSection('.gnu.linkonce.this_module', { type: SHT_PROGBITS, flags: SHF_ALLOC, addralign: 64, data: tm })
  const rela = w.addRelaSection(text, { name: secName, flags: SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH })
  const syms = new Map<string, ReturnType<ElfWriter['addSymbol']>>()
  for (const r of relocs) {
    let s = syms.get(r.sym)
    if (!s) {
      s = w.addSymbol({ name: r.sym, section: r.plain ? SHN_UNDEF : SHN_LIVEPATCH })
      syms.set(r.sym, s)
    }
    rela.addRela(r.off, r.type, s, r.addend ?? 0)
  }
  return parseElf(w.build())
}

const ADDRS: Record<string, bigint> = {
  'vmlinux:saved_command_line': 0xffffffff82a4c1e0n,
  'vmlinux:cmdline_proc_show': 0xffffffff813f2a10n,
  'vmlinux:__per_cpu_var': 0x1e040n,
  'vmlinux:far_away': 0xffffffff01000000n,
  'ext4:ext4_static': 0xffffffffc0b02340n,
}

function mapResolver(calls: Array<[string, string, number]> = []): KlpResolver {
  return (objname, symname, sympos) => {
    calls.push([objname, symname, sympos])
    const a = ADDRS[`${objname}:${symname}`]
    return a === undefined ? -ENOENT : { addr: a }
  }
}

const base = (elf: ElfFile) => (i: number) => {
  if (elf.sections[i].name !== '.text') throw new Error(`unexpected base request for ${i}`)
  return TEXT_BASE
}

function le(v: bigint, size: number): number[] {
  const out: number[] = []
  let x = BigInt.asUintN(size * 8, v)
  for (let i = 0; i < size; i++) {
    out.push(Number(x & 0xffn))
    x >>= 8n
  }
  return out
}

test('x86_64: every supported relocation type, byte by byte', (t) => {
  const elf = klpObject(EM_X86_64, '.klp.rela.vmlinux..text', [
    { off: 0, type: R_X86_64_64, sym: '.klp.sym.vmlinux.saved_command_line,0', addend: 8 },
    { off: 8, type: R_X86_64_PC32, sym: '.klp.sym.vmlinux.cmdline_proc_show,0', addend: -4 },
    { off: 12, type: R_X86_64_PLT32, sym: '.klp.sym.vmlinux.cmdline_proc_show,0', addend: -4 },
    { off: 16, type: R_X86_64_32, sym: '.klp.sym.vmlinux.__per_cpu_var,0', addend: 0x10 },
    { off: 20, type: R_X86_64_32S, sym: '.klp.sym.vmlinux.saved_command_line,0', addend: 0 },
    { off: 24, type: R_X86_64_PC64, sym: '.klp.sym.vmlinux.saved_command_line,0', addend: 0 },
    { off: 40, type: R_X86_64_NONE, sym: '.klp.sym.vmlinux.saved_command_line,0' },
  ])
  const log: Log = []
  const calls: Array<[string, string, number]> = []
  const sec = elf.sectionByName('.klp.rela.vmlinux..text')!
  t.is(klpApplySectionRelocs(elf, sec, null, mapResolver(calls), logger(log), true, { sectionBase: base(elf) }), 0)
  t.deepEqual(log, [])
  t.deepEqual(calls[0], ['vmlinux', 'saved_command_line', 0])
  t.is(calls.length, 7, 'one resolver call per relocation, as klp_resolve_symbols does')
  const text = elf.sectionByName('.text')!.data
  const S1 = ADDRS['vmlinux:saved_command_line']
  const S2 = ADDRS['vmlinux:cmdline_proc_show']
  const expected = Buffer.alloc(64)
  Buffer.from(le(S1 + 8n, 8)).copy(expected, 0)
  Buffer.from(le(S2 - 4n - (TEXT_BASE + 8n), 4)).copy(expected, 8)
  Buffer.from(le(S2 - 4n - (TEXT_BASE + 12n), 4)).copy(expected, 12)
  Buffer.from(le(0x1e050n, 4)).copy(expected, 16)
  Buffer.from(le(S1, 4)).copy(expected, 20)
  Buffer.from(le(S1 - (TEXT_BASE + 24n), 8)).copy(expected, 24)
  t.deepEqual([...text], [...expected])
  // Literal spot checks of the little-endian encodings.
  t.deepEqual([...text.subarray(0, 8)], [0xe8, 0xc1, 0xa4, 0x82, 0xff, 0xff, 0xff, 0xff])
  t.deepEqual([...text.subarray(8, 12)], [0x04, 0x1a, 0x9f, 0xc0]) // 0xffffffff813f2a10 - 4 - 0xffffffffc0a01008
  t.deepEqual([...text.subarray(16, 20)], [0x50, 0xe0, 0x01, 0x00])
  t.deepEqual([...text.subarray(20, 24)], [0xe0, 0xc1, 0xa4, 0x82])
  const sym = elf.symbols.find((s) => s.name === '.klp.sym.vmlinux.saved_command_line,0')!
  t.is(sym.value, S1, 'st_value holds the resolved address')

  // Applying again hits the kernel's "existing value is nonzero" check.
  t.is(klpApplySectionRelocs(elf, sec, 'vmlinux', mapResolver(), logger(log), true, { sectionBase: base(elf) }), -ENOEXEC)
  t.deepEqual(log, [['err', `x86/modules: Invalid relocation target, existing value is nonzero for type 1, loc ffffffffc0a01000, val ${(S1 + 8n).toString(16)}`]])

  // Clearing writes zeros back (and never fails at the klp level).
  log.length = 0
  t.is(klpApplySectionRelocs(elf, sec, null, () => { throw new Error('clear must not resolve') }, logger(log), false, { sectionBase: base(elf) }), 0)
  t.deepEqual(log, [])
  t.true(text.every((b) => b === 0))
  t.is(klpApplySectionRelocs(elf, sec, null, mapResolver(), logger(log), true, { sectionBase: base(elf) }), 0, 'can be applied again')
})

test('x86_64: clearing a target that changed warns and stops like the kernel', (t) => {
  const elf = klpObject(EM_X86_64, '.klp.rela.vmlinux..text', [
    { off: 0, type: R_X86_64_64, sym: '.klp.sym.vmlinux.saved_command_line,0' },
    { off: 8, type: R_X86_64_64, sym: '.klp.sym.vmlinux.cmdline_proc_show,0' },
  ])
  const sec = elf.sectionByName('.klp.rela.vmlinux..text')!
  const log: Log = []
  t.is(klpApplySectionRelocs(elf, sec, null, mapResolver(), logger(log), true, { sectionBase: base(elf) }), 0)
  const text = elf.sectionByName('.text')!.data
  text[0] ^= 1
  t.is(clearRelocateAdd(elf, sec, logger(log), { sectionBase: base(elf) }), -ENOEXEC)
  t.deepEqual(log, [['warn', 'x86/modules: Invalid relocation target, existing value does not match expected value for type 1, loc ffffffffc0a01000, val ffffffff82a4c1e0']])
  t.not(text.readBigUInt64LE(8), 0n, 'later relocations stay in place')
  log.length = 0
  t.is(klpApplySectionRelocs(elf, sec, null, mapResolver(), logger(log), false, { sectionBase: base(elf) }), 0, 'klp_write_section_relocs ignores the clear result')
  t.is(log.length, 1)
})

test('x86_64: overflow and unknown relocation types', (t) => {
  const cases: Array<[Reloc, number, string[], { checkPcrelOverflow?: boolean }?]> = [
    [{ off: 0, type: R_X86_64_32, sym: '.klp.sym.vmlinux.saved_command_line,0' }, -ENOEXEC,
      ['overflow in relocation type 10 val ffffffff82a4c1e0', "`lp_mod' likely not compiled with -mcmodel=kernel"]],
    [{ off: 0, type: R_X86_64_32S, sym: '.klp.sym.vmlinux.__per_cpu_var,0', addend: 0x80000000n }, -ENOEXEC,
      ['overflow in relocation type 11 val 8001e040', "`lp_mod' likely not compiled with -mcmodel=kernel"]],
    [{ off: 0, type: R_X86_64_PC32, sym: '.klp.sym.vmlinux.far_away,0' }, -ENOEXEC,
      [`overflow in relocation type 2 val ${BigInt.asUintN(64, 0xffffffff01000000n - TEXT_BASE).toString(16)}`, "`lp_mod' likely not compiled with -mcmodel=kernel"]],
    [{ off: 0, type: R_X86_64_PLT32, sym: '.klp.sym.vmlinux.far_away,0' }, 0, [], { checkPcrelOverflow: false }],
    [{ off: 0, type: 3 /* R_X86_64_GOT32 */, sym: '.klp.sym.vmlinux.saved_command_line,0' }, -ENOEXEC, ['lp_mod: Unknown rela relocation: 3']],
  ]
  for (const [reloc, ret, msgs, opts] of cases) {
    const elf = klpObject(EM_X86_64, '.klp.rela.vmlinux..text', [reloc])
    const log: Log = []
    t.is(klpApplySectionRelocs(elf, elf.sectionByName('.klp.rela.vmlinux..text')!, null, mapResolver(), logger(log), true, { sectionBase: base(elf), ...opts }), ret)
    t.deepEqual(log.map(([, m]) => m), msgs)
    t.true(log.every(([l]) => l === 'err'))
    if (ret !== 0) t.true(elf.sectionByName('.text')!.data.every((b) => b === 0), 'nothing written on overflow')
  }
  // Without the check, PC32 truncates like the kernel.
  const elf = klpObject(EM_X86_64, '.klp.rela.vmlinux..text', [{ off: 4, type: R_X86_64_PC32, sym: '.klp.sym.vmlinux.far_away,0' }])
  const relaSec = elf.sectionByName('.klp.rela.vmlinux..text')!
  t.is(klpResolveSymbols(elf, relaSec, 'vmlinux', mapResolver(), () => t.fail()), 0)
  t.is(applyRelocateAdd(elf, relaSec, () => t.fail(), { sectionBase: base(elf), checkPcrelOverflow: false }), 0)
  t.is(elf.sectionByName('.text')!.data.readUInt32LE(4), Number(BigInt.asUintN(32, 0xffffffff01000000n - TEXT_BASE - 4n)))
})

test('klp: section and symbol checks, kernel messages and EINVAL', (t) => {
  const run = (secName: string, relocs: Reloc[], objname: string | null) => {
    const elf = klpObject(EM_X86_64, secName, relocs)
    const log: Log = []
    const calls: Array<[string, string, number]> = []
    const ret = klpApplySectionRelocs(elf, elf.sectionByName(secName)!, objname, mapResolver(calls), logger(log), true, { sectionBase: base(elf) })
    return { ret, log, calls, elf }
  }
  const sym = '.klp.sym.vmlinux.saved_command_line,0'

  let r = run('.klp.rela..text', [{ off: 0, type: R_X86_64_64, sym }], null)
  t.is(r.ret, -EINVAL)
  t.deepEqual(r.log, [['err', 'section .klp.rela..text has an incorrectly formatted name']])

  r = run('.klp.rela.ext4..text', [{ off: 0, type: R_X86_64_64, sym: '.klp.sym.ext4.ext4_static,0' }], null)
  t.is(r.ret, 0, 'sections of other objects are skipped')
  t.deepEqual(r.log, [])
  t.deepEqual(r.calls, [])

  r = run('.klp.rela.vmlinux..text', [{ off: 0, type: R_X86_64_64, sym: 'printk', plain: true }], 'vmlinux')
  t.is(r.ret, -EINVAL)
  t.deepEqual(r.log, [['err', 'symbol printk is not marked as a livepatch symbol']])

  r = run('.klp.rela.vmlinux..text', [{ off: 0, type: R_X86_64_64, sym: '.klp.sym.vmlinux.foo' }], null)
  t.is(r.ret, -EINVAL)
  t.deepEqual(r.log, [['err', 'symbol .klp.sym.vmlinux.foo has an incorrectly formatted name']])

  r = run('.klp.rela.ext4..text', [{ off: 0, type: R_X86_64_64, sym }], 'ext4')
  t.is(r.ret, -EINVAL)
  t.deepEqual(r.log, [['err', "invalid access to vmlinux symbol 'saved_command_line' from module-specific livepatch relocation section"]])
  t.deepEqual(r.calls, [])

  r = run('.klp.rela.ext4..text', [{ off: 0, type: R_X86_64_64, sym: '.klp.sym.ext4.ext4_static,0', addend: 2 }], 'ext4')
  t.is(r.ret, 0)
  t.is(r.elf.sectionByName('.text')!.data.readBigUInt64LE(0), ADDRS['ext4:ext4_static'] + 2n)

  r = run('.klp.rela.vmlinux..text', [
    { off: 0, type: R_X86_64_64, sym },
    { off: 8, type: R_X86_64_64, sym: '.klp.sym.vmlinux.missing,0' },
  ], null)
  t.is(r.ret, -ENOENT, 'the resolver errno is propagated')
  t.deepEqual(r.log, [])
  t.true(r.elf.sectionByName('.text')!.data.every((b) => b === 0), 'symbols are all resolved before anything is written')
})

test('klpResolveSymbols alone stores addresses in st_value', (t) => {
  const elf = klpObject(EM_X86_64, '.klp.rela.vmlinux..text', [{ off: 0, type: R_X86_64_64, sym: '.klp.sym.vmlinux.cmdline_proc_show,0' }])
  t.is(klpResolveSymbols(elf, elf.sectionByName('.klp.rela.vmlinux..text')!.index, 'vmlinux', mapResolver(), () => t.fail()), 0)
  t.is(elf.symbols.find((s) => s.name.startsWith('.klp.sym.'))!.value, ADDRS['vmlinux:cmdline_proc_show'])
})

test('aarch64: data relocations, overflow, unsupported types, no clearing', (t) => {
  const elf = klpObject(EM_AARCH64, '.klp.rela.vmlinux..text', [
    { off: 0, type: R_AARCH64_ABS64, sym: '.klp.sym.vmlinux.saved_command_line,0', addend: 8 },
    { off: 8, type: R_AARCH64_ABS32, sym: '.klp.sym.vmlinux.__per_cpu_var,0' },
    { off: 12, type: R_AARCH64_PREL32, sym: '.klp.sym.vmlinux.ext4_near,0' },
    { off: 16, type: R_AARCH64_PREL64, sym: '.klp.sym.vmlinux.saved_command_line,0' },
    { off: 24, type: R_AARCH64_ABS16, sym: '.klp.sym.vmlinux.small,0' },
    { off: 26, type: R_AARCH64_PREL16, sym: '.klp.sym.vmlinux.ext4_near,0', addend: -0x100 },
  ])
  const addrs: Record<string, bigint> = { saved_command_line: 0xffff800081a4c1e0n, __per_cpu_var: 0x1e040n, ext4_near: TEXT_BASE + 0x2000n, small: 0x1234n }
  const resolver: KlpResolver = (_o, s) => ({ addr: addrs[s] })
  const log: Log = []
  const sec = elf.sectionByName('.klp.rela.vmlinux..text')!
  t.is(klpApplySectionRelocs(elf, sec, null, resolver, logger(log), true, { sectionBase: base(elf) }), 0)
  t.deepEqual(log, [])
  const d = elf.sectionByName('.text')!.data
  t.deepEqual([...d.subarray(0, 8)], le(0xffff800081a4c1e8n, 8))
  t.deepEqual([...d.subarray(8, 12)], [0x40, 0xe0, 0x01, 0x00])
  t.is(d.readInt32LE(12), 0x2000 - 12)
  t.is(d.readBigUInt64LE(16), BigInt.asUintN(64, 0xffff800081a4c1e0n - (TEXT_BASE + 16n)))
  t.is(d.readUInt16LE(24), 0x1234)
  t.is(d.readInt16LE(26), 0x2000 - 0x100 - 26)
  // No nonzero check on arm64: applying again just rewrites.
  t.is(klpApplySectionRelocs(elf, sec, null, resolver, logger(log), true, { sectionBase: base(elf) }), 0)
  // clear_relocate_add() is the empty __weak default on arm64.
  t.is(klpApplySectionRelocs(elf, sec, null, resolver, logger(log), false, { sectionBase: base(elf) }), 0)
  t.deepEqual([...d.subarray(8, 12)], [0x40, 0xe0, 0x01, 0x00])

  const ovf = klpObject(EM_AARCH64, '.klp.rela.vmlinux..text', [{ off: 0, type: R_AARCH64_ABS32, sym: '.klp.sym.vmlinux.saved_command_line,0' }])
  const log2: Log = []
  t.is(klpApplySectionRelocs(ovf, ovf.sectionByName('.klp.rela.vmlinux..text')!, null, resolver, logger(log2), true, { sectionBase: base(ovf) }), -ENOEXEC)
  t.deepEqual(log2, [['err', 'module lp_mod: overflow in relocation type 258 val ffff800081a4c1e0']])

  const bad = klpObject(EM_AARCH64, '.klp.rela.vmlinux..text', [{ off: 0, type: 283 /* CALL26 */, sym: '.klp.sym.vmlinux.small,0' }])
  const log3: Log = []
  t.is(klpApplySectionRelocs(bad, bad.sectionByName('.klp.rela.vmlinux..text')!, null, resolver, logger(log3), true, { sectionBase: base(bad), moduleName: 'other' }), -ENOEXEC)
  t.deepEqual(log3, [['err', 'module other: unsupported RELA relocation: 283']])
})

test('archLog receives the arch messages', (t) => {
  const elf = klpObject(EM_X86_64, '.klp.rela.vmlinux..text', [{ off: 0, type: 3, sym: '.klp.sym.vmlinux.small,0' }])
  const klpLog: Log = []
  const archLog: Log = []
  const ret = klpApplySectionRelocs(elf, elf.sectionByName('.klp.rela.vmlinux..text')!, null, () => ({ addr: 1n }), logger(klpLog), true,
    { sectionBase: base(elf), archLog: logger(archLog) })
  t.is(ret, -ENOEXEC)
  t.deepEqual(klpLog, [])
  t.deepEqual(archLog, [['err', 'lp_mod: Unknown rela relocation: 3']])
})

test('buildKo refs resolved through a kallsyms index, per object', (t) => {
  const ko = readKo(sampleKo())
  const kallsyms = parseKallsyms([
    'ffffffff81000000 T _stext',
    'ffffffff813f2a10 t cmdline_proc_show',
    'ffffffff81400000 t dup_static',
    'ffffffff81500000 t dup_static',
    'ffffffffc0b02340 t ext4_static\t[ext4]',
  ].join('\n'))
  const log: Log = []
  const index = new KallsymsIndex(kallsyms, logger(log))
  const refs = ko.elf.sectionByName('.data.klpsim.refs')!
  const opts = { sectionBase: () => 0xffffffffc0c00000n }
  t.is(klpWriteObjectRelocs(ko.elf, null, index.resolver(), logger(log), true, opts), 0)
  t.deepEqual([0, 1, 2, 3].map((i) => refs.data.readBigUInt64LE(i * 8)), [0xffffffff813f2a10n, 0xffffffff81500000n, 0n, 0xffffffff813f2a10n])
  t.is(klpWriteObjectRelocs(ko.elf, 'ext4', index.resolver(), logger(log), true, opts), 0)
  t.is(refs.data.readBigUInt64LE(16), 0xffffffffc0b02340n)
  t.deepEqual(log, [])
  t.is(klpWriteObjectRelocs(ko.elf, 'ext4', index.resolver(), logger(log), false, opts), 0)
  t.is(refs.data.readBigUInt64LE(16), 0n)
  t.is(refs.data.readBigUInt64LE(0), 0xffffffff813f2a10n)
  t.is(klpWriteObjectRelocs(ko.elf, 'xfs', index.resolver(), logger(log), true, opts), 0, 'no section for that object')
})
