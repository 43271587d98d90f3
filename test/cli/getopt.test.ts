// glibc getopt_long behaviour the front ends rely on, and the raw argument
// hand-over from yargs.
import test from 'ava'
import { getopt } from '../../lib/cli/getopt'
import { BIN, exec } from './helpers/klpsim'

const SPEC = {
  short: 'ab:c::n',
  long: [
    { name: 'all', arg: 'none' as const, key: 'a' },
    { name: 'field', arg: 'required' as const, key: 'b' },
    { name: 'load', arg: 'optional' as const, key: 'c' },
    { name: 'mount', arg: 'required' as const, key: 'mount' },
    { name: 'modname', arg: 'none' as const, key: 'm' },
  ],
}

test('short options: bundles, attached and separate arguments, optional arguments', t => {
  t.deepEqual(getopt(['-an', '-bX', '-b', 'Y', '-c', '-cZ', 'op'], SPEC), {
    ok: true,
    options: [{ key: 'a' }, { key: 'n' }, { key: 'b', value: 'X' }, { key: 'b', value: 'Y' }, { key: 'c' }, { key: 'c', value: 'Z' }],
    operands: ['op'],
  })
})

test('long options: =value, separate value, unambiguous prefixes', t => {
  t.deepEqual(getopt(['--field=1', '--field', '2', '--al', '--load', '--load=f', '--mount', 'DIR'], SPEC), {
    ok: true,
    options: [{ key: 'b', value: '1' }, { key: 'b', value: '2' }, { key: 'a' }, { key: 'c' }, { key: 'c', value: 'f' }, { key: 'mount', value: 'DIR' }],
    operands: [],
  })
})

test('operands are permuted past options; -- ends options; a lone - is an operand', t => {
  t.deepEqual(getopt(['x.ko', '-a', 'p=-1', '--', '-n'], SPEC), { ok: true, options: [{ key: 'a' }], operands: ['x.ko', 'p=-1', '-n'] })
  t.deepEqual(getopt(['-'], SPEC), { ok: true, options: [], operands: ['-'] })
  t.deepEqual(getopt(['x', '-a'], { ...SPEC, stopAtOperand: true }), { ok: true, options: [], operands: ['x', '-a'] })
})

test('errors in glibc\'s words', t => {
  t.deepEqual(getopt(['-z'], SPEC), { ok: false, error: "invalid option -- 'z'" })
  t.deepEqual(getopt(['-b'], SPEC), { ok: false, error: "option requires an argument -- 'b'" })
  t.deepEqual(getopt(['--nope'], SPEC), { ok: false, error: "unrecognized option '--nope'" })
  t.deepEqual(getopt(['--field'], SPEC), { ok: false, error: "option '--field' requires an argument" })
  t.deepEqual(getopt(['--all=1'], SPEC), { ok: false, error: "option '--all' doesn't allow an argument" })
  t.deepEqual(getopt(['--mo'], SPEC), { ok: false, error: "option '--mo' is ambiguous; possibilities: '--mount' '--modname'" })
})

test('a front end gets its arguments exactly as typed, even its own name or option-like values', async t => {
  let r = await exec(process.execPath, [BIN, 'insmod', 'insmod'])
  t.is(r.stderr, 'insmod: ERROR: could not load module insmod: No such file or directory\n')
  r = await exec(process.execPath, [BIN, 'insmod', '-19'])
  t.is(r.stderr, "insmod: invalid option -- '1'\n")
  r = await exec(process.execPath, [BIN, 'insmod', '--', '-19'])
  t.is(r.stderr, 'insmod: ERROR: could not load module -19: No such file or directory\n')
  r = await exec(process.execPath, [BIN, 'modinfo', '--help'])
  t.is(r.code, 0)
  t.regex(r.stdout, /^Usage:\n\tmodinfo \[options\]/)
})
