// chmod and chown on the pseudo-files, as each file system's setattr answers
// root: kernfs, debugfs, tracefs and procfs entries keep the change (and open()
// checks the new mode), /proc/<pid> refuses a mode change, /proc/sys any change.
import test from 'ava'
import livepatchSample from '../../lib/modules/livepatch-sample'
import { bootSim } from '../helpers/engine'

const ENABLED = '/sys/kernel/livepatch/livepatch_sample/enabled'

function code (fn: () => void): string {
  try { fn(); return 'ok' } catch (e) { return (e as NodeJS.ErrnoException).code ?? String(e) }
}

test('a sysfs attribute takes a new mode; open() then checks it, even for root', async t => {
  const h = bootSim()
  t.is(await h.load(livepatchSample), 0)
  h.sim.fs.chmodSync(ENABLED, 0o444)
  t.is(h.sim.fs.statSync(ENABLED).mode & 0o7777, 0o444)
  t.is(await h.write(ENABLED, '0'), -13, 'EACCES: no write bit left')
  t.is(await h.read(ENABLED), '1')
  h.sim.fs.chmodSync(ENABLED, 0o200)
  t.is(code(() => h.sim.fs.readFileSync(ENABLED)), 'EACCES')
  h.sim.fs.chmodSync(ENABLED, 0o644)
  t.is(await h.write(ENABLED, '0'), 1)
})

test('a mode change cannot give a file a method it lacks: force stays unreadable', async t => {
  const h = bootSim()
  t.is(await h.load(livepatchSample), 0)
  const force = '/sys/kernel/livepatch/livepatch_sample/force'
  h.sim.fs.chmodSync(force, 0o644)
  t.is(code(() => h.sim.fs.readFileSync(force)), 'EACCES')
})

test('chown keeps the ids; -1 leaves one unchanged', async t => {
  const h = bootSim()
  t.is(await h.load(livepatchSample), 0)
  h.sim.fs.chownSync(ENABLED, 1000, -1)
  t.like(h.sim.fs.statSync(ENABLED), { uid: 1000, gid: 0 })
  h.sim.fs.chownSync(ENABLED, -1, 100)
  t.like(h.sim.fs.statSync(ENABLED), { uid: 1000, gid: 100 })
})

test('procfs: entries take a new mode, /proc/<pid> files only a new owner, /proc/sys neither', t => {
  const h = bootSim()
  const fs = h.sim.fs
  t.is(code(() => fs.chmodSync('/proc/cmdline', 0o400)), 'ok')
  t.is(fs.statSync('/proc/cmdline').mode & 0o777, 0o400)
  t.is(code(() => fs.chmodSync('/proc/1/stack', 0o444)), 'EPERM')
  t.is(code(() => fs.chmodSync('/proc/1/task/1/stack', 0o444)), 'EPERM')
  t.is(code(() => fs.chownSync('/proc/1/stack', 1000, 1000)), 'ok')
  t.is(code(() => fs.chmodSync('/proc/sys/kernel/ftrace_enabled', 0o600)), 'EPERM')
  t.is(code(() => fs.chownSync('/proc/sys/kernel/ftrace_enabled', 1000, -1)), 'EPERM')
  t.is(fs.statSync('/proc/sys/kernel/ftrace_enabled').mode & 0o777, 0o644)
  t.is(code(() => fs.chmodSync('/sys/kernel/tracing/trace', 0o600)), 'ok')
  t.is(code(() => fs.chmodSync('/proc/no-such-file', 0o600)), 'ENOENT')
})

test('a new patch directory starts with the kernel\'s modes again', async t => {
  const h = bootSim()
  t.is(await h.load(livepatchSample), 0)
  h.sim.fs.chmodSync(ENABLED, 0o600)
  t.is(await h.write(ENABLED, '0'), 1)
  await h.advance(3000)
  t.is(await h.unload('livepatch_sample'), 0)
  t.is(await h.load(livepatchSample), 0)
  t.is(h.sim.fs.statSync(ENABLED).mode & 0o7777, 0o644)
})
