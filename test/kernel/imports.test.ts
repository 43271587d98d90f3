// A module's undefined symbols (the livepatch API its code calls): written into
// the .ko as SHN_UNDEF globals, resolved at load against the kernel's exports
// (simplify_symbols), which depend on the livepatch variant and the profile.
import test from 'ava'
import { buildKo, readKo } from '../../lib/elf/ko'
import { defineModule } from '../../lib/kernel/module'
import { ENOENT } from '../../lib/kobject/errno'
import { builtinKo, readModuleFile } from '../../lib/module-file'
import { importsOfSource } from '../../lib/module-imports'
import { findBuiltin } from '../../lib/modules'
import { bootSim } from '../helpers/engine'
import { readelf } from '../elf/helpers'

test('the API calls found in module code are the symbols a C module would link against', t => {
  t.deepEqual(importsOfSource('const sv = ctx.klp.shadowGetOrAlloc(task, 1, 4); ctx.klp .shadowFree( task, 1 ); klp.getState(3)'),
    ['klp_get_state', 'klp_shadow_free', 'klp_shadow_get_or_alloc'])
  t.deepEqual(importsOfSource('ctx.klp.patch({ objs }); other.getState(1); ctx.klp.shadowGetter'), [], 'patch() is mode-neutral; other objects and non-calls are not the API')
})

test('the .ko carries them as undefined globals that readelf lists without warnings; readKo reads them back', t => {
  const buf = buildKo({ name: 'uses_shadow', imports: ['klp_shadow_get', 'klp_shadow_free'] })
  t.deepEqual(readKo(buf).imports, ['klp_shadow_get', 'klp_shadow_free'])
  const r = readelf(buf, ['-s', '-W'])
  t.is(r.stderr, '')
  t.regex(r.stdout, /NOTYPE\s+GLOBAL\s+DEFAULT\s+UND klp_shadow_get\n/)
  t.deepEqual(readKo(builtinKo(findBuiltin('test_klp_shadow_vars')!)).imports,
    ['klp_shadow_alloc', 'klp_shadow_free', 'klp_shadow_free_all', 'klp_shadow_get', 'klp_shadow_get_or_alloc'])
  t.deepEqual(readKo(builtinKo(findBuiltin('test_klp_state2')!)).imports, ['klp_get_prev_state', 'klp_get_state'])
  t.deepEqual(readKo(builtinKo(findBuiltin('livepatch-sample')!)).imports, [])
})

test('ftrace mode exports the whole API: the shadow-variable and state modules load', async t => {
  const h = bootSim()
  for (const name of ['test_klp_shadow_vars', 'test_klp_state']) {
    t.is(await h.sim.insmod(readModuleFile(builtinKo(findBuiltin(name)!)).image), 0, name)
  }
})

test('stop_machine mode builds no shadow.o or state.o: every unknown symbol is named, the load fails ENOENT, nothing is left', async t => {
  const h = bootSim({ mode: 'stop-machine' })
  const mark = h.mark()
  t.is(await h.sim.insmod(readModuleFile(builtinKo(findBuiltin('test_klp_shadow_vars')!)).image), -ENOENT)
  t.deepEqual(h.log(mark).filter(l => l.includes('Unknown symbol')), [
    'test_klp_shadow_vars: Unknown symbol klp_shadow_alloc (err -2)',
    'test_klp_shadow_vars: Unknown symbol klp_shadow_free (err -2)',
    'test_klp_shadow_vars: Unknown symbol klp_shadow_free_all (err -2)',
    'test_klp_shadow_vars: Unknown symbol klp_shadow_get (err -2)',
    'test_klp_shadow_vars: Unknown symbol klp_shadow_get_or_alloc (err -2)',
  ])
  t.false(h.exists('/sys/module/test_klp_shadow_vars'))
  t.is(h.sim.kernel.modules.find('test_klp_shadow_vars'), undefined)
  t.is(await h.sim.insmod(h.sim.builtinImage('test_klp_state')!), -ENOENT)
  t.is(await h.sim.insmod(h.sim.builtinImage('livepatch_sample')!), 0, 'klp_register_patch is there')
})

test('a livepatch whose replacement uses shadow variables: loads in ftrace mode, Unknown symbol in stop_machine mode', async t => {
  const counting = defineModule({
    name: 'counting_patch',
    livepatch: true,
    functions: {
      livepatch_cmdline_proc_show: (ctx, m: unknown) => {
        const sv = ctx.klp.shadowGetOrAlloc(ctx.task, 7, 4)
        void sv
        void m
        return 0
      },
    },
    init: (ctx) => ctx.klp.patch({ objs: [{ funcs: [{ oldName: 'cmdline_proc_show', newFunc: 'livepatch_cmdline_proc_show' }] }] }),
    exit: () => {},
  })
  t.is(await bootSim().load(counting), 0)
  const sm = bootSim({ mode: 'stop-machine' })
  const mark = sm.mark()
  t.is(await sm.load(counting), -ENOENT)
  t.true(sm.log(mark).includes('counting_patch: Unknown symbol klp_shadow_get_or_alloc (err -2)'))
})

test('4.19 has no system states (5.5+): klp_get_state is unknown there', async t => {
  const h = bootSim({ profile: '4.19' })
  const mark = h.mark()
  t.is(await h.sim.insmod(h.sim.builtinImage('test_klp_state')!), -ENOENT)
  t.true(h.log(mark).includes('test_klp_state: Unknown symbol klp_get_state (err -2)'))
  t.is(await h.sim.insmod(h.sim.builtinImage('test_klp_shadow_vars')!), 0, 'shadow variables are 4.9+')
})

test('an API call the build could not see is contained as a bug in the module', async t => {
  const sneaky = defineModule({
    name: 'sneaky',
    init: (ctx) => {
      const api = ctx.klp as unknown as Record<string, (...a: unknown[]) => unknown>
      api['shadow' + 'Get'](ctx.task, 1)
      return 0
    },
  })
  const h = bootSim({ mode: 'stop-machine' })
  const mark = h.mark()
  const rc = await h.load(sneaky)
  t.true(rc < 0, String(rc))
  t.true(h.log(mark).some(l => l.includes('sneaky called klp_shadow_get, which this kernel does not export')), h.log(mark).join('\n'))
  t.is(await h.sim.insmod(h.sim.builtinImage('livepatch_sample')!), 0, 'the kernel goes on')
})
