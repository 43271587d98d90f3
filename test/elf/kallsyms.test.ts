import test from 'ava'
import { performance } from 'node:perf_hooks'
import { EINVAL } from '../../lib/kobject/errno'
import { deriveSizes, parseKallsyms } from '../../lib/elf/kallsyms-file'
import { KallsymsIndex } from '../../lib/elf/kallsyms-index'
import type { KlpLogLevel } from '../../lib/elf/klp'

// vmlinux and two modules, with static symbols of the same name in each.
const KALLSYMS = [
  'ffffffff81000000 T _stext',
  'ffffffff81001000 t dup_static',
  'ffffffff81001000 T dup_alias',
  'ffffffff81002000 T unique_fn',
  'ffffffff81003000 t dup_static',
  'ffffffff81004000 t dup_static',
  'ffffffff81005000 T _etext',
  '0000000000000000 t zero_addr',
  'ffffffffc0a00000 t dup_static\t[mymod]',
  'ffffffffc0a00100 t mod_only\t[mymod]',
  'ffffffffc0a00200 t dup_static\t[mymod]',
  'ffffffffc0b00000 t dup_static\t[other]',
  'ffffffffc0b00080 d other_data\t[other]',
  '',
].join('\n')

test('parseKallsyms: /proc/kallsyms lines, module column, file order', (t) => {
  const e = parseKallsyms(KALLSYMS)
  t.is(e.length, 13)
  t.deepEqual(e[0], { addr: 0xffffffff81000000n, type: 'T', name: '_stext', module: null })
  t.deepEqual(e[8], { addr: 0xffffffffc0a00000n, type: 't', name: 'dup_static', module: 'mymod' })
  t.deepEqual(e[12], { addr: 0xffffffffc0b00080n, type: 'd', name: 'other_data', module: 'other' })
  t.deepEqual(e.map((x) => x.module), [null, null, null, null, null, null, null, null, 'mymod', 'mymod', 'mymod', 'other', 'other'])
  t.is(e[7].addr, 0n)
})

test('parseKallsyms: System.map, CRLF, blank lines, buffers, odd spacing', (t) => {
  const map = '0000000000000000 D __per_cpu_start\r\n\r\nffffffff81000000 T _text\n   \nffffffff81000000 T startup_64'
  t.deepEqual(parseKallsyms(map), [
    { addr: 0n, type: 'D', name: '__per_cpu_start', module: null },
    { addr: 0xffffffff81000000n, type: 'T', name: '_text', module: null },
    { addr: 0xffffffff81000000n, type: 'T', name: 'startup_64', module: null },
  ])
  t.deepEqual(parseKallsyms(Buffer.from('FFFFFFFFC0000000  t\tfoo   [bar]  \n')), [{ addr: 0xffffffffc0000000n, type: 't', name: 'foo', module: 'bar' }])
  t.deepEqual(parseKallsyms('1 T a\n7fffffff T b\n80000000 T c\nffffffff T d\n100000000 T e\nffffffff7fffffff T f\n').map((x) => x.addr),
    [1n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0xffffffff7fffffffn])
  t.deepEqual(parseKallsyms('ffffffff81000000 T sch\u00f6n\t[m\u00f6d]\n')[0], { addr: 0xffffffff81000000n, type: 'T', name: 'sch\u00f6n', module: 'm\u00f6d' })
  t.deepEqual(parseKallsyms(''), [])
})

test('parseKallsyms: bad lines name their line number', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['ffffffff81000000 T a\nnot-an-address T x\n', /^kallsyms line 2: bad address: "not-an-address T x"$/],
    ['\n\nffffffff81000000\n', /^kallsyms line 3: bad address/],
    ['11111111111111111 T a\n', /^kallsyms line 1: bad address/],
    ['ffffffff81000000 T\n', /^kallsyms line 1: bad symbol type/],
    ['ffffffff81000000 TT a\n', /^kallsyms line 1: bad symbol type/],
    ['ffffffff81000000  \n', /^kallsyms line 1: missing symbol type/],
    ['ffffffff81000000 T a b\n', /^kallsyms line 1: unexpected text after the symbol name/],
    ['ffffffff81000000 T a\t[mod\n', /^kallsyms line 1: bad module column/],
    ['ffffffff81000000 T a\t[]\n', /^kallsyms line 1: bad module column/],
    ['ffffffff81000000 T a\t[m] x\n', /^kallsyms line 1: unexpected text after the module name/],
  ]
  for (const [text, re] of cases) {
    const e = t.throws(() => parseKallsyms(text), { instanceOf: Error, message: re })
    if (e) t.false(e.message.includes('\n'))
  }
})

test('deriveSizes: distance to the next address of the same object', (t) => {
  const sized = deriveSizes(parseKallsyms(KALLSYMS))
  const size = (i: number) => sized[i].size
  t.is(size(0), 0x1000n) // _stext -> dup_static
  t.is(size(1), 0x1000n)
  t.is(size(2), 0x1000n, 'aliases share a size')
  t.is(size(3), 0x1000n)
  t.is(size(5), 0x1000n, 'up to the _etext end marker')
  t.is(size(6), 0n, 'the highest address of an object gets 0')
  t.is(size(7), 0xffffffff81000000n, 'address 0 counts like any other')
  t.is(size(8), 0x100n)
  t.is(size(10), 0n, 'module symbols end at their module')
  t.is(size(11), 0x80n)
  t.is(size(12), 0n)
  t.deepEqual(sized[8], { addr: 0xffffffffc0a00000n, type: 't', name: 'dup_static', module: 'mymod', size: 0x100n })
  const unsorted = deriveSizes(parseKallsyms('30 T c\n10 T a\n20 T b\n20 T b2\n'))
  t.deepEqual(unsorted.map((x) => [x.name, x.size]), [['c', 0n], ['a', 0x10n], ['b', 0x10n], ['b2', 0x10n]])
})

