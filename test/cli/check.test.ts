// klpsim check: a livepatch .ko preflighted against a target's symbol table.
import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildKo, koWriter, KlpRef } from '../../lib/elf/ko'
import { SHN_UNDEF, STB_WEAK, STT_NOTYPE } from '../../lib/elf/constants'

const BIN = join(__dirname, '..', '..', '..', 'bin', 'klpsim')

function run (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise(resolve => {
    execFile(process.execPath, [BIN, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

const KALLSYMS = [
  'ffffffff81000000 T _stext',
  'ffffffff81001000 T saved_command_line_fn',
  'ffffffff81001100 t dup',
  'ffffffff81001200 T other',
  'ffffffff81001300 t dup',
  'ffffffff81001400 T _etext',
  'ffffffffc0600000 t mod_fn\t[xfs]',
  'ffffffffc0600100 t mod_dup\t[xfs]',
  'ffffffffc0600200 t mod_dup\t[xfs]',
].join('\n') + '\n'

const dir = mkdtempSync(join(tmpdir(), 'klpsim-check-'))
test.after.always(() => rmSync(dir, { recursive: true, force: true }))
const kallsyms = join(dir, 'kallsyms')
writeFileSync(kallsyms, KALLSYMS)

function ko (name: string, refs: KlpRef[], livepatch = true): string {
  const path = join(dir, `${name}.ko`)
  const modinfo: Array<[string, string]> = [['license', 'GPL'], ['name', name], ['vermagic', '6.1.0-18-amd64 SMP preempt mod_unload modversions ']]
  if (livepatch) modinfo.unshift(['livepatch', 'Y'])
  writeFileSync(path, buildKo({ name, modinfo, payload: Buffer.from('{}'), klpRefs: refs }))
  return path
}

test('a module whose relocations all resolve passes', async t => {
  const file = ko('good', [
    { object: 'vmlinux', symbol: 'dup', sympos: 2 },
    { object: 'vmlinux', symbol: 'other', sympos: 0 },
    { object: 'xfs', symbol: 'mod_dup', sympos: 1 },
    { object: 'ext4', symbol: 'ext4_fn', sympos: 0 },
  ])
  const r = await run(['check', file, '--kallsyms', kallsyms])
  t.is(r.code, 0, r.stdout + r.stderr)
  t.regex(r.stdout, /vmlinux\s+2 relocations\s+resolved/)
  t.regex(r.stdout, /xfs\s+1 relocation\s+resolved/)
  t.regex(r.stdout, /ext4\s+1 relocation\s+not in the symbol table: resolved when it loads/)
  t.regex(r.stdout, /verdict: ok/)
})

test('ambiguous and missing symbols are reported with the kernel\'s messages and a non-zero exit', async t => {
  const file = ko('bad', [
    { object: 'vmlinux', symbol: 'dup', sympos: 0 },
    { object: 'xfs', symbol: 'mod_dup', sympos: 3 },
  ])
  const r = await run(['check', file, '--kallsyms', kallsyms, '--json'])
  t.is(r.code, 1)
  const report = JSON.parse(r.stdout)
  t.is(report.verdict, 'refused')
  t.is(report.errno, -22)
  t.true(report.messages.includes("livepatch: unresolvable ambiguity for symbol 'dup' in object '(null)'"))
  t.true(report.messages.includes("livepatch: symbol position 3 for symbol 'mod_dup' in object 'xfs' not found"))
  t.deepEqual(report.objects.map((o: { name: string, errno: number }) => [o.name, o.errno]), [['vmlinux', -22], ['xfs', -22]])
})

test('a module not marked livepatch, a vermagic mismatch and a non-ELF file are refused', async t => {
  const plain = ko('plain', [{ object: 'vmlinux', symbol: 'other', sympos: 0 }], false)
  let r = await run(['check', plain, '--kallsyms', kallsyms])
  t.is(r.code, 1)
  t.regex(r.stdout, /livepatch: module plain is not marked as a livepatch module/)
  const good = ko('good2', [])
  r = await run(['check', good, '--kallsyms', kallsyms, '--release', '6.12.0'])
  t.is(r.code, 1)
  t.regex(r.stdout, /built for 6\.1\.0-18-amd64, the target runs 6\.12\.0/)
  const junk = join(dir, 'junk.ko')
  writeFileSync(junk, 'definitely not ELF')
  r = await run(['check', junk, '--kallsyms', kallsyms])
  t.is(r.code, 1)
  t.regex(r.stdout, /verdict: refused — not a loadable module/)
})

test('undefined symbols: each one the target does not export is the kernel\'s Unknown symbol line, and a refusal', async t => {
  const withExports = join(dir, 'kallsyms-exports')
  writeFileSync(withExports, KALLSYMS + [
    'ffffffff82a00000 r __ksymtab__printk',
    'ffffffff82a0000c r __ksymtab_klp_shadow_get',
    'ffffffffc0601000 r __ksymtab_xfs_buf_read\t[xfs]',
  ].join('\n') + '\n')
  const build = (name: string, imports: string[], depends = '', weak: string[] = []): string => {
    const path = join(dir, `${name}.ko`)
    const parts = koWriter({ name, modinfo: [['livepatch', 'Y'], ['license', 'GPL'], ['depends', depends], ['name', name], ['vermagic', '6.1.0-18-amd64 SMP preempt mod_unload modversions ']], imports })
    for (const w of weak) parts.writer.addSymbol({ name: w, bind: STB_WEAK, type: STT_NOTYPE, section: SHN_UNDEF })
    writeFileSync(path, parts.writer.build())
    return path
  }
  let r = await run(['check', build('linked', ['_printk', 'klp_shadow_get', 'xfs_buf_read'], 'xfs', ['maybe_there']), '--kallsyms', withExports])
  t.is(r.code, 0, r.stdout)
  t.regex(r.stdout, /\nundefined symbols: 3, 3 exported by the target\n/)

  r = await run(['check', build('unlinked', ['_printk', 'klp_shadow_free', 'saved_command_line_fn']), '--kallsyms', withExports, '--json'])
  t.is(r.code, 1)
  const report = JSON.parse(r.stdout)
  t.deepEqual(report.undefined, { total: 3, checked: true, missing: ['klp_shadow_free', 'saved_command_line_fn'], unchecked: [] })
  t.deepEqual(report.messages, ['unlinked: Unknown symbol klp_shadow_free (err -2)', 'unlinked: Unknown symbol saved_command_line_fn (err -2)'], 'a global function that is not exported does not link either')
  t.is(report.errno, -2)
  t.is(report.reason, '2 undefined symbols are not exported by the target: insmod fails with ENOENT (Unknown symbol in module)')

  r = await run(['check', build('needs_ext4', ['ext4_get_inode_loc'], 'ext4'), '--kallsyms', withExports])
  t.is(r.code, 0, 'ext4 was not loaded when the table was taken: it may export the symbol')
  t.regex(r.stdout, /undefined symbols: 1, 0 exported by the target; 1 not checked \(exported by a module it depends on that the table does not show\?\): ext4_get_inode_loc\n/)

  r = await run(['check', build('no_exports', ['whatever']), '--kallsyms', kallsyms])
  t.is(r.code, 0)
  t.regex(r.stdout, /undefined symbols: 1, not checked: the symbol table lists no exports/)
})

test('bad arguments give one clear line', async t => {
  let r = await run(['check', '/nonexistent.ko', '--kallsyms', kallsyms])
  t.is(r.code, 2)
  t.is(r.stderr, 'klpsim: cannot read /nonexistent.ko: ENOENT\n')
  r = await run(['check', ko('x', []), '--kallsyms', '/nonexistent'])
  t.is(r.code, 2)
  t.is(r.stderr, 'klpsim: /nonexistent: cannot read (ENOENT)\n')
  r = await run(['check', ko('y', [])])
  t.is(r.code, 2)
  t.regex(r.stderr, /Missing required argument: kallsyms/)
})
