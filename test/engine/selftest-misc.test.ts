// test-shadow-vars.sh, test-state.sh, test-ftrace.sh, test-kprobe.sh and
// test-syscall.sh against the in-process engine.
import test from 'ava'
import { CANCEL, CB, COMPL, DONE, EN, FAILEN, Harness, INIT, INS, INSERR, lines, OFF, PATCH, RM, UNPATCH } from '../helpers/selftest'

async function harness (name: string): Promise<Harness> {
  const h = new Harness()
  await h.setup()
  h.startTest(name)
  return h
}

// --- test-shadow-vars.sh -------------------------------------------------------------

const SHADOW_LINES = [
  'klp_shadow_get(obj=PTR1, id=0x1234) = PTR0',
  '  got expected NULL result',
  'shadow_ctor: PTR3 -> PTR2',
  'klp_shadow_get_or_alloc(obj=PTR1, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR2 = PTR3',
  'shadow_ctor: PTR6 -> PTR5',
  'klp_shadow_alloc(obj=PTR1, id=0x1235, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR5 = PTR6',
  'shadow_ctor: PTR8 -> PTR7',
  'klp_shadow_alloc(obj=PTR9, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR7 = PTR8',
  'shadow_ctor: PTR11 -> PTR10',
  'klp_shadow_alloc(obj=PTR9, id=0x1235, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR10 = PTR11',
  'shadow_ctor: PTR13 -> PTR12',
  'klp_shadow_get_or_alloc(obj=PTR14, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR12 = PTR13',
  'shadow_ctor: PTR16 -> PTR15',
  'klp_shadow_alloc(obj=PTR14, id=0x1235, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR15 = PTR16',
  'klp_shadow_get(obj=PTR1, id=0x1234) = PTR3',
  '  got expected PTR3 -> PTR2 result',
  'klp_shadow_get(obj=PTR1, id=0x1235) = PTR6',
  '  got expected PTR6 -> PTR5 result',
  'klp_shadow_get(obj=PTR9, id=0x1234) = PTR8',
  '  got expected PTR8 -> PTR7 result',
  'klp_shadow_get(obj=PTR9, id=0x1235) = PTR11',
  '  got expected PTR11 -> PTR10 result',
  'klp_shadow_get(obj=PTR14, id=0x1234) = PTR13',
  '  got expected PTR13 -> PTR12 result',
  'klp_shadow_get(obj=PTR14, id=0x1235) = PTR16',
  '  got expected PTR16 -> PTR15 result',
  'klp_shadow_get_or_alloc(obj=PTR1, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR2 = PTR3',
  '  got expected PTR3 -> PTR2 result',
  'klp_shadow_get_or_alloc(obj=PTR9, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR7 = PTR8',
  '  got expected PTR8 -> PTR7 result',
  'klp_shadow_get_or_alloc(obj=PTR14, id=0x1234, size=8, gfp_flags=GFP_KERNEL), ctor=PTR4, ctor_data=PTR12 = PTR13',
  '  got expected PTR13 -> PTR12 result',
  'shadow_dtor(obj=PTR1, shadow_data=PTR3)',
  'klp_shadow_free(obj=PTR1, id=0x1234, dtor=PTR17)',
  'klp_shadow_get(obj=PTR1, id=0x1234) = PTR0',
  '  got expected NULL result',
  'shadow_dtor(obj=PTR9, shadow_data=PTR8)',
  'klp_shadow_free(obj=PTR9, id=0x1234, dtor=PTR17)',
  'klp_shadow_get(obj=PTR9, id=0x1234) = PTR0',
  '  got expected NULL result',
  'shadow_dtor(obj=PTR14, shadow_data=PTR13)',
  'klp_shadow_free(obj=PTR14, id=0x1234, dtor=PTR17)',
  'klp_shadow_get(obj=PTR14, id=0x1234) = PTR0',
  '  got expected NULL result',
  'klp_shadow_get(obj=PTR1, id=0x1235) = PTR6',
  '  got expected PTR6 -> PTR5 result',
  'klp_shadow_get(obj=PTR9, id=0x1235) = PTR11',
  '  got expected PTR11 -> PTR10 result',
  'klp_shadow_get(obj=PTR14, id=0x1235) = PTR16',
  '  got expected PTR16 -> PTR15 result',
  'klp_shadow_free_all(id=0x1235, dtor=PTR0)',
  'klp_shadow_get(obj=PTR1, id=0x1235) = PTR0',
  '  got expected NULL result',
  'klp_shadow_get(obj=PTR9, id=0x1235) = PTR0',
  '  got expected NULL result',
  'klp_shadow_get(obj=PTR14, id=0x1235) = PTR0',
  '  got expected NULL result',
]

