// Kernel profiles: the sysfs ABI of 6.1 and 5.10, and the pre-5.1 register-then-enable model of 4.19.
import test from 'ava'
import { bootSim, TestSim } from '../helpers/engine'
import { defineModule } from '../../lib/kernel/module'
import type { Ctx } from '../../lib/kernel/context'
import type { SeqFile } from '../../lib/kernel/seqfile'
import { EAGAIN, EBUSY, EINVAL } from '../../lib/kobject/errno'
import { framesFromNames, park } from '../../lib/kernel/parked'

const KLP = '/sys/kernel/livepatch'

function patchDef (name: string, fn = 'uptime_proc_show') {
  const impl = (ctx: Ctx, m: SeqFile) => { ctx.call('seq_printf', m, '%s\n', name); return 0 }
  return defineModule({
    name,
    livepatch: true,
    functions: { [`${name}_new`]: impl },
    init: (ctx) => ctx.klp.patch({ objs: [{ name: null, funcs: [{ oldName: fn, newFunc: impl }] }] }),
    exit: () => {},
  })
}

test('6.1 and 5.10: the attributes those kernels have', async t => {
  const s61 = bootSim({ profile: '6.1' })
  await s61.load(patchDef('p'))
  t.deepEqual(s61.sim.fs.readdirSync(`${KLP}/p`), ['enabled', 'force', 'transition', 'vmlinux'])
  t.deepEqual(s61.sim.fs.readdirSync(`${KLP}/p/vmlinux`), ['patched', 'uptime_proc_show,1'])
  const s510 = bootSim({ profile: '5.10' })
  await s510.load(patchDef('p'))
  t.deepEqual(s510.sim.fs.readdirSync(`${KLP}/p`), ['enabled', 'force', 'transition', 'vmlinux'])
  t.deepEqual(s510.sim.fs.readdirSync(`${KLP}/p/vmlinux`), ['uptime_proc_show,1'])
  t.is(await s510.write(`${KLP}/p/enabled`, 'false'), -EINVAL, 'kstrtobool of 5.10 knows no t/f')
  t.is(await s510.write(`${KLP}/p/enabled`, 'n'), 1)
})

test('an unknown profile is refused', t => {
  t.throws(() => bootSim({ profile: '3.10' }), { message: "unknown kernel profile '3.10' (known: 7.1, 6.1, 5.10, 4.19)" })
})

async function fourNineteen (): Promise<TestSim> {
  return bootSim({ profile: '4.19' })
}

test('4.19: disabled patches stay registered and can be enabled again', async t => {
  const s = await fourNineteen()
  t.is(await s.load(patchDef('a')), 0)
  t.deepEqual(s.sim.fs.readdirSync(`${KLP}/a`), ['enabled', 'force', 'signal', 'transition', 'vmlinux'])
  t.is(await s.read('/sys/module/a/refcnt'), '1')
  t.is(await s.unload('a'), -EAGAIN, 'in use while enabled')
  t.is(await s.write(`${KLP}/a/enabled`, '0'), 1)
  await s.advance(100)
  t.is(await s.read(`${KLP}/a/enabled`), '0')
  t.is(await s.read('/sys/module/a/refcnt'), '0')
  t.not(await s.read('/proc/uptime'), 'a')
  t.is(await s.write(`${KLP}/a/enabled`, '1'), 1)
  t.is(await s.read('/proc/uptime'), 'a')
  t.is(await s.read('/sys/module/a/refcnt'), '1')
  t.is(await s.write(`${KLP}/a/enabled`, 'true'), -EINVAL, 'the 4.19 kstrtobool knows no "true"')
  await s.write(`${KLP}/a/enabled`, '0')
  t.is(await s.unload('a'), 0)
  t.false(s.exists(`${KLP}/a`), 'unregistered at module exit')
})

test('4.19: only the first disabled patch can be enabled, only the last enabled one disabled', async t => {
  const s = await fourNineteen()
  await s.load(patchDef('a'))
  await s.load(patchDef('b', 'version_proc_show'))
  t.is(await s.write(`${KLP}/a/enabled`, '0'), -EBUSY)
  t.is(await s.write(`${KLP}/b/enabled`, '0'), 1)
  t.is(await s.write(`${KLP}/a/enabled`, '0'), 1)
  t.is(await s.write(`${KLP}/b/enabled`, '1'), -EBUSY)
  t.is(await s.write(`${KLP}/a/enabled`, '1'), 1)
  t.is(await s.write(`${KLP}/b/enabled`, '1'), 1)
})

test('4.19: the signal attribute signals the stalled tasks; after a force no module is released', async t => {
  const s = await fourNineteen()
  const k = s.sim.kernel
  const reader = k.sched.create({ comm: 'reader', kthread: false, parent: k.caller })
  park(k, reader, { frames: framesFromNames(k, ['__schedule', 'schedule', 'uptime_proc_show', 'vfs_read', 'ksys_read', 'do_syscall_64']), state: 'S' })
  await s.load(patchDef('a'))
  t.is(await s.read(`${KLP}/a/transition`), '1')
  const mark = s.mark()
  t.is(await s.write(`${KLP}/a/signal`, '1'), 1)
  t.deepEqual(s.log(mark), ['livepatch: signaling remaining tasks'])
  await s.advance(1000)
  t.is(await s.read(`${KLP}/a/transition`), '0')
  t.is(await s.write(`${KLP}/a/signal`, '1'), -EINVAL, 'no transition')

  const stuck = k.sched.create({ comm: 'stuck', kthread: true, parent: k.caller })
  park(k, stuck, { frames: framesFromNames(k, ['__schedule', 'schedule', 'version_proc_show', 'kthread']), state: 'D' })
  await s.load(patchDef('b', 'version_proc_show'))
  await s.write(`${KLP}/b/force`, '1')
  await s.advance(1000)
  await s.write(`${KLP}/b/enabled`, '0')
  await s.advance(100)
  await s.write(`${KLP}/a/enabled`, '0')
  await s.advance(100)
  t.is(await s.read('/sys/module/a/refcnt'), '1', 'the global klp_forced flag pins every module')
})
