// A module's non-exported kernel symbols: `klpsim build` emits .klp.sym/.klp.rela
// entries, insmod resolves them, and the code receives the addresses.
import test from 'ava'
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { startInstance } from './helpers/klpsim'

const FUSE = require('node:fs').existsSync('/dev/fuse') && process.getuid?.() === 0
const maybe = FUSE ? test : test.skip

function source (name: string, refs: string): string {
  return `import { defineModule } from 'klpsim'
export default defineModule({
  name: '${name}',
  livepatch: true,
  references: ${refs},
  init: (ctx) => {
    for (const [k, v] of Object.entries(ctx.module.refs)) ctx.module.pr_info('%s at %lx', k, v)
    return ctx.klp.patch({ objs: [{ name: null, funcs: [] }] })
  },
  exit: () => {},
})
`
}

maybe(`resolved at insmod; a wrong sympos or a missing symbol fails insmod as on a real kernel${FUSE ? '' : ' (skipped: needs root and /dev/fuse)'}`, async t => {
  const inst = await startInstance(t)
  const build = async (name: string, refs: string) => {
    await fsp.writeFile(join(inst.dir, `${name}.ts`), source(name, refs))
    const r = await inst.klpsim(['build', join(inst.dir, `${name}.ts`), '-o', join(inst.dir, `${name}.ko`)])
    t.is(r.code, 0, r.stderr)
    return join(inst.dir, `${name}.ko`)
  }
  const good = await build('refs_ok', "[{ symbol: 'saved_command_line' }, { symbol: 'type_show', sympos: 3 }]")
  let r = await inst.sh(`insmod ${good}`)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout + r.stderr, '')
  const kallsyms = await fsp.readFile(join(inst.mnt, 'proc', 'kallsyms'), 'utf8')
  const typeShow = kallsyms.split('\n').filter(l => / t type_show$/.test(l))[2].split(' ')[0].replace(/^0+/, '')
  const saved = kallsyms.split('\n').find(l => / D saved_command_line$/.test(l))!.split(' ')[0].replace(/^0+/, '')
  const dmesg = (await inst.klpsim(['dmesg', '--notime'])).stdout
  t.true(dmesg.includes(`refs_ok: vmlinux:type_show at ${typeShow}`), dmesg)
  t.true(dmesg.includes(`refs_ok: saved_command_line at ${saved}`))

  const amb = await build('refs_amb', "[{ symbol: 'type_show' }]")
  r = await inst.sh(`insmod ${amb}`)
  t.is(r.code, 1)
  t.is(r.stderr.trim(), `insmod: ERROR: could not insert module ${amb}: Invalid parameters`)
  const missing = await build('refs_missing', "[{ symbol: 'no_such_symbol_anywhere' }]")
  r = await inst.sh(`insmod ${missing}`)
  t.is(r.code, 1)
  const log = (await inst.klpsim(['dmesg', '--notime'])).stdout
  t.true(log.includes("livepatch: unresolvable ambiguity for symbol 'type_show' in object '(null)'"))
  t.true(log.includes("livepatch: symbol 'no_such_symbol_anywhere' not found in symbol table"))
  t.false((await fsp.readdir(join(inst.mnt, 'sys', 'module'))).some(n => n.startsWith('refs_amb') || n.startsWith('refs_missing')))
})