test('basic shadow variable API', async t => {
  const h = await harness('basic shadow variable API')
  await h.loadMod('test_klp_shadow_vars')
  await h.unloadMod('test_klp_shadow_vars')
  t.is(SHADOW_LINES.length, 57)
  t.is(h.result(), lines(INS('test_klp_shadow_vars'), SHADOW_LINES.map(l => `test_klp_shadow_vars: ${l}`), RM('test_klp_shadow_vars')))
  t.is(h.sim.livepatch.shadow.size, 0, 'every shadow variable was freed')
})

// --- test-state.sh ---------------------------------------------------------------------

const S1 = 'test_klp_state'
const S2 = 'test_klp_state2'
const S3 = 'test_klp_state3'
const A = (p: string) => `${p}: allocate_loglevel_state: allocating space to store console_loglevel`
const A2 = (p: string) => `${p}: allocate_loglevel_state: space to store console_loglevel already allocated`
const F = (p: string) => `${p}: fix_console_loglevel: fixing console_loglevel`
const F2 = (p: string) => `${p}: fix_console_loglevel: taking over the console_loglevel change`
const R = (p: string) => `${p}: restore_console_loglevel: restoring console_loglevel`
const X = (p: string) => `${p}: free_loglevel_state: freeing space for the stored console_loglevel`
const statePatch = (p: string, a: string, f: string) => PATCH(p, [CB(p, 'pre_patch'), a], [CB(p, 'post_patch'), f])
const stateUnpatch = (p: string) => UNPATCH(p, [CB(p, 'pre_unpatch'), R(p)], [CB(p, 'post_unpatch'), X(p)])

test('system state modification', async t => {
  const h = await harness('system state modification')
  const before = h.kernel.printk.consoleLoglevel
  await h.loadLp(S1)
  t.is(h.kernel.printk.consoleLoglevel, 15)
  await h.disableLp(S1)
  t.is(h.kernel.printk.consoleLoglevel, before)
  await h.unloadLp(S1)
  t.is(h.result(), lines(INS(S1), statePatch(S1, A(S1), F(S1)), OFF(S1), stateUnpatch(S1), RM(S1)))
})

test('taking over system state modification', async t => {
  const h = await harness('taking over system state modification')
  await h.loadLp(S1)
  await h.loadLp(S2)
  await h.unloadLp(S1)
  await h.disableLp(S2)
  await h.unloadLp(S2)
  t.is(h.result(), lines(
    INS(S1), statePatch(S1, A(S1), F(S1)),
    INS(S2), statePatch(S2, A2(S2), F2(S2)),
    RM(S1),
    OFF(S2), stateUnpatch(S2), RM(S2)))
  t.is(h.kernel.printk.consoleLoglevel, 7, 'the loglevel saved by the first patch is restored by the second')
})

test('compatible cumulative livepatches', async t => {
  const h = await harness('compatible cumulative livepatches')
  await h.loadLp(S2)
  await h.loadLp(S3)
  await h.unloadLp(S2)
  await h.loadLp(S2)
  await h.disableLp(S2)
  await h.unloadLp(S2)
  await h.unloadLp(S3)
  t.is(h.result(), lines(
    INS(S2), statePatch(S2, A(S2), F(S2)),
    INS(S3), statePatch(S3, A2(S3), F2(S3)),
    RM(S2),
    INS(S2), statePatch(S2, A2(S2), F2(S2)),
    OFF(S2), stateUnpatch(S2), RM(S2), RM(S3)))
})

