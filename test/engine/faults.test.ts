// Fault injection: each fault takes the kernel's own failure path.
import test from 'ava'
import { bootSim } from '../helpers/engine'
import testKlpLivepatch from '../../lib/modules/test_klp_livepatch'
import atomicReplace from '../../lib/modules/test_klp_atomic_replace'
import { EBUSY, EIO, ENODEV, ENOENT, ENOMEM } from '../../lib/kobject/errno'
import { FaultError } from '../../lib/faults'

const KLP = '/sys/kernel/livepatch'

test('ftrace registration failure: the livepatch fails with the kernel\'s message', async t => {
  const s = bootSim()
  s.sim.faults.add({ kind: 'ftrace-register', args: ['cmdline_proc_show', 'ENODEV'], once: true })
  const mark = s.mark()
  t.is(await s.load(testKlpLivepatch), -ENODEV)
  t.true(s.log(mark).includes("livepatch: failed to register ftrace handler for function 'cmdline_proc_show' (-19)"))
  t.deepEqual(s.sim.faults.list(), [], 'a once fault is gone after it fired')
  t.is(await s.load(testKlpLivepatch), 0)
})

test('kallsyms size lookup failure and nop allocation failure', async t => {
  const s = bootSim()
  const size = s.sim.faults.add({ kind: 'kallsyms-size', args: ['cmdline_proc_show'] })
  let mark = s.mark()
  t.is(await s.load(testKlpLivepatch), -ENOENT)
  t.true(s.log(mark).includes("livepatch: kallsyms size lookup failed for 'cmdline_proc_show'"))
  s.sim.faults.remove(size.id)
  t.is(await s.load(testKlpLivepatch), 0)
  s.sim.faults.add({ kind: 'nop-alloc', args: [] })
  mark = s.mark()
  t.is(await s.load(atomicReplace, 'replace=1'), -ENOMEM)
  t.false(s.exists(`${KLP}/test_klp_atomic_replace`))
  t.is(s.sim.faults.list()[0].hits, 1)
})

test('a delayed refcount drop: the directory is gone but the module stays in use for a while', async t => {
  const s = bootSim()
  s.sim.faults.add({ kind: 'refcount-delay', args: ['2000'] })
  await s.load(testKlpLivepatch)
  await s.write(`${KLP}/test_klp_livepatch/enabled`, '0')
  await s.advance(100)
  t.false(s.exists(`${KLP}/test_klp_livepatch`))
  t.is(await s.read('/sys/module/test_klp_livepatch/refcnt'), '1')
  t.is(await s.unload('test_klp_livepatch'), -11)
  await s.advance(2000)
  t.is(await s.read('/sys/module/test_klp_livepatch/refcnt'), '0')
})

test('attribute read failures and module init failures', async t => {
  const s = bootSim()
  await s.load(testKlpLivepatch)
  s.sim.faults.add({ kind: 'attr-read', args: [`${KLP}/test_klp_livepatch/transition`, 'EIO'] })
  await t.throwsAsync(s.sim.fs.readFile(`${KLP}/test_klp_livepatch/transition`), { code: 'EIO' })
  t.is(await s.read(`${KLP}/test_klp_livepatch/enabled`), '1')
  s.sim.faults.add({ kind: 'module-init', args: ['test_klp_atomic_replace', 'EBUSY'] })
  t.is(await s.load(atomicReplace), -EBUSY)
  t.false(s.exists('/sys/module/test_klp_atomic_replace'))
  t.is(s.sim.faults.clear(), 2)
  t.is(await s.load(atomicReplace), 0)
  void EIO
})

test('a task that ignores fake signals keeps the transition stalled past the signals', async t => {
  const s = bootSim()
  const k = s.sim.kernel
  k.scripted.add({ name: 'stubborn', stack: ['__schedule', 'schedule', 'cmdline_proc_show', 'seq_read_iter', 'vfs_read', 'ksys_read', 'do_syscall_64'] })
  s.sim.faults.add({ kind: 'ignore-signals', args: ['stubborn'] })
  await s.load(testKlpLivepatch)
  await s.advance(20_000)
  t.is(await s.read(`${KLP}/test_klp_livepatch/transition`), '1')
  s.sim.faults.clear()
  await s.advance(15_000)
  t.is(await s.read(`${KLP}/test_klp_livepatch/transition`), '0', 'the next round of signals switches it')
})

test('bad fault specs get one clear error each', t => {
  const s = bootSim()
  const bad = (kind: string, args: string[], msg: RegExp) => t.throws(() => s.sim.faults.add({ kind: kind as never, args }), { instanceOf: FaultError, message: msg })
  bad('explode', [], /^unknown fault kind 'explode' \(known: ftrace-register, kallsyms-size/)
  bad('ftrace-register', [], /^ftrace-register takes FUNC/)
  bad('ftrace-register', ['no_such_fn'], /^no function 'no_such_fn'/)
  bad('ftrace-register', ['cmdline_proc_show', 'EPERM'], /EBUSY or ENODEV/)
  bad('refcount-delay', ['soon'], /^invalid delay 'soon'/)
  bad('ignore-signals', ['nobody-here'], /^no task 'nobody-here'/)
  bad('attr-read', ['/sys/kernel/nope', 'EIO'], /^no attribute at/)
  bad('module-init', ['m', 'EWHAT'], /^invalid errno 'EWHAT'/)
})
