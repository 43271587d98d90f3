// test-callbacks.sh, case by case, against the in-process engine.
import test from 'ava'
import { APPLY, CANCEL, CB, COMPL, DONE, EN, FAILEN, Harness, INIT, INS, INSERR, lines, OFF, PATCH, REVERSE, REVERT, RM, START, UNPATCH } from '../helpers/selftest'

const D = 'test_klp_callbacks_demo'
const D2 = 'test_klp_callbacks_demo2'
const M = 'test_klp_callbacks_mod'
const B = 'test_klp_callbacks_busy'
const M_INIT = `${M}: ${M}_init`
const M_EXIT = `${M}: ${M}_exit`
const B_INIT = `${B}: ${B}_init`
const B_EXIT = `${B}: ${B}_exit`
const B_ENTER = `${B}: busymod_work_func enter`
const B_LEAVE = `${B}: busymod_work_func exit`
const V = (kind: string, p = D) => CB(p, kind)

async function harness (name: string): Promise<Harness> {
  const h = new Harness()
  await h.setup()
  h.startTest(name)
  return h
}

test('target module before livepatch', async t => {
  const h = await harness('target module before livepatch')
  await h.loadMod(M)
  await h.loadLp(D)
  await h.disableLp(D)
  await h.unloadLp(D)
  await h.unloadMod(M)
  t.is(h.result(), lines(
    INS(M), M_INIT,
    INS(D), PATCH(D, [V('pre_patch'), CB(D, 'pre_patch', M, 'LIVE')], [V('post_patch'), CB(D, 'post_patch', M, 'LIVE')]),
    OFF(D), UNPATCH(D, [V('pre_unpatch'), CB(D, 'pre_unpatch', M, 'LIVE')], [V('post_unpatch'), CB(D, 'post_unpatch', M, 'LIVE')]),
    RM(D), RM(M), M_EXIT))
})

test('module_coming notifier', async t => {
  const h = await harness('module_coming notifier')
  await h.loadLp(D)
  await h.loadMod(M)
  await h.disableLp(D)
  await h.unloadLp(D)
  await h.unloadMod(M)
  t.is(h.result(), lines(
    INS(D), PATCH(D, [V('pre_patch')], [V('post_patch')]),
    INS(M), APPLY(D, M), CB(D, 'pre_patch', M, 'COMING'), CB(D, 'post_patch', M, 'COMING'), M_INIT,
    OFF(D), UNPATCH(D, [V('pre_unpatch'), CB(D, 'pre_unpatch', M, 'LIVE')], [V('post_unpatch'), CB(D, 'post_unpatch', M, 'LIVE')]),
    RM(D), RM(M), M_EXIT))
})

test('module_going notifier', async t => {
  const h = await harness('module_going notifier')
  await h.loadMod(M)
  await h.loadLp(D)
  await h.unloadMod(M)
  await h.disableLp(D)
  await h.unloadLp(D)
  t.is(h.result(), lines(
    INS(M), M_INIT,
    INS(D), PATCH(D, [V('pre_patch'), CB(D, 'pre_patch', M, 'LIVE')], [V('post_patch'), CB(D, 'post_patch', M, 'LIVE')]),
    RM(M), M_EXIT, CB(D, 'pre_unpatch', M, 'GOING'), REVERT(D, M), CB(D, 'post_unpatch', M, 'GOING'),
    OFF(D), UNPATCH(D, [V('pre_unpatch')], [V('post_unpatch')]),
    RM(D)))
})

test('module_coming and module_going notifiers', async t => {
  const h = await harness('module_coming and module_going notifiers')
  await h.loadLp(D)
  await h.loadMod(M)
  await h.unloadMod(M)
  await h.disableLp(D)
  await h.unloadLp(D)
  t.is(h.result(), lines(
    INS(D), PATCH(D, [V('pre_patch')], [V('post_patch')]),
    INS(M), APPLY(D, M), CB(D, 'pre_patch', M, 'COMING'), CB(D, 'post_patch', M, 'COMING'), M_INIT,
    RM(M), M_EXIT, CB(D, 'pre_unpatch', M, 'GOING'), REVERT(D, M), CB(D, 'post_unpatch', M, 'GOING'),
    OFF(D), UNPATCH(D, [V('pre_unpatch')], [V('post_unpatch')]),
    RM(D)))
})

test('target module not present', async t => {
  const h = await harness('target module not present')
  await h.loadLp(D)
  await h.disableLp(D)
  await h.unloadLp(D)
  t.is(h.result(), lines(
    INS(D), PATCH(D, [V('pre_patch')], [V('post_patch')]),
    OFF(D), UNPATCH(D, [V('pre_unpatch')], [V('post_unpatch')]),
    RM(D)))
})

test('pre-patch callback -ENODEV', async t => {
  const h = await harness('pre-patch callback -ENODEV')
  await h.loadMod(M)
  await h.loadFailingMod(D, 'pre_patch_ret=-19')
  await h.unloadMod(M)
  t.is(h.result(), lines(
    INS(M), M_INIT,
    INS(D, 'pre_patch_ret=-19'), EN(D), INIT(D, 'patching'), V('pre_patch'),
    "livepatch: pre-patch callback failed for object 'vmlinux'",
    FAILEN(D), CANCEL(D), COMPL(D, 'unpatching'), DONE(D, 'unpatching'),
    INSERR(D, 'No such device'),
    RM(M), M_EXIT))
  t.false(h.exists('/sys/kernel/livepatch/test_klp_callbacks_demo'), 'no sysfs residue after a failed enable')
  t.false(h.exists('/sys/module/test_klp_callbacks_demo'))
})

