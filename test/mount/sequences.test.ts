// The test-livepatch.sh and test-sysfs.sh cases (selftests-behaviour.md §3.1,
// §3.5) acted out through the mount: shell commands do the logging, the
// sysfs writes, the waits and the side checks; the real dmesg reads the log.
import { ExecutionContext } from 'ava'
import { bootMachine, fuseTest } from './helpers/machine'
import { seq, ShellSelftest } from './helpers/selftest-shell'

const L1 = 'test_klp_livepatch'
const L2 = 'test_klp_syscall'
const L3 = 'test_klp_callbacks_demo'
const R = 'test_klp_atomic_replace'
const T = 'test_klp_mod_target'
const TP = 'test_klp_mod_patch'
const M = 'test_klp_callbacks_mod'
const KLP = 'sys/kernel/livepatch'

async function selftest (t: ExecutionContext): Promise<ShellSelftest> {
  const m = await bootMachine(t)
  const st = new ShellSelftest(m)
  await st.setup()
  return st
}

const live = (p: string) => `${p}: this has been live patched`

fuseTest('test-livepatch: basic function patching', async (t) => {
  const st = await selftest(t)
  await st.startTest('basic function patching')
  await st.loadLp(L1)
  t.is(await st.step('cat proc/cmdline'), `${live(L1)}\n`)
  await st.disableLp(L1)
  await st.unloadMod(L1)
  t.not(await st.step('cat proc/cmdline'), `${live(L1)}\n`)
  t.is(await st.result(), [seq.ins(L1), ...seq.patch(L1), seq.off(L1), ...seq.unpatch(L1), seq.rm(L1)].join('\n'))
}, { needsUnshare: true })

fuseTest('test-livepatch: multiple livepatches', async (t) => {
  const st = await selftest(t)
  const greps = async () => { await st.grepToLog('live patched', 'proc/cmdline'); await st.grepToLog('live patched', 'proc/meminfo') }
  await st.startTest('multiple livepatches')
  await st.loadLp(L1)
  await greps()
  await st.loadLp(R, 'replace=0')
  await greps()
  await st.disableLp(R)
  await st.unloadMod(R)
  await greps()
  await st.disableLp(L1)
  await st.unloadMod(L1)
  await greps()
  t.is(await st.result(), [
    seq.ins(L1), ...seq.patch(L1), live(L1),
    seq.ins(R, 'replace=0'), ...seq.patch(R), live(L1), live(R),
    seq.off(R), ...seq.unpatch(R), seq.rm(R), live(L1),
    seq.off(L1), ...seq.unpatch(L1), seq.rm(L1),
  ].join('\n'))
}, { needsUnshare: true })

fuseTest('test-livepatch: atomic replace livepatch', async (t) => {
  const st = await selftest(t)
  const greps = async () => { await st.grepToLog('live patched', 'proc/cmdline'); await st.grepToLog('live patched', 'proc/meminfo') }
  await st.startTest('atomic replace livepatch')
  await st.loadLp(L1)
  await greps()
  await st.loadLp(L2)
  await st.loadLp(L3)
  t.is(await st.step(`set -- ${KLP}/*; echo $#`), '3\n', 'Expecting three modules listed')
  await st.loadLp(R, 'replace=1')
  await greps()
  await st.step(`loop_until 'set -- $KLP/*; [ $# -eq 1 ]' || die "Expecting only one moduled listed"`)
  await st.unloadMod(L3)
  await st.unloadMod(L2)
  await st.unloadMod(L1)
  await greps()
  await st.disableLp(R)
  await st.unloadMod(R)
  await greps()
  t.is(await st.result(), [
    seq.ins(L1), ...seq.patch(L1), live(L1),
    seq.ins(L2), ...seq.patch(L2),
    seq.ins(L3), ...seq.patch(L3, [seq.cb(L3, 'pre_patch')], [seq.cb(L3, 'post_patch')]),
    seq.ins(R, 'replace=1'), ...seq.patch(R), live(R),
    seq.rm(L3), seq.rm(L2), seq.rm(L1), live(R),
    seq.off(R), ...seq.unpatch(R), seq.rm(R),
  ].join('\n'))
}, { needsUnshare: true })

fuseTest('test-livepatch: module function patching, target first and livepatch first', async (t) => {
  const st = await selftest(t)
  const target = () => st.step(`cat proc/${T}`)
  const original = `${T}: original output\n`
  const patched = `${live(TP)}\n`

  await st.startTest('module function patching')
  await st.loadMod(T)
  t.is(await target(), original)
  await st.loadLp(TP)
  t.is(await target(), patched)
  await st.disableLp(TP)
  await st.unloadMod(TP)
  t.is(await target(), original)
  await st.unloadMod(T)
  t.is(await st.result(), [
    seq.ins(T), `${T}: ${T}_init`,
    seq.ins(TP), ...seq.patch(TP),
    seq.off(TP), ...seq.unpatch(TP), seq.rm(TP),
    seq.rm(T), `${T}: ${T}_exit`,
  ].join('\n'))

  await st.startTest('module function patching (livepatch first)')
  await st.loadLp(TP)
  await st.loadMod(T)
  t.is(await target(), patched)
  await st.disableLp(TP)
  await st.unloadMod(TP)
  t.is(await target(), original)
  await st.unloadMod(T)
  t.is(await st.result(), [
    seq.ins(TP), ...seq.patch(TP),
    seq.ins(T), seq.apply(TP, T), `${T}: ${T}_init`,
    seq.off(TP), ...seq.unpatch(TP), seq.rm(TP),
    seq.rm(T), `${T}: ${T}_exit`,
  ].join('\n'))
}, { needsUnshare: true })

