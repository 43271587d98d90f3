// test-sysfs.sh against the in-process engine: modes and values of the ABI.
import test from 'ava'
import { APPLY, CB, Harness, INS, lines, OFF, PATCH, REVERT, RM, UNPATCH } from '../helpers/selftest'

const KLP = '/sys/kernel/livepatch'

/** stat --format %A */
function rights (h: Harness, path: string): string {
  const st = h.fs.statSync(path)
  const m = st.mode
  const type = st.isDirectory() ? 'd' : '-'
  const bits = ['r', 'w', 'x']
  let out = type
  for (let i = 8; i >= 0; i--) out += m & (1 << i) ? bits[(8 - i) % 3] : '-'
  return out
}

async function harness (name: string): Promise<Harness> {
  const h = new Harness()
  await h.setup()
  h.startTest(name)
  return h
}

test('sysfs test', async t => {
  const h = await harness('sysfs test')
  const L = 'test_klp_livepatch'
  await h.loadLp(L)
  const p = `${KLP}/${L}`
  t.is(rights(h, p), 'drwxr-xr-x')
  t.is(rights(h, `${p}/enabled`), '-rw-r--r--')
  t.is(await h.cat(`${p}/enabled`), '1')
  t.is(rights(h, `${p}/force`), '--w-------')
  t.is(rights(h, `${p}/replace`), '-r--r--r--')
  t.is(rights(h, `${p}/stack_order`), '-r--r--r--')
  t.is(await h.cat(`${p}/stack_order`), '1')
  t.is(rights(h, `${p}/transition`), '-r--r--r--')
  t.is(await h.cat(`${p}/transition`), '0')
  t.is(rights(h, `${p}/vmlinux/patched`), '-r--r--r--')
  t.is(await h.cat(`${p}/vmlinux/patched`), '1')
  t.true(h.fs.statSync(`${p}/vmlinux/cmdline_proc_show,1`).isDirectory())
  t.deepEqual(h.fs.readdirSync(`${p}/vmlinux/cmdline_proc_show,1`), [])
  await h.disableLp(L)
  await h.unloadLp(L)
  t.is(h.result(), lines(INS(L), PATCH(L), OFF(L), UNPATCH(L), RM(L)))
})

test('sysfs test object/patched', async t => {
  const h = await harness('sysfs test object/patched')
  const D = 'test_klp_callbacks_demo'
  const M = 'test_klp_callbacks_mod'
  await h.loadLp(D)
  t.is(await h.cat(`${KLP}/${D}/${M}/patched`), '0')
  await h.loadMod(M)
  t.is(await h.cat(`${KLP}/${D}/${M}/patched`), '1')
  await h.unloadMod(M)
  t.is(await h.cat(`${KLP}/${D}/${M}/patched`), '0')
  await h.disableLp(D)
  await h.unloadLp(D)
  t.is(h.result(), lines(
    INS(D), PATCH(D, [CB(D, 'pre_patch')], [CB(D, 'post_patch')]),
    INS(M), APPLY(D, M), CB(D, 'pre_patch', M, 'COMING'), CB(D, 'post_patch', M, 'COMING'), `${M}: ${M}_init`,
    RM(M), `${M}: ${M}_exit`, CB(D, 'pre_unpatch', M, 'GOING'), REVERT(D, M), CB(D, 'post_unpatch', M, 'GOING'),
    OFF(D), UNPATCH(D, [CB(D, 'pre_unpatch')], [CB(D, 'post_unpatch')]), RM(D)))
})

for (const replace of [1, 0]) {
  test(`sysfs test replace ${replace ? 'enabled' : 'disabled'}`, async t => {
    const h = await harness(`sysfs test replace ${replace ? 'enabled' : 'disabled'}`)
    const R = 'test_klp_atomic_replace'
    await h.loadLp(R, `replace=${replace}`)
    t.is(rights(h, `${KLP}/${R}/replace`), '-r--r--r--')
    t.is(await h.cat(`${KLP}/${R}/replace`), String(replace))
    await h.disableLp(R)
    await h.unloadLp(R)
    t.is(h.result(), lines(INS(R, `replace=${replace}`), PATCH(R), OFF(R), UNPATCH(R), RM(R)))
  })
}

test('sysfs test stack_order value', async t => {
  const h = await harness('sysfs test stack_order value')
  const R = 'test_klp_atomic_replace'
  const D = 'test_klp_callbacks_demo'
  const SC = 'test_klp_syscall'
  await h.loadLp(R)
  t.is(await h.cat(`${KLP}/${R}/stack_order`), '1')
  await h.loadLp(D)
  t.is(await h.cat(`${KLP}/${D}/stack_order`), '2')
  await h.loadLp(SC)
  t.is(await h.cat(`${KLP}/${SC}/stack_order`), '3')
  await h.disableLp(D)
  await h.unloadLp(D)
  t.is(await h.cat(`${KLP}/${R}/stack_order`), '1')
  t.is(await h.cat(`${KLP}/${SC}/stack_order`), '2')
  await h.disableLp(SC)
  await h.unloadLp(SC)
  await h.disableLp(R)
  await h.unloadLp(R)
  t.is(h.result(), lines(
    INS(R), PATCH(R),
    INS(D), PATCH(D, [CB(D, 'pre_patch')], [CB(D, 'post_patch')]),
    INS(SC), PATCH(SC),
    OFF(D), UNPATCH(D, [CB(D, 'pre_unpatch')], [CB(D, 'post_unpatch')]), RM(D),
    OFF(SC), UNPATCH(SC), RM(SC),
    OFF(R), UNPATCH(R), RM(R)))
})
