// Booting from a real kernel's symbol table (--kallsyms): exactly its symbols,
// sizes from neighbouring addresses, duplicates resolved by sympos, modules resident.
import test from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Simulator } from '../../lib/simulator'
import { VirtualClock } from '../../lib/kernel/clock'
import { readKallsymsFile } from '../../lib/kernel/image/kallsyms-file'
import { defineModule } from '../../lib/kernel/module'
import { imageOf } from '../../lib/module-image'
import { EINVAL } from '../../lib/kobject/errno'
import { withClock } from '../helpers/engine'

/** A kallsyms dump shaped like a real one: the functions the simulation runs, duplicated statics, a module. */
function fixture (): string {
  const base = new Simulator({ clock: new VirtualClock(), bootTasks: false })
  const lines: string[] = []
  let addr = 0xffffffff81000000n
  const add = (type: string, name: string, size: number, mod?: string) => {
    lines.push(`${addr.toString(16)} ${type} ${name}${mod ? `\t[${mod}]` : ''}`)
    addr += BigInt(size)
  }
  add('T', '_stext', 0x10)
  for (const s of base.kernel.kallsyms.vmlinux.syms.slice(0, 400)) if (s.isText && s.size > 0) add(s.type, s.name, s.size)
  add('t', 'show_dup', 0x30)
  add('T', 'between', 0x50)
  add('t', 'show_dup', 0x70)
  add('t', 'show_dup', 0x90)
  add('T', '_etext', 0)
  addr = 0xffffffffc0600000n
  add('t', 'xfs_show', 0x40, 'xfs')
  add('t', 'xfs_helper', 0x60, 'xfs')
  add('t', 'xfs_show', 0x80, 'xfs')
  add('T', 'xfs_last', 0x10, 'xfs')
  return lines.join('\n') + '\n'
}

const dirs: string[] = []
test.after.always(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

function writeFixture (text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'klpsim-kallsyms-'))
  dirs.push(dir)
  const path = join(dir, 'kallsyms')
  writeFileSync(path, text)
  return path
}

function patchOf (name: string, object: string | null, oldName: string, oldSympos = 0) {
  const impl = () => 0
  return defineModule({
    name,
    livepatch: true,
    functions: { [`${name}_new`]: impl },
    init: (ctx) => ctx.klp.patch({ objs: [{ name: object, funcs: [{ oldName, oldSympos, newFunc: impl }] }] }),
    exit: () => {},
  })
}

test('the simulated kernel has the file\'s symbols, sizes and duplicates', async t => {
  const path = writeFixture(fixture())
  const clock = new VirtualClock()
  const sim = new Simulator({ clock, symbols: readKallsymsFile(path) })
  const k = sim.kernel
  const dups = k.kallsyms.vmlinux.matches('show_dup')
  t.deepEqual(dups.map(d => d.size), [0x30, 0x70, 0x90], 'sizes derived from the next address')
  t.is(k.kallsyms.lookupName('between')!.size, 0x50)
  const kallsyms = await sim.fs.readFile('/proc/kallsyms')
  t.is(kallsyms.split('\n').filter(l => / show_dup$/.test(l)).length, 3)
  t.true(kallsyms.includes('\txfs_show\t[xfs]') || /xfs_show\t\[xfs\]/.test(kallsyms))
  t.true(sim.fs.existsSync('/sys/module/xfs/refcnt'), 'modules in the dump are resident')
  t.regex(await sim.fs.readFile('/proc/modules'), /^xfs \d+ 0 - Live 0xffffffffc0600000/m)
  t.is(await sim.fs.readFile('/proc/cmdline'), k.cmdline + '\n', 'the simulation still runs')

  const load = (def: ReturnType<typeof patchOf>) => withClock(clock, sim.insmod(imageOf(def, k.vermagic)))
  t.is(await load(patchOf('amb', null, 'show_dup')), -EINVAL)
  t.is(await load(patchOf('third', null, 'show_dup', 3)), 0)
  t.true(sim.fs.existsSync('/sys/kernel/livepatch/third/vmlinux/show_dup,3'))
  t.is(await load(patchOf('modamb', 'xfs', 'xfs_show')), -EINVAL)
  t.is(await load(patchOf('modok', 'xfs', 'xfs_show', 2)), 0)
  t.is(await sim.fs.readFile('/sys/kernel/livepatch/modok/xfs/patched'), '1\n', 'a resident module is patched at once')
})

test('a dump without addresses or with garbage is refused with one line', t => {
  const zero = writeFixture('0000000000000000 T _stext\n0000000000000000 t foo\n')
  t.throws(() => readKallsymsFile(zero), { message: /has no addresses \(all zero\)/ })
  const bad = writeFixture('ffffffff81000000 T _stext\nthis is not kallsyms\n')
  t.throws(() => readKallsymsFile(bad), { message: /kallsyms line 2/ })
  t.throws(() => readKallsymsFile('/nonexistent/kallsyms'), { message: /cannot read \/nonexistent\/kallsyms: ENOENT/ })
})
