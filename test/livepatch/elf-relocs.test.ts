// Livepatch relocations of real ELF .ko images: resolved at insmod (vmlinux) and
// when the target module loads (module objects), with the kernel's messages.
import test from 'ava'
import { bootSim, TestSim, withClock } from '../helpers/engine'
import { buildKo, readKo, KlpRef } from '../../lib/elf/ko'
import { defineModule, ModuleDefinition, SymbolReference } from '../../lib/kernel/module'
import { modinfoFor } from '../../lib/module-image'
import type { ModuleImage } from '../../lib/kernel/loader'
import { EINVAL } from '../../lib/kobject/errno'

function koImage (s: TestSim, def: ModuleDefinition): ModuleImage {
  const refs: KlpRef[] = (def.references ?? []).map((r: SymbolReference) => ({ object: r.object ?? 'vmlinux', symbol: r.symbol, sympos: r.sympos ?? 0 }))
  const buf = buildKo({ name: def.name, modinfo: modinfoFor(def, s.sim.kernel.vermagic), payload: Buffer.from('{}'), klpRefs: refs })
  const ko = readKo(buf)
  return { def, name: ko.name, modinfo: ko.modinfo, elf: ko.elf }
}

function refsModule (name: string, references: SymbolReference[], seen: Record<string, bigint> = {}): ModuleDefinition {
  return defineModule({
    name,
    livepatch: true,
    references,
    init: (ctx) => {
      Object.assign(seen, ctx.module.refs)
      return ctx.klp.patch({ objs: [{ name: null, funcs: [] }, { name: 'test_klp_mod_target', funcs: [] }] })
    },
    exit: () => {},
  })
}

test('vmlinux references are resolved at insmod and the code sees the addresses', async t => {
  const s = bootSim()
  const k = s.sim.kernel
  const seen: Record<string, bigint> = {}
  const def = refsModule('refs_ok', [
    { symbol: 'saved_command_line' },
    { symbol: 'type_show', sympos: 4 },
  ], seen)
  t.is(await withClock(s.clock, s.sim.insmod(koImage(s, def))), 0)
  t.is(seen.saved_command_line, k.kallsyms.lookupName('saved_command_line')!.addr)
  t.is(seen.type_show, k.kallsyms.vmlinux.matches('type_show')[3].addr)
  const mod = k.modules.find('refs_ok')!
  const slot = (mod.image as ReturnType<typeof readKo>['elf']).sectionByName('.data.klpsim.refs')!.data
  t.is(slot.readBigUInt64LE(0), seen.saved_command_line, 'the relocation wrote the address into the section')
})

test('a wrong sympos or a missing symbol fails insmod with the kernel\'s message', async t => {
  const s = bootSim()
  let mark = s.mark()
  t.is(await withClock(s.clock, s.sim.insmod(koImage(s, refsModule('refs_amb', [{ symbol: 'type_show' }])))), -EINVAL)
  t.true(s.log(mark).includes("livepatch: unresolvable ambiguity for symbol 'type_show' in object '(null)'"))
  mark = s.mark()
  t.is(await withClock(s.clock, s.sim.insmod(koImage(s, refsModule('refs_pos', [{ symbol: 'name_show', sympos: 9 }])))), -EINVAL)
  t.true(s.log(mark).includes("livepatch: symbol position 9 for symbol 'name_show' in object 'vmlinux' not found"))
  mark = s.mark()
  t.is(await withClock(s.clock, s.sim.insmod(koImage(s, refsModule('refs_missing', [{ symbol: 'not_a_kernel_symbol' }])))), -EINVAL)
  t.true(s.log(mark).includes("livepatch: symbol 'not_a_kernel_symbol' not found in symbol table"))
  for (const n of ['refs_amb', 'refs_pos', 'refs_missing']) t.false(s.exists(`/sys/module/${n}`))
})

test('module references resolve when the target module loads and clear when it goes', async t => {
  const s = bootSim()
  const k = s.sim.kernel
  t.is(await withClock(s.clock, s.sim.insmod(koImage(s, refsModule('refs_mod', [{ object: 'test_klp_mod_target', symbol: 'test_klp_mod_target_show' }])))), 0)
  const mod = k.modules.find('refs_mod')!
  t.false('test_klp_mod_target_show' in mod.refs, 'not resolvable before the module is there')
  t.is(await s.sim.insmod(s.sim.builtinImage('test_klp_mod_target')!), 0)
  t.is(mod.refs.test_klp_mod_target_show, k.kallsyms.matches('test_klp_mod_target', 'test_klp_mod_target_show')[0].addr)
  t.is(await withClock(s.clock, s.sim.rmmod('test_klp_mod_target')), 0)
  t.false('test_klp_mod_target_show' in mod.refs, 'cleared when the module went away')
  t.is(await s.sim.insmod(s.sim.builtinImage('test_klp_mod_target')!), 0, 'and can be applied again')
  t.truthy(mod.refs.test_klp_mod_target_show)
})

test('a module-specific section referencing vmlinux is refused', async t => {
  const s = bootSim()
  t.is(await s.sim.insmod(s.sim.builtinImage('test_klp_mod_target')!), 0)
  const def = refsModule('refs_bad', [])
  const buf = buildKo({ name: 'refs_bad', modinfo: modinfoFor(def, s.sim.kernel.vermagic), payload: Buffer.from('{}'), klpRefs: [{ object: 'test_klp_mod_target', symbol: 'x', sympos: 0 }] })
  // rename the symbol so that the module section refers to a vmlinux symbol
  const patched = Buffer.from(buf.toString('latin1').replace('.klp.sym.test_klp_mod_target.x,0', '.klp.sym.vmlinux.x,00000000000000000'.slice(0, '.klp.sym.test_klp_mod_target.x,0'.length)), 'latin1')
  const ko = readKo(patched)
  const mark = s.mark()
  const rc = await withClock(s.clock, s.sim.insmod({ def, name: ko.name, modinfo: ko.modinfo, elf: ko.elf }))
  t.is(rc, -EINVAL)
  t.true(s.log(mark).some(l => l === "livepatch: invalid access to vmlinux symbol 'x' from module-specific livepatch relocation section"), s.log(mark).join('\n'))
})