/** check_sysfs_rights and check_sysfs_value: stat %A and cat through the mount. */
async function checkSysfs (t: ExecutionContext, st: ShellSelftest, mod: string, rel: string, rights: string, value?: string): Promise<void> {
  const p = rel ? `${KLP}/${mod}/${rel}` : `${KLP}/${mod}`
  t.is(await st.step(`stat --format %A ${p}`), `${rights}\n`, `Unexpected access rights of ${p}`)
  if (value !== undefined) t.is(await st.step(`echo "$(cat ${p})"`), `${value}\n`, `Unexpected value in ${p}`)
}

fuseTest('test-sysfs: sysfs test', async (t) => {
  const st = await selftest(t)
  await st.startTest('sysfs test')
  await st.loadLp(L1)
  await checkSysfs(t, st, L1, '', 'drwxr-xr-x')
  await checkSysfs(t, st, L1, 'enabled', '-rw-r--r--', '1')
  await checkSysfs(t, st, L1, 'force', '--w-------')
  await checkSysfs(t, st, L1, 'replace', '-r--r--r--')
  await checkSysfs(t, st, L1, 'stack_order', '-r--r--r--', '1')
  await checkSysfs(t, st, L1, 'transition', '-r--r--r--', '0')
  await checkSysfs(t, st, L1, 'vmlinux/patched', '-r--r--r--', '1')
  await st.disableLp(L1)
  await st.unloadMod(L1)
  t.is(await st.result(), [seq.ins(L1), ...seq.patch(L1), seq.off(L1), ...seq.unpatch(L1), seq.rm(L1)].join('\n'))
}, { needsUnshare: true })

fuseTest('test-sysfs: sysfs test object/patched', async (t) => {
  const st = await selftest(t)
  const v = (kind: string) => [seq.cb(L3, kind)]
  await st.startTest('sysfs test object/patched')
  await st.loadLp(L3)
  await checkSysfs(t, st, L3, `${M}/patched`, '-r--r--r--', '0')
  await st.loadMod(M)
  await checkSysfs(t, st, L3, `${M}/patched`, '-r--r--r--', '1')
  await st.unloadMod(M)
  await checkSysfs(t, st, L3, `${M}/patched`, '-r--r--r--', '0')
  await st.disableLp(L3)
  await st.unloadMod(L3)
  t.is(await st.result(), [
    seq.ins(L3), ...seq.patch(L3, v('pre_patch'), v('post_patch')),
    seq.ins(M), seq.apply(L3, M), seq.cb(L3, 'pre_patch', M, 'COMING'), seq.cb(L3, 'post_patch', M, 'COMING'), `${M}: ${M}_init`,
    seq.rm(M), `${M}: ${M}_exit`, seq.cb(L3, 'pre_unpatch', M, 'GOING'), seq.revert(L3, M), seq.cb(L3, 'post_unpatch', M, 'GOING'),
    seq.off(L3), ...seq.unpatch(L3, v('pre_unpatch'), v('post_unpatch')), seq.rm(L3),
  ].join('\n'))
}, { needsUnshare: true })

fuseTest('test-sysfs: sysfs test replace enabled and disabled', async (t) => {
  const st = await selftest(t)
  for (const replace of ['1', '0']) {
    await st.startTest(`sysfs test replace ${replace === '1' ? 'enabled' : 'disabled'}`)
    await st.loadLp(R, `replace=${replace}`)
    await checkSysfs(t, st, R, 'replace', '-r--r--r--', replace)
    await st.disableLp(R)
    await st.unloadMod(R)
    t.is(await st.result(), [seq.ins(R, `replace=${replace}`), ...seq.patch(R), seq.off(R), ...seq.unpatch(R), seq.rm(R)].join('\n'))
  }
}, { needsUnshare: true })

fuseTest('test-sysfs: sysfs test stack_order value', async (t) => {
  const st = await selftest(t)
  const v = (kind: string) => [seq.cb(L3, kind)]
  await st.startTest('sysfs test stack_order value')
  await st.loadLp(R)
  await checkSysfs(t, st, R, 'stack_order', '-r--r--r--', '1')
  await st.loadLp(L3)
  await checkSysfs(t, st, L3, 'stack_order', '-r--r--r--', '2')
  await st.loadLp(L2)
  await checkSysfs(t, st, L2, 'stack_order', '-r--r--r--', '3')
  await st.disableLp(L3)
  await st.unloadMod(L3)
  await checkSysfs(t, st, R, 'stack_order', '-r--r--r--', '1')
  await checkSysfs(t, st, L2, 'stack_order', '-r--r--r--', '2')
  await st.disableLp(L2)
  await st.unloadMod(L2)
  await st.disableLp(R)
  await st.unloadMod(R)
  t.is(await st.result(), [
    seq.ins(R), ...seq.patch(R),
    seq.ins(L3), ...seq.patch(L3, v('pre_patch'), v('post_patch')),
    seq.ins(L2), ...seq.patch(L2),
    seq.off(L3), ...seq.unpatch(L3, v('pre_unpatch'), v('post_unpatch')), seq.rm(L3),
    seq.off(L2), ...seq.unpatch(L2), seq.rm(L2),
    seq.off(R), ...seq.unpatch(R), seq.rm(R),
  ].join('\n'))
}, { needsUnshare: true })