test('incompatible cumulative livepatches', async t => {
  const h = await harness('incompatible cumulative livepatches')
  await h.loadLp(S2)
  await h.loadFailingMod(S1)
  t.false(h.exists(`/sys/kernel/livepatch/${S1}`))
  await h.disableLp(S2)
  await h.unloadLp(S2)
  t.is(h.result(), lines(
    INS(S2), statePatch(S2, A(S2), F(S2)),
    INS(S1), `livepatch: Livepatch patch (${S1}) is not compatible with the already installed livepatches.`, INSERR(S1, 'Invalid parameters'),
    OFF(S2), stateUnpatch(S2), RM(S2)))
})

// --- test-ftrace.sh --------------------------------------------------------------------

const L = 'test_klp_livepatch'
const PATCHED = 'test_klp_livepatch: this has been live patched'

test('livepatch interaction with ftrace_enabled sysctl', async t => {
  const h = await harness('livepatch interaction with ftrace_enabled sysctl')
  await h.setFtraceEnabled(0)
  await h.loadFailingMod(L)
  await h.setFtraceEnabled(1)
  await h.loadLp(L)
  t.is(await h.cat('/proc/cmdline'), PATCHED)
  await h.setFtraceEnabled(0, true)
  t.is(await h.cat('/proc/sys/kernel/ftrace_enabled'), '1')
  t.is(await h.cat('/proc/cmdline'), PATCHED)
  await h.disableLp(L)
  await h.unloadLp(L)
  t.is(h.result(), lines(
    'livepatch: kernel.ftrace_enabled = 0',
    INS(L), EN(L), INIT(L, 'patching'),
    "livepatch: failed to register ftrace handler for function 'cmdline_proc_show' (-16)",
    "livepatch: failed to patch object 'vmlinux'",
    FAILEN(L), CANCEL(L), COMPL(L, 'unpatching'), DONE(L, 'unpatching'),
    INSERR(L, 'Device or resource busy'),
    'livepatch: kernel.ftrace_enabled = 1',
    INS(L), PATCH(L),
    'livepatch: sysctl: setting key "kernel.ftrace_enabled": Device or resource busy',
    OFF(L), UNPATCH(L), RM(L)))
})

const TRACING = '/sys/kernel/tracing'

async function cleanupTracing (h: Harness): Promise<void> {
  await h.fs.writeFile(`${TRACING}/tracing_on`, '0\n')
  await h.fs.writeFile(`${TRACING}/set_ftrace_filter`, '\n')
  await h.fs.writeFile(`${TRACING}/current_tracer`, 'nop\n')
  await h.fs.writeFile(`${TRACING}/trace`, '\n')
}

async function traceFunction (h: Harness, f: string): Promise<void> {
  await cleanupTracing(h)
  await h.fs.writeFile(`${TRACING}/current_tracer`, 'function\n')
  await h.fs.writeFile(`${TRACING}/set_ftrace_filter`, `${f}\n`)
  await h.fs.writeFile(`${TRACING}/tracing_on`, '1\n')
}

async function traced (h: Harness, f: string): Promise<boolean> {
  const trace = await h.fs.readFile(`${TRACING}/trace`)
  return new RegExp(`(^|\\W)${f}(\\W|$)`, 'm').test(trace)
}

test('trace livepatched function and check that the live patch remains in effect', async t => {
  const h = await harness('trace livepatched function and check that the live patch remains in effect')
  await h.loadLp(L)
  await traceFunction(h, 'livepatch_cmdline_proc_show')
  if ((await h.cat('/proc/cmdline')) === PATCHED) h.log('livepatch: ok')
  t.true(await traced(h, 'livepatch_cmdline_proc_show'))
  await cleanupTracing(h)
  await h.disableLp(L)
  await h.unloadLp(L)
  t.is(h.result(), lines(INS(L), PATCH(L), 'livepatch: ok', OFF(L), UNPATCH(L), RM(L)))
})

