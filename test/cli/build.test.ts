// klpsim build and klpsim modules: module sources to .ko files (no daemon needed).
import test, { ExecutionContext } from 'ava'
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { readKo } from '../../lib/elf/ko'
import { decodePayload } from '../../lib/module-file'
import { BUILTIN_MODULES } from '../../lib/modules'
import { BIN, exec, REPO, tempDir } from './helpers/klpsim'

async function project (t: ExecutionContext, files: Record<string, string>): Promise<{ dir: string, build: (...args: string[]) => ReturnType<typeof exec> }> {
  const dir = await tempDir(t, 'klpsim-build-')
  for (const [name, text] of Object.entries(files)) {
    await fsp.mkdir(join(dir, name, '..'), { recursive: true })
    await fsp.writeFile(join(dir, name), text)
  }
  return { dir, build: (...args) => exec(process.execPath, [BIN, 'build', ...args], { cwd: dir }) }
}

const MINIMAL = "import { defineModule } from 'klpsim'\nexport default defineModule({ name: 'minimal', init: () => 0, exit: () => {} })\n"

test('the example builds: TypeScript with a relative import, modinfo, the bundle and no klp relocations', async t => {
  const { dir, build } = await project(t, {})
  const r = await build(join(REPO, 'examples', 'livepatch-cmdline', 'livepatch_cmdline.ts'), '-o', 'x/../livepatch_cmdline.ko')
  t.is(r.code, 1, 'a missing output directory is an error')
  t.is(r.stderr, 'klpsim: cannot write x/../livepatch_cmdline.ko: ENOENT\n')
  const ok = await build(join(REPO, 'examples', 'livepatch-cmdline', 'livepatch_cmdline.ts'))
  t.is(ok.code, 0, ok.stderr)
  t.is(ok.stdout + ok.stderr, '')
  const ko = readKo(await fsp.readFile(join(dir, 'livepatch_cmdline.ko')))
  t.is(ko.name, 'livepatch_cmdline')
  t.deepEqual(ko.modinfo.map(([k]) => k), ['livepatch', 'license', 'description', 'parm', 'parmtype', 'srcversion', 'depends', 'retpoline', 'name', 'vermagic'])
  t.is(ko.modinfoMap.get('vermagic'), '7.1.0-klpsim SMP preempt mod_unload modversions ')
  t.regex(ko.modinfoMap.get('srcversion')!, /^[0-9A-F]{24}$/)
  const payload = decodePayload(ko.payload!, 'x')
  t.true('files' in payload && Object.keys(payload.files).sort().join(',') === 'livepatch_cmdline.js,reads.js')
  t.deepEqual(ko.klpRelaSections, [])
})

test('srcversion follows the source; --release sets vermagic; references become .klp.rela sections', async t => {
  const withRefs = "import { defineModule } from 'klpsim'\nexport default defineModule({ name: 'refs', livepatch: true,\n  references: [{ symbol: 'saved_command_line' }, { object: 'xfs', symbol: 'xfs_fs_fill_super', sympos: 2 }],\n  init: () => 0, exit: () => {} })\n"
  const { dir, build } = await project(t, { 'minimal.ts': MINIMAL, 'refs.ts': withRefs })
  t.is((await build('minimal.ts', '-o', 'a.ko')).code, 0)
  t.is((await build('minimal.ts', '-o', 'b.ko', '--release', '6.1.0-18-amd64')).code, 0)
  await fsp.appendFile(join(dir, 'minimal.ts'), '// changed\n')
  t.is((await build('minimal.ts', '-o', 'c.ko')).code, 0)
  const [a, b, c] = await Promise.all(['a.ko', 'b.ko', 'c.ko'].map(async f => readKo(await fsp.readFile(join(dir, f)))))
  t.is(a.modinfoMap.get('srcversion'), b.modinfoMap.get('srcversion'))
  t.not(a.modinfoMap.get('srcversion'), c.modinfoMap.get('srcversion'))
  t.is(b.modinfoMap.get('vermagic'), '6.1.0-18-amd64 SMP preempt mod_unload modversions ')
  t.false(a.livepatch)
  t.is(a.modinfoMap.get('livepatch'), undefined)

  t.is((await build('refs.ts')).code, 0)
  const refs = readKo(await fsp.readFile(join(dir, 'refs.ko')))
  t.true(refs.livepatch)
  t.deepEqual(refs.klpRelaSections.map(s => [s.objname, s.count]), [['vmlinux', 1], ['xfs', 1]])
  t.deepEqual(refs.elf.symbols.filter(s => s.name.startsWith('.klp.sym.')).map(s => s.name), ['.klp.sym.vmlinux.saved_command_line,0', '.klp.sym.xfs.xfs_fs_fill_super,2'])
})