type Log = Array<[KlpLogLevel, string]>

test('KallsymsIndex: lookups and the kernel messages', (t) => {
  const log: Log = []
  const idx = new KallsymsIndex(parseKallsyms(KALLSYMS), (l, m) => log.push([l, m]))
  const expectErr = (r: bigint | number, msg: string) => {
    t.is(r, -EINVAL)
    t.deepEqual(log.splice(0), [['err', msg]])
  }
  t.is(idx.lookup('vmlinux', 'unique_fn', 0), 0xffffffff81002000n)
  t.is(idx.lookup(null, 'unique_fn', 1), 0xffffffff81002000n)
  expectErr(idx.lookup('vmlinux', 'unique_fn', 2), "symbol position 2 for symbol 'unique_fn' in object 'vmlinux' not found")
  expectErr(idx.lookup('vmlinux', 'dup_static', 0), "unresolvable ambiguity for symbol 'dup_static' in object '(null)'")
  t.is(idx.lookup('vmlinux', 'dup_static', 1), 0xffffffff81001000n)
  t.is(idx.lookup('vmlinux', 'dup_static', 2), 0xffffffff81003000n)
  t.is(idx.lookup('vmlinux', 'dup_static', 3), 0xffffffff81004000n)
  expectErr(idx.lookup('vmlinux', 'dup_static', 4), "symbol position 4 for symbol 'dup_static' in object 'vmlinux' not found")
  expectErr(idx.lookup('vmlinux', 'mod_only', 0), "symbol 'mod_only' not found in symbol table")
  expectErr(idx.lookup('vmlinux', 'zero_addr', 0), "symbol 'zero_addr' not found in symbol table")
  expectErr(idx.lookup('mymod', 'dup_static', 0), "unresolvable ambiguity for symbol 'dup_static' in object 'mymod'")
  t.is(idx.lookup('mymod', 'dup_static', 2), 0xffffffffc0a00200n)
  expectErr(idx.lookup('mymod', 'dup_static', 3), "symbol position 3 for symbol 'dup_static' in object 'mymod' not found")
  expectErr(idx.lookup('mymod', 'unique_fn', 0), "symbol 'unique_fn' not found in symbol table")
  t.is(idx.lookup('other', 'dup_static', 0), 0xffffffffc0b00000n)
  expectErr(idx.lookup('notloaded', 'dup_static', 0), "symbol 'dup_static' not found in symbol table")
  t.deepEqual(idx.addresses('vmlinux', 'dup_static'), [0xffffffff81001000n, 0xffffffff81003000n, 0xffffffff81004000n])
  const resolve = idx.resolver()
  t.deepEqual(resolve('vmlinux', 'dup_static', 2), { addr: 0xffffffff81003000n })
  t.is(resolve('vmlinux', 'dup_static', 0), -EINVAL)
  t.is(log.length, 1)
})

test('KallsymsIndex: counting stops early like klp_match_callback', (t) => {
  // With sympos 1 the first match ends the walk, so a later zero address does not matter,
  // while with sympos 2 the last address seen is the second one.
  const idx = new KallsymsIndex(parseKallsyms('10 t s\n0 t s\n30 t s\n'))
  t.is(idx.lookup('vmlinux', 's', 1), 0x10n)
  t.is(idx.lookup('vmlinux', 's', 2), -EINVAL, 'the 2nd match has address 0: "not found"')
  t.is(idx.lookup('vmlinux', 's', 3), 0x30n)
})

function bigKallsyms(lines: number): string {
  const out: string[] = []
  let a = 0xffffffff81000000n
  for (let i = 0; i < lines; i++) {
    a += BigInt(16 + (i % 7) * 16)
    const mod = i >= lines - 10000 ? `\t[mod${i % 5}]` : ''
    out.push(`${a.toString(16)} ${i % 3 ? 't' : 'T'} ${i % 97 === 0 ? 'dup_static' : `symbol_number_${i}`}${mod}`)
  }
  return out.join('\n') + '\n'
}

test('parseKallsyms: 200,000 lines', (t) => {
  const text = Buffer.from(bigKallsyms(200000))
  const parse: number[] = []
  const sizes: number[] = []
  let entries = parseKallsyms(text)
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now()
    entries = parseKallsyms(text)
    const t1 = performance.now()
    deriveSizes(entries)
    sizes.push(performance.now() - t1)
    parse.push(t1 - t0)
  }
  t.is(entries.length, 200000)
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
  t.log(`parse median ${median(parse).toFixed(1)} ms, deriveSizes median ${median(sizes).toFixed(1)} ms`)
  // Generous bound: ava runs test files in parallel; the target is < 50 ms on an idle machine.
  t.true(median(parse) < 500)
})