test('module_coming + pre-patch callback -ENODEV', async t => {
  const h = await harness('module_coming + pre-patch callback -ENODEV')
  await h.loadLp(D)
  await h.setPrePatchRet(D, -19)
  await h.loadFailingMod(M)
  t.false(h.exists(`/sys/module/${M}`))
  await h.disableLp(D)
  await h.unloadLp(D)
  t.is(h.result(), lines(
    INS(D), PATCH(D, [V('pre_patch')], [V('post_patch')]),
    `% echo -19 > /sys/module/${D}/parameters/pre_patch_ret`,
    INS(M), APPLY(D, M), CB(D, 'pre_patch', M, 'COMING'),
    `livepatch: pre-patch callback failed for object '${M}'`,
    `livepatch: patch '${D}' failed for module '${M}', refusing to load module '${M}'`,
    INSERR(M, 'No such device'),
    OFF(D), UNPATCH(D, [V('pre_unpatch')], [V('post_unpatch')]),
    RM(D)))
})

test('multiple target modules', async t => {
  const h = await harness('multiple target modules')
  await h.loadMod(B, 'block_transition=N')
  await h.loadLp(D)
  await h.loadMod(M)
  await h.unloadMod(M)
  await h.disableLp(D)
  await h.unloadLp(D)
  await h.unloadMod(B)
  t.is(h.result(), lines(
    INS(B, 'block_transition=N'), B_INIT, B_ENTER, B_LEAVE,
    INS(D), PATCH(D, [V('pre_patch'), CB(D, 'pre_patch', B, 'LIVE')], [V('post_patch'), CB(D, 'post_patch', B, 'LIVE')]),
    INS(M), APPLY(D, M), CB(D, 'pre_patch', M, 'COMING'), CB(D, 'post_patch', M, 'COMING'), M_INIT,
    RM(M), M_EXIT, CB(D, 'pre_unpatch', M, 'GOING'), REVERT(D, M), CB(D, 'post_unpatch', M, 'GOING'),
    OFF(D), UNPATCH(D, [V('pre_unpatch'), CB(D, 'pre_unpatch', B, 'LIVE')], [V('post_unpatch'), CB(D, 'post_unpatch', B, 'LIVE')]),
    RM(D), RM(B), B_EXIT))
})

test('busy target module', async t => {
  const h = await harness('busy target module')
  await h.loadMod(B, 'block_transition=Y')
  await h.loadLpNowait(D)
  t.true(await h.loopUntil(async () => (await h.cat(`/sys/kernel/livepatch/${D}/transition`)) === '1'), 'transition stalls')
  await h.loadMod(M)
  await h.unloadMod(M)
  await h.disableLp(D)
  await h.unloadLp(D)
  await h.unloadMod(B)
  t.is(h.result(), lines(
    INS(B, 'block_transition=Y'), B_INIT, B_ENTER,
    INS(D), EN(D), INIT(D, 'patching'), V('pre_patch'), CB(D, 'pre_patch', B, 'LIVE'), START(D, 'patching'),
    INS(M), APPLY(D, M), CB(D, 'pre_patch', M, 'COMING'), M_INIT,
    RM(M), M_EXIT, REVERT(D, M), CB(D, 'post_unpatch', M, 'GOING'),
    OFF(D), REVERSE(D), START(D, 'unpatching'), COMPL(D, 'unpatching'), V('post_unpatch'), CB(D, 'post_unpatch', B, 'LIVE'), DONE(D, 'unpatching'),
    RM(D), RM(B), B_LEAVE, B_EXIT))
})

test('multiple livepatches', async t => {
  const h = await harness('multiple livepatches')
  await h.loadLp(D)
  await h.loadLp(D2)
  await h.disableLp(D2)
  await h.disableLp(D)
  await h.unloadLp(D2)
  await h.unloadLp(D)
  t.is(h.result(), lines(
    INS(D), PATCH(D, [V('pre_patch')], [V('post_patch')]),
    INS(D2), PATCH(D2, [V('pre_patch', D2)], [V('post_patch', D2)]),
    OFF(D2), UNPATCH(D2, [V('pre_unpatch', D2)], [V('post_unpatch', D2)]),
    OFF(D), UNPATCH(D, [V('pre_unpatch')], [V('post_unpatch')]),
    RM(D2), RM(D)))
})

test('atomic replace', async t => {
  const h = await harness('atomic replace')
  await h.loadLp(D)
  await h.loadLp(D2, 'replace=1')
  await h.disableLp(D2)
  await h.unloadLp(D2)
  await h.unloadLp(D)
  t.is(h.result(), lines(
    INS(D), PATCH(D, [V('pre_patch')], [V('post_patch')]),
    INS(D2, 'replace=1'), PATCH(D2, [V('pre_patch', D2)], [V('post_patch', D2)]),
    OFF(D2), UNPATCH(D2, [V('pre_unpatch', D2)], [V('post_unpatch', D2)]),
    RM(D2), RM(D)))
})