test('livepatch a traced function and check that the live patch remains in effect', async t => {
  const h = await harness('livepatch a traced function and check that the live patch remains in effect')
  await traceFunction(h, 'cmdline_proc_show')
  await h.loadLp(L)
  if ((await h.cat('/proc/cmdline')) === PATCHED) h.log('livepatch: ok')
  t.true(await traced(h, 'cmdline_proc_show'), 'the original function is traced on entry')
  await cleanupTracing(h)
  t.is(await h.cat(`${TRACING}/set_ftrace_filter`), '#### all functions enabled ####')
  await h.disableLp(L)
  await h.unloadLp(L)
  t.is(h.result(), lines(INS(L), PATCH(L), 'livepatch: ok', OFF(L), UNPATCH(L), RM(L)))
})

// --- test-kprobe.sh --------------------------------------------------------------------

const K = 'test_klp_kprobe'

test('livepatch interaction with kprobed function with post_handler', async t => {
  const h = await harness('livepatch interaction with kprobed function with post_handler')
  t.true((await h.fs.readFile('/proc/kallsyms')).includes('kprobe_ftrace_ops'))
  await h.fs.writeFile('/sys/kernel/debug/kprobes/enabled', '1\n')
  await h.loadMod(K, 'has_post_handler=true')
  await h.loadFailingMod(L)
  await h.unloadMod(K)
  t.is(h.result(), lines(
    INS(K, 'has_post_handler=true'),
    INS(L), EN(L), INIT(L, 'patching'),
    "livepatch: failed to register ftrace handler for function 'cmdline_proc_show' (-16)",
    "livepatch: failed to patch object 'vmlinux'",
    FAILEN(L), CANCEL(L), COMPL(L, 'unpatching'), DONE(L, 'unpatching'),
    INSERR(L, 'Device or resource busy'),
    RM(K)))
})

test('livepatch interaction with kprobed function without post_handler', async t => {
  const h = await harness('livepatch interaction with kprobed function without post_handler')
  await h.fs.writeFile('/sys/kernel/debug/kprobes/enabled', '1\n')
  await h.loadMod(K, 'has_post_handler=false')
  await h.loadLp(L)
  await h.unloadMod(K)
  await h.disableLp(L)
  await h.unloadLp(L)
  t.is(h.result(), lines(INS(K, 'has_post_handler=false'), INS(L), PATCH(L), RM(K), OFF(L), UNPATCH(L), RM(L)))
})

// --- test-syscall.sh -------------------------------------------------------------------

test('patch getpid syscall while being heavily hammered', async t => {
  const h = await harness('patch getpid syscall while being heavily hammered')
  // stand-ins for the test's getpid loopers: host pids the simulation treats as alive
  const alive = new Set([910001, 910002, 910003, 910004])
  const { adoptHostProcess } = await import('../../lib/kernel/host')
  for (const pid of alive) adoptHostProcess(h.kernel, pid, { syscall: '__x64_sys_getpid', alive: (p) => alive.has(p) })
  const pids = [...alive].join(',')
  await h.loadLp('test_klp_syscall', `klp_pids=${pids}`)
  await h.loopUntil(async () => (await h.cat('/sys/kernel/test_klp_syscall/npids')) === '0')
  h.log(`test_klp_syscall: Remaining not livepatched processes: ${await h.cat('/sys/kernel/test_klp_syscall/npids')}`)
  alive.clear()
  await h.clock.advance(500)
  await h.disableLp('test_klp_syscall')
  await h.unloadLp('test_klp_syscall')
  t.is(h.result(), lines(
    INS('test_klp_syscall', `klp_pids=${pids}`), PATCH('test_klp_syscall'),
    'test_klp_syscall: Remaining not livepatched processes: 0',
    OFF('test_klp_syscall'), UNPATCH('test_klp_syscall'), RM('test_klp_syscall')))
  t.false(h.exists('/sys/kernel/test_klp_syscall'))
  t.false(h.kernel.sched.tasks().some(task => task.pid > 910000), 'the loopers left with their host processes')
})