test('JavaScript sources, ESM or CommonJS, build too', async t => {
  const { dir, build } = await project(t, {
    'esm.js': "import { defineModule } from 'klpsim'\nimport { n } from './lib/n.js'\nexport default defineModule({ name: 'esm_mod', init: () => n - 1, exit: () => {} })\n",
    'lib/n.js': 'export const n = 1\n',
    'cjs.js': "const { defineModule } = require('klpsim')\nmodule.exports = defineModule({ name: 'cjs_mod', init: () => 0 })\n",
  })
  t.is((await build('esm.js')).code, 0)
  t.is((await build('cjs.js')).code, 0)
  const esm = readKo(await fsp.readFile(join(dir, 'esm_mod.ko')))
  const p = decodePayload(esm.payload!, 'x')
  t.true('files' in p && Object.keys(p.files).sort().join(',') === 'esm.js,lib/n.js')
})

test('build errors: one line, exit 1, no file written', async t => {
  const { dir, build } = await project(t, {
    'syntax.ts': "import { defineModule } from 'klpsim'\nexport default defineModule({ name: 'x' ",
    'node.ts': "import { readFileSync } from 'fs'\nexport default { name: 'node_mod', x: readFileSync }\n",
    'missing.ts': "import { x } from './nope'\nexport default { name: 'missing', x }\n",
    'noexport.ts': 'export const x = 1\n',
    'throws.ts': "throw new Error('kaboom')\n",
    'dash.ts': "export default { name: 'has-dash' }\n",
    'badinit.ts': "export default { name: 'badinit', init: 42 }\n",
  })
  const cases: Array<[string, RegExp]> = [
    ['syntax.ts', /^klpsim: .*syntax\.ts:2:\d+: error TS\d+: .+\n$/],
    ['node.ts', /^klpsim: .*node\.ts: import of 'fs' is not allowed: a klpsim module may import only 'klpsim' and its own relative files\n$/],
    ['missing.ts', /^klpsim: .*missing\.ts: cannot find '\.\/nope'\n$/],
    ['noexport.ts', /^klpsim: noexport\.ts: evaluating the module failed: noexport\.ts: the module definition has no name\n$/],
    ['throws.ts', /^klpsim: throws\.ts: evaluating the module failed: kaboom\n$/],
    ['dash.ts', /^klpsim: dash\.ts: module name 'has-dash' is not a kernel module name \(1-55 letters, digits and '_'\)\n$/],
    ['badinit.ts', /^klpsim: badinit\.ts: evaluating the module failed: badinit\.ts: "init" of the module definition is not a function\n$/],
    ['nosuch.ts', /^klpsim: cannot read .*nosuch\.ts: ENOENT\n$/],
  ]
  for (const [file, re] of cases) {
    const r = await build(file, '-o', 'out.ko')
    t.is(r.code, 1, file)
    t.regex(r.stderr, re, file)
    t.is(r.stdout, '')
  }
  await t.throwsAsync(fsp.access(join(dir, 'out.ko')))
})

test('a file name that differs from the module name builds, with a warning', async t => {
  const { build } = await project(t, { 'minimal.ts': MINIMAL })
  const r = await build('minimal.ts', '-o', 'other.ko')
  t.is(r.code, 0)
  t.is(r.stderr, "klpsim: warning: other.ko holds module 'minimal'; insmod does not mind, but kpatch and modprobe find modules by file name\n")
  t.is((await build('minimal.ts', '-o', 'minimal.ko')).stderr, '')
})

test('modules export writes every shipped module under its upstream file name; modules list shows them', async t => {
  const dir = await tempDir(t, 'klpsim-export-')
  let r = await exec(process.execPath, [BIN, 'modules', 'export', join(dir, 'out')])
  t.is(r.code, 0, r.stderr)
  const names = (await fsp.readdir(join(dir, 'out'))).sort()
  t.deepEqual(names, BUILTIN_MODULES.map(m => m.file).sort())
  t.true(names.includes('livepatch-sample.ko') && names.includes('test_klp_mod_target.ko'))
  for (const m of BUILTIN_MODULES) {
    const ko = readKo(await fsp.readFile(join(dir, 'out', m.file)))
    t.is(ko.name, m.def.name)
    t.is(ko.livepatch, m.def.livepatch === true, m.file)
    t.deepEqual(decodePayload(ko.payload!, m.file), { format: 1, builtin: m.def.name })
  }
  r = await exec(process.execPath, [BIN, 'modules', 'list'])
  t.is(r.stdout.split('\n').filter(Boolean).length, BUILTIN_MODULES.length)
  t.regex(r.stdout, /^livepatch-sample\.ko\s+livepatch_sample\s+livepatch\s+Livepatch sample/m)
  await fsp.writeFile(join(dir, 'file'), '')
  r = await exec(process.execPath, [BIN, 'modules', 'export', join(dir, 'file')])
  t.is(r.code, 1)
  t.regex(r.stderr, /^klpsim: cannot write into .*file: EEXIST\n$/)
})

test('the examples type-check against the module API (examples/tsconfig.json maps \'klpsim\' to lib/)', async t => {
  const r = await exec(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO, 'examples', 'tsconfig.json')], { timeoutMs: 120_000 })
  t.is(r.stdout + r.stderr, '')
  t.is(r.code, 0)
})
