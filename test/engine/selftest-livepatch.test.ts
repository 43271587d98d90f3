// test-livepatch.sh, case by case, against the in-process engine.
import test from 'ava'
import { CB, DONE, EN, Harness, INS, lines, OFF, PATCH, RM, UNPATCH, APPLY } from '../helpers/selftest'

const L1 = 'test_klp_livepatch'
const L2 = 'test_klp_syscall'
const L3 = 'test_klp_callbacks_demo'
const R = 'test_klp_atomic_replace'
const T = 'test_klp_mod_target'
const TP = 'test_klp_mod_patch'
const L1_LINE = 'test_klp_livepatch: this has been live patched'
const R_LINE = 'test_klp_atomic_replace: this has been live patched'

async function harness (): Promise<Harness> {
  const h = new Harness()
  await h.setup()
  return h
}

/** grep 'live patched' FILE > /dev/kmsg */
async function grepLivePatched (h: Harness, path: string): Promise<void> {
  const hit = (await h.fs.readFile(path)).split('\n').filter(l => l.includes('live patched'))
  for (const l of hit) h.log(l)
}

test('basic function patching', async t => {
  const h = await harness()
  h.startTest('basic function patching')
  await h.loadLp(L1)
  t.is(await h.cat('/proc/cmdline'), L1_LINE)
  await h.disableLp(L1)
  await h.unloadLp(L1)
  t.not(await h.cat('/proc/cmdline'), L1_LINE)
  t.is(h.result(), lines(INS(L1), PATCH(L1), OFF(L1), UNPATCH(L1), RM(L1)))
  t.deepEqual(h.internalErrors, [])
})

test('multiple livepatches', async t => {
  const h = await harness()
  h.startTest('multiple livepatches')
  await h.loadLp(L1)
  await grepLivePatched(h, '/proc/cmdline')
  await grepLivePatched(h, '/proc/meminfo')
  await h.loadLp(R, 'replace=0')
  await grepLivePatched(h, '/proc/cmdline')
  await grepLivePatched(h, '/proc/meminfo')
  await h.disableLp(R)
  await h.unloadLp(R)
  await grepLivePatched(h, '/proc/cmdline')
  await grepLivePatched(h, '/proc/meminfo')
  await h.disableLp(L1)
  await h.unloadLp(L1)
  await grepLivePatched(h, '/proc/cmdline')
  await grepLivePatched(h, '/proc/meminfo')
  t.is(h.result(), lines(
    INS(L1), PATCH(L1), L1_LINE,
    INS(R, 'replace=0'), PATCH(R), L1_LINE, R_LINE,
    OFF(R), UNPATCH(R), RM(R), L1_LINE,
    OFF(L1), UNPATCH(L1), RM(L1)))
})

test('atomic replace livepatch', async t => {
  const h = await harness()
  h.startTest('atomic replace livepatch')
  await h.loadLp(L1)
  await grepLivePatched(h, '/proc/cmdline')
  await grepLivePatched(h, '/proc/meminfo')
  await h.loadLp(L2)
  await h.loadLp(L3)
  t.is(h.fs.readdirSync('/sys/kernel/livepatch').length, 3)
  await h.loadLp(R, 'replace=1')
  await grepLivePatched(h, '/proc/cmdline')
  await grepLivePatched(h, '/proc/meminfo')
  t.true(await h.loopUntil(() => h.fs.readdirSync('/sys/kernel/livepatch').length === 1), 'only one patch left')
  await h.unloadLp(L3)
  await h.unloadLp(L2)
  await h.unloadLp(L1)
  await grepLivePatched(h, '/proc/meminfo')
  await h.disableLp(R)
  await h.unloadLp(R)
  await grepLivePatched(h, '/proc/cmdline')
  await grepLivePatched(h, '/proc/meminfo')
  t.is(h.result(), lines(
    INS(L1), PATCH(L1), L1_LINE,
    INS(L2), PATCH(L2),
    INS(L3), PATCH(L3, [CB(L3, 'pre_patch')], [CB(L3, 'post_patch')]),
    INS(R, 'replace=1'), PATCH(R), R_LINE,
    RM(L3), RM(L2), RM(L1), R_LINE,
    OFF(R), UNPATCH(R), RM(R)))
})

test('module function patching', async t => {
  const h = await harness()
  h.startTest('module function patching')
  await h.loadMod(T)
  t.is(await h.cat('/proc/test_klp_mod_target'), 'test_klp_mod_target: original output')
  await h.loadLp(TP)
  t.is(await h.cat('/proc/test_klp_mod_target'), 'test_klp_mod_patch: this has been live patched')
  await h.disableLp(TP)
  await h.unloadLp(TP)
  t.is(await h.cat('/proc/test_klp_mod_target'), 'test_klp_mod_target: original output')
  await h.unloadMod(T)
  t.false(h.exists('/proc/test_klp_mod_target'))
  t.is(h.result(), lines(
    INS(T), 'test_klp_mod_target: test_klp_mod_target_init',
    INS(TP), PATCH(TP), OFF(TP), UNPATCH(TP), RM(TP),
    RM(T), 'test_klp_mod_target: test_klp_mod_target_exit'))
})

test('module function patching (livepatch first)', async t => {
  const h = await harness()
  h.startTest('module function patching (livepatch first)')
  await h.loadLp(TP)
  await h.loadMod(T)
  t.is(await h.cat('/proc/test_klp_mod_target'), 'test_klp_mod_patch: this has been live patched')
  await h.disableLp(TP)
  await h.unloadLp(TP)
  t.is(await h.cat('/proc/test_klp_mod_target'), 'test_klp_mod_target: original output')
  await h.unloadMod(T)
  t.is(h.result(), lines(
    INS(TP), PATCH(TP),
    INS(T), APPLY(TP, T), 'test_klp_mod_target: test_klp_mod_target_init',
    OFF(TP), UNPATCH(TP), RM(TP),
    RM(T), 'test_klp_mod_target: test_klp_mod_target_exit'))
  void EN; void DONE
})
