// The status view against a stalled busy-worker transition and a replace in progress.
import test from 'ava'
import { Harness } from '../helpers/selftest'
import { buildStatus, formatStatus } from '../../lib/status'

test('a stalled busy-worker transition: the blocking kworker and its frame', async t => {
  const h = new Harness()
  await h.setup()
  await h.loadMod('test_klp_callbacks_busy', 'block_transition=Y')
  await h.loadLpNowait('test_klp_callbacks_demo')
  await h.clock.advance(3000)
  const r = buildStatus(h.sim)
  t.is(r.transition?.patch, 'test_klp_callbacks_demo')
  t.is(r.transition?.target, 'patching')
  t.is(r.transition?.attempts, 4)
  t.is(r.transition?.tasks.pending, 1)
  const p = r.transition!.pending[0]
  t.regex(p.comm, /^kworker\/0:\d+$/)
  t.is(p.reason, 'sleeping')
  t.is(p.function, 'busymod_work_func')
  t.regex(p.frame!, /^busymod_work_func\+0x[0-9a-f]+\/0x90 \[test_klp_callbacks_busy\]$/)
  t.is(p.patchedBy, 'test_klp_callbacks_demo')
  t.is(r.transition?.signalsInAttempts, 12)
  const f = r.functions.find(x => x.function === 'busymod_work_func')!
  t.is(f.live.patch, 'test_klp_callbacks_demo')
  t.deepEqual(f.previous, { patch: null, tasks: [p.pid] })
  const text = formatStatus(r)
  t.regex(text, new RegExp(`${p.comm.replace('/', '\\/')} \\(pid ${p.pid}\\) sleeps in busymod_work_func\\+0x[0-9a-f]+\\/0x90 \\[test_klp_callbacks_busy\\] — patched by test_klp_callbacks_demo`))
  t.regex(text, /\[#+-*\] \d+\/\d+ tasks switched/)
  await h.write('/sys/kernel/livepatch/test_klp_callbacks_demo/enabled', '0')
  await h.clock.advance(1100)
  t.is(buildStatus(h.sim).transition, null)
})

test('a replace in progress: nops, the replaced patch still live for unswitched tasks', async t => {
  const h = new Harness()
  await h.setup()
  await h.loadLp('test_klp_livepatch')
  const k = h.kernel
  const task = k.scripted.add({ name: 'reader', stack: ['__schedule', 'schedule', 'livepatch_cmdline_proc_show', 'seq_read_iter', 'vfs_read'], ignoreSignals: true })
  await h.loadLpNowait('test_klp_atomic_replace', 'replace=1')
  const r = buildStatus(h.sim)
  t.deepEqual(r.patches.map(p => [p.name, p.stackOrder, p.transition, p.replace]), [['test_klp_livepatch', 1, false, false], ['test_klp_atomic_replace', 2, true, true]])
  const cmd = r.functions.find(f => f.function === 'cmdline_proc_show')!
  t.deepEqual(cmd.live, { patch: 'test_klp_atomic_replace', nop: true })
  t.deepEqual(cmd.stack, ['test_klp_atomic_replace', 'test_klp_livepatch'])
  t.deepEqual(cmd.previous, { patch: 'test_klp_livepatch', tasks: [task.pid] })
  t.is(r.transition!.pending[0].frame!.startsWith('livepatch_cmdline_proc_show+'), true)
  k.scripted.wake('reader')
  await h.clock.advance(1100)
  const after = buildStatus(h.sim)
  t.is(after.transition, null)
  t.deepEqual(after.patches.map(p => p.name), ['test_klp_atomic_replace'])
})

test('stop_machine mode: registered patches and the live version of each function', async t => {
  const h = new Harness({ mode: 'stop-machine' })
  await h.loadMod('test_klp_livepatch')
  let r = buildStatus(h.sim)
  t.deepEqual(r.patches.map(p => [p.name, p.enabled]), [['test_klp_livepatch', false]])
  t.deepEqual(r.functions, [])
  await h.write('/sys/kernel/livepatch/test_klp_livepatch/enabled', '1')
  r = buildStatus(h.sim)
  t.deepEqual(r.patches.map(p => [p.name, p.enabled]), [['test_klp_livepatch', true]])
  t.deepEqual(r.functions.map(f => [f.function, f.live.patch]), [['cmdline_proc_show', 'test_klp_livepatch']])
  t.is(r.kernel.mode, 'stop-machine')
  t.is(r.transition, null)
})
