// The stop_machine core on the virtual clock: life cycle and messages, the
// stack check's ranges, breakpoint retries and their timing, klp_mutex, the
// configuration switches, module rules and the error paths that roll back.
import test from 'ava'
import { settle } from '../../lib/kernel/clock'
import { EAGAIN, EBUSY, EINVAL, ENODEV, ENOENT, ENOMEM, ENOPKG, EWOULDBLOCK } from '../../lib/kobject/errno'
import { KLP_ENFORCEMENT, KLP_STACK_OPTIMIZE } from '../../lib/livepatch/types'
import { defineModule } from '../../lib/kernel/module'
import type { Kprobe } from '../../lib/kernel/kprobes'
import { imageOf } from '../../lib/module-image'
import { bootWo, KLP, klpLines, settled, stampsOf, startWrite } from './helpers/engine'
import { busyPatch, cmdlinePatch, parkedTask, patchedCmdline, patchModule, patchWithThread, preemptedIn, replacementName, sizedTarget, slowTarget } from './helpers/modules'
import { formatPatchStates, kstrtoboolOlk } from '../../lib/livepatch/stopmachine'

const ORIGINAL_CMDLINE = 'BOOT_IMAGE=/boot/vmlinuz-7.1.0-klpsim root=/dev/vda1 ro console=ttyS0,115200 quiet'

test('insmod registers, echo 1 enables, echo 0 disables and keeps it registered, rmmod unregisters', async t => {
  const s = bootWo()
  let mark = s.mark()
  t.is(await s.load(cmdlinePatch('p1')), 0)
  t.deepEqual(klpLines(s, mark), [], 'registration logs nothing')
  t.true(s.log(mark).includes('p1: tainting kernel with TAINT_LIVEPATCH'), 'the loader taints at load')
  t.is(await s.read(`${KLP}/p1/enabled`), '0')
  t.deepEqual(s.sim.fs.readdirSync(`${KLP}/p1`).sort(), ['enabled', 'vmlinux'])
  t.deepEqual(s.sim.fs.readdirSync(`${KLP}/p1/vmlinux`), ['cmdline_proc_show,1'])
  t.deepEqual(s.sim.fs.readdirSync(`${KLP}/p1/vmlinux/cmdline_proc_show,1`), [])
  t.is(await s.read('/proc/cmdline'), ORIGINAL_CMDLINE, 'nothing patched yet')

  mark = s.mark()
  t.is(await s.write(`${KLP}/p1/enabled`, '1\n'), 2)
  t.deepEqual(klpLines(s, mark), ['livepatch: tainting kernel with TAINT_LIVEPATCH', "livepatch: enabling patch 'p1'"])
  t.is(await s.read('/proc/cmdline'), patchedCmdline('p1').trim())
  t.is(await s.read('/sys/module/p1/refcnt'), '1', 'enable takes a reference on the patch module')

  mark = s.mark()
  t.is(await s.write(`${KLP}/p1/enabled`, '0'), 1)
  t.deepEqual(klpLines(s, mark), ["livepatch: disabling patch 'p1'"])
  t.is(await s.read('/proc/cmdline'), ORIGINAL_CMDLINE)
  t.is(await s.read(`${KLP}/p1/enabled`), '0')
  t.is(await s.read('/sys/module/p1/refcnt'), '0')

  mark = s.mark()
  t.is(await s.write(`${KLP}/p1/enabled`, 'on'), 2)
  t.deepEqual(klpLines(s, mark), ["livepatch: enabling patch 'p1'"], 'the taint notice is printed once')
  t.is(await s.write(`${KLP}/p1/enabled`, 'off'), 3)

  t.is(await s.unload('p1'), 0)
  t.false(s.exists(`${KLP}/p1`))
  t.is(await s.read('/proc/livepatch/state'), formatPatchStates(s.sim.kernel, []).trimEnd())
  t.is(s.sim.livepatch.stopMachine!.funcList.size, 0, 'no func node is left')
})

test('/proc/livepatch/state lists every registered patch in order with its state', async t => {
  const s = bootWo()
  t.is(await s.load(cmdlinePatch('first_patch')), 0)
  t.is(await s.load(patchModule('second_patch_with_a_long_name', [{ funcs: [{ oldName: 'version_proc_show' }] }])), 0)
  t.is(await s.write(`${KLP}/first_patch/enabled`, '1'), 1)
  t.is(await s.read('/proc/livepatch/state'), [
    'Index\tPatch                     \tState   ',
    '-----------------------------------------------',
    '1    \tfirst_patch               \tenabled ',
    '2    \tsecond_patch_with_a_long_name\tdisabled',
    '-----------------------------------------------',
  ].join('\n'))
  const st = s.sim.fs.statSync('/proc/livepatch/state')
  t.is(st.mode & 0o777, 0o444)
})

test('enabled accepts the kstrtobool forms of OLK-6.6 and refuses the current value', async t => {
  t.is(kstrtoboolOlk('Y'), true)
  t.is(kstrtoboolOlk('on\n'), true)
  t.is(kstrtoboolOlk('OFF'), false)
  t.is(kstrtoboolOlk('e'), -EINVAL)
  t.is(kstrtoboolOlk('d'), -EINVAL)
  const s = bootWo()
  t.is(await s.load(cmdlinePatch('p')), 0)
  t.is(await s.write(`${KLP}/p/enabled`, '2'), -EINVAL)
  t.is(await s.write(`${KLP}/p/enabled`, 'enable'), -EINVAL)
  t.is(await s.write(`${KLP}/p/enabled`, '0'), -EINVAL, 'already disabled')
  t.is(await s.write(`${KLP}/p/enabled`, 'true'), 4)
  t.is(await s.write(`${KLP}/p/enabled`, 'y'), -EINVAL, 'already enabled')
})

test('the busy worker makes enable fail with EAGAIN and the x86 report; enable succeeds once it leaves', async t => {
  const s = bootWo()
  const k = s.sim.kernel
  t.is(await s.load(s.sim.builtinImage('test_klp_callbacks_busy')!.def, 'block_transition=Y'), 0)
  t.is(await s.load(busyPatch('busy_patch')), 0)
  const worker = k.sched.tasks().find(tk => tk.stack.some(f => f.sym.name === 'busymod_work_func'))!
  t.truthy(worker)
  let mark = s.mark()
  t.is(await s.write(`${KLP}/busy_patch/enabled`, '1'), -EAGAIN)
  const lines = klpLines(s, mark)
  t.is(lines[0], 'livepatch: func busymod_work_func is in use!')
  t.is(lines[1], 'livepatch: Call Trace:')
  const trace = lines.slice(2, 2 + worker.stack.length)
  t.is(trace.length, worker.stack.length)
  t.regex(trace[0], /^livepatch: \[<[0-9a-f]{16}>\] __schedule\+0x[0-9a-f]+\/0x6c0$/)
  t.true(trace.some(l => /\] busymod_work_func\+0x[0-9a-f]+\/0x90 \[test_klp_callbacks_busy\]$/.test(l)))
  t.is(lines[2 + worker.stack.length], `livepatch: ${worker.comm}:${worker.pid} check stack failed, ret=-11`)
  t.is(lines[3 + worker.stack.length], 'livepatch: breakpoint exception optimization is not used.', 'the pr_debug line (dynamic debug on)')
  t.is(await s.read(`${KLP}/busy_patch/enabled`), '0')
  t.is(await s.read('/sys/module/busy_patch/refcnt'), '0')
  t.is(s.sim.livepatch.stopMachine!.funcList.size, 0, 'the func node was recycled')

  await s.write('/sys/module/test_klp_callbacks_busy/parameters/block_transition', '0')
  await s.advance(50)
  mark = s.mark()
  t.is(await s.write(`${KLP}/busy_patch/enabled`, '1'), 1)
  t.deepEqual(klpLines(s, mark), ['livepatch: tainting kernel with TAINT_LIVEPATCH', "livepatch: enabling patch 'busy_patch'"])
})

test('KLP_STACK_OPTIMIZE: breakpoints, then retries 100 ms apart until the task leaves the entry', async t => {
  const s = bootWo()
  const k = s.sim.kernel
  t.is(await s.load(cmdlinePatch('opt', { force: KLP_STACK_OPTIMIZE })), 0)
  const reader = parkedTask(k, 'reader', preemptedIn('cmdline_proc_show', 2))
  const mark = s.mark()
  const write = startWrite(s, `${KLP}/opt/enabled`, '1')
  await settle()
  t.false(await settled(write), 'the writer sleeps between retries')
  t.is(s.log(mark).filter(l => l === 'livepatch: try again in 100 ms').length, 1)
  t.is(s.log(mark).filter(l => l === 'livepatch: func cmdline_proc_show is in use!').length, 2, 'the first attempt and the first retry')
  t.is(await s.read('/sys/module/opt/refcnt'), '1', 'the breakpoint path holds a temporary reference')
  t.is(await s.read('/proc/cmdline'), patchedCmdline('opt').trim(), 'new callers trap into the new function')
  t.is(await s.read(`${KLP}/opt/enabled`), '0')

  await s.advance(250)
  t.is(s.log(mark).filter(l => l === 'livepatch: try again in 100 ms').length, 3)
  reader.wake()
  await s.advance(50)
  t.is(await write, 1)
  t.deepEqual(klpLines(s, mark).slice(-3), [
    'livepatch: tainting kernel with TAINT_LIVEPATCH',
    "livepatch: enabling patch 'opt'",
    'livepatch: patching success, tried 4 times, ret=0.',
  ])
  const tries = stampsOf(s, mark, /^livepatch: try again in 100 ms$/)
  t.deepEqual(tries.slice(1).map((v, i) => v - tries[i]), [100_000, 100_000], 'KLP_RETRY_INTERVAL apart on the kernel clock')
  t.is(await s.read('/sys/module/opt/refcnt'), '1', 'only the enabled patch\'s reference is left')
  t.is(await s.read('/proc/cmdline'), patchedCmdline('opt').trim())
  const node = s.sim.livepatch.stopMachine!.funcList.find(k.kallsyms.lookupName('cmdline_proc_show'))!
  t.is(node.brkFunc, undefined, 'brk_func is cleared')
  t.false(node.hasBreakpoint, 'the jump replaced the breakpoint')
})

test('KLP_STACK_OPTIMIZE: five retries that all fail restore the entry and return EAGAIN', async t => {
  const s = bootWo()
  const k = s.sim.kernel
  t.is(await s.load(cmdlinePatch('opt', { force: KLP_STACK_OPTIMIZE })), 0)
  parkedTask(k, 'stuck', preemptedIn('cmdline_proc_show', 0))
  const mark = s.mark()
  const start = k.clock.nowUs()
  t.is(await s.write(`${KLP}/opt/enabled`, '1'), -EAGAIN)
  t.is(s.log(mark).filter(l => l === 'livepatch: try again in 100 ms').length, 5)
  t.is(klpLines(s, mark).at(-1), 'livepatch: patching failed, tried 5 times, ret=-11.')
  t.is(k.clock.nowUs() - start >= 500_000, true, 'five sleeps of 100 ms')
  t.is(await s.read('/proc/cmdline'), ORIGINAL_CMDLINE, 'the breakpoint is gone')
  t.is(await s.read(`${KLP}/opt/enabled`), '0')
  t.is(await s.read('/sys/module/opt/refcnt'), '0')
  t.is(s.sim.livepatch.stopMachine!.funcList.size, 0)
})

test('a STACK_OPTIMIZE range is only the entry: a task deeper in the function does not block', async t => {
  const s = bootWo()
  parkedTask(s.sim.kernel, 'deep', preemptedIn('cmdline_proc_show', 0x10))
  t.is(await s.load(cmdlinePatch('normal')), 0)
  const mark = s.mark()
  t.is(await s.write(`${KLP}/normal/enabled`, '1'), -EAGAIN, 'KLP_NORMAL_FORCE checks the whole function')
  t.is(klpLines(s, mark)[0], 'livepatch: func cmdline_proc_show is in use!')
  t.is(await s.unload('normal'), 0)
  t.is(await s.load(cmdlinePatch('opt', { force: KLP_STACK_OPTIMIZE })), 0)
  t.is(await s.write(`${KLP}/opt/enabled`, '1'), 1, 'KLP_STACK_OPTIMIZE checks the first 5 bytes on x86_64')
})

test('arm64: 16-byte entry, its own report, and no reliability requirement', async t => {
  const s = bootWo({ arch: 'arm64' })
  const k = s.sim.kernel
  const deep = parkedTask(k, 'deep', preemptedIn('cmdline_proc_show', 0xa))
  t.is(await s.load(cmdlinePatch('opt', { force: KLP_STACK_OPTIMIZE })), 0)
  const mark = s.mark()
  const write = startWrite(s, `${KLP}/opt/enabled`, '1')
  await settle()
  const lines = s.log(mark)
  t.is(lines[0], 'livepatch: func cmdline_proc_show is in use!', 'offset 0xa is inside the 16-byte entry')
  t.is(lines[1], `livepatch: PID: ${deep.pid} Comm: deep`)
  t.is(lines[2], 'Call trace:')
  t.is(lines[3], ' cmdline_proc_show+0xa/0x30')
  deep.wake()
  await s.advance(100)
  t.is(await write, 1)

  t.is(await s.load(sizedTarget('small_target', 'small_fn', 8)), 0)
  const m2 = s.mark()
  t.is(await s.load(patchModule('small_patch', [{ name: 'small_target', funcs: [{ oldName: 'small_fn' }] }])), -EINVAL)
  t.deepEqual(klpLines(s, m2), ['livepatch: small_fn size less than limit (8 < 16)'])
  t.is(await s.read('/sys/module/small_target/refcnt'), '0', 'the target reference is put again')

  const shaky = parkedTask(k, 'shaky', ['schedule', 'do_sys_poll'])
  shaky.unreliable = true
  t.is(await s.load(cmdlinePatch('p2')), 0)
  t.is(await s.write(`${KLP}/p2/enabled`, '1'), 1, 'arm64 walks frames without a reliability verdict')
})

test('x86_64: an 8-byte function is large enough, an unreliable stack fails enable without retries', async t => {
  const s = bootWo()
  const k = s.sim.kernel
  t.is(await s.load(sizedTarget('small_target', 'small_fn', 8)), 0)
  t.is(await s.load(patchModule('small_patch', [{ name: 'small_target', funcs: [{ oldName: 'small_fn' }] }])), 0)
  t.is(await s.read('/sys/module/small_target/refcnt'), '1', 'the registered patch holds the target')
  t.is(await s.unload('small_patch'), 0)
  const shaky = parkedTask(k, 'shaky', ['schedule', 'do_sys_poll'])
  shaky.unreliable = true
  t.is(await s.load(cmdlinePatch('opt', { force: KLP_STACK_OPTIMIZE })), 0)
  const mark = s.mark()
  t.is(await s.write(`${KLP}/opt/enabled`, '1'), -EINVAL)
  t.deepEqual(klpLines(s, mark), [`livepatch: shaky:${shaky.pid} has an unreliable stack, ret=-22`])
  t.is(await s.write(`${KLP}/opt/enabled`, '1'), -EINVAL)
  k.sched.exit(shaky)
  t.is(await s.write(`${KLP}/opt/enabled`, '1'), 1, 'once the task is gone')
})

test('migration threads, idle tasks, running and dead tasks: which stacks are checked', async t => {
  const s = bootWo()
  const k = s.sim.kernel
  t.is(await s.load(cmdlinePatch('p')), 0)
  // a stopper thread is never checked
  const migration = k.sched.tasks().find(tk => tk.comm === 'migration/1')!
  migration.stack.push({ sym: k.kallsyms.lookupName('cmdline_proc_show')!, off: 0x10 })
  t.is(await s.write(`${KLP}/p/enabled`, '1'), 1)
  t.is(await s.write(`${KLP}/p/enabled`, '0'), 1)
  migration.stack.pop()
  // idle tasks are
  const idle = k.sched.idleTasks[2]
  idle.stack.push({ sym: k.kallsyms.lookupName('cmdline_proc_show')!, off: 0x10 })
  const mark = s.mark()
  t.is(await s.write(`${KLP}/p/enabled`, '1'), -EAGAIN)
  t.true(klpLines(s, mark).includes('livepatch: swapper/2:0 check stack failed, ret=-11'))
  idle.stack.pop()
  // a task running on another CPU is stopped too, and checked
  const running = k.scripted.add({ name: 'spinner', stack: preemptedIn('cmdline_proc_show', 0x10), running: true })
  const m2 = s.mark()
  t.is(await s.write(`${KLP}/p/enabled`, '1'), -EAGAIN)
  t.true(klpLines(s, m2).includes(`livepatch: spinner:${running.pid} check stack failed, ret=-11`))
  k.sched.exit(running)
  // zombies are not
  const zombie = parkedTask(k, 'zombie', preemptedIn('cmdline_proc_show', 0x10))
  zombie.state = 'Z'
  t.is(await s.write(`${KLP}/p/enabled`, '1'), 1)
})

test('KLP_ENFORCEMENT skips the check on enable only; disable checks the original while it is the only patch', async t => {
  const s = bootWo()
  t.is(await s.load(s.sim.builtinImage('test_klp_callbacks_busy')!.def, 'block_transition=Y'), 0)
  t.is(await s.load(busyPatch('forced', KLP_ENFORCEMENT)), 0)
  t.is(await s.write(`${KLP}/forced/enabled`, '1'), 1)
  const mark = s.mark()
  t.is(await s.write(`${KLP}/forced/enabled`, '0'), -EAGAIN)
  t.is(klpLines(s, mark)[0], 'livepatch: func busymod_work_func is in use!')
  await s.write('/sys/module/test_klp_callbacks_busy/parameters/block_transition', '0')
  await s.advance(50)
  t.is(await s.write(`${KLP}/forced/enabled`, '0'), 1)
})

test('stacked patches: the predecessor\'s new function and the old entry are checked, the old body is not', async t => {
  const s = bootWo()
  const k = s.sim.kernel
  t.is(await s.load(cmdlinePatch('a')), 0)
  t.is(await s.load(cmdlinePatch('b')), 0)
  t.is(await s.write(`${KLP}/a/enabled`, '1'), 1)
  const aNew = k.modules.find('a')!.symbol(replacementName('cmdline_proc_show'))!
  const inA = parkedTask(k, 'in_a', [{ sym: aNew, off: 0x20 }, 'seq_read_iter'])
  let mark = s.mark()
  t.is(await s.write(`${KLP}/b/enabled`, '1'), -EAGAIN)
  t.true(klpLines(s, mark).some(l => /\] new_cmdline_proc_show\+0x20\/0x40 \[a\]$/.test(l)))
  inA.wake()
  await s.advance(10)
  const inEntry = parkedTask(k, 'in_entry', preemptedIn('cmdline_proc_show', 4))
  mark = s.mark()
  t.is(await s.write(`${KLP}/b/enabled`, '1'), -EAGAIN, 'the old entry is rewritten again')
  inEntry.wake()
  await s.advance(10)
  parkedTask(k, 'in_body', preemptedIn('cmdline_proc_show', 0x10))
  t.is(await s.write(`${KLP}/b/enabled`, '1'), 1, 'the old body no longer runs for new callers')
  t.is(await s.read('/proc/cmdline'), patchedCmdline('b').trim(), 'the newest patch wins')
  t.is(await s.write(`${KLP}/b/enabled`, '0'), 1)
  t.is(await s.read('/proc/cmdline'), patchedCmdline('a').trim(), 'back to the previous patch')
})

test('LIVEPATCH_STACK: enable in registration order, disable in reverse, both EBUSY', async t => {
  const s = bootWo()
  t.is(await s.load(cmdlinePatch('a')), 0)
  t.is(await s.load(patchModule('b', [{ funcs: [{ oldName: 'version_proc_show' }] }])), 0)
  let mark = s.mark()
  t.is(await s.write(`${KLP}/b/enabled`, '1'), -EBUSY)
  t.deepEqual(klpLines(s, mark), ['livepatch: only the first disabled patch can be enabled'])
  t.is(await s.write(`${KLP}/a/enabled`, '1'), 1)
  t.is(await s.write(`${KLP}/b/enabled`, '1'), 1)
  mark = s.mark()
  t.is(await s.write(`${KLP}/a/enabled`, '0'), -EBUSY)
  t.deepEqual(klpLines(s, mark), ['livepatch: only the last enabled patch can be disabled'])
  t.is(await s.write(`${KLP}/b/enabled`, '0'), 1)
  t.is(await s.write(`${KLP}/a/enabled`, '0'), 1)
  t.is(await s.unload('a'), 0, 'a disabled patch can be unregistered at any position')
  t.is(await s.write(`${KLP}/b/enabled`, '1'), 1)
})

test('without LIVEPATCH_STACK any order goes and an enabled patch moves to the tail', async t => {
  const s = bootWo({ stopMachine: { stack: false } })
  t.is(await s.load(cmdlinePatch('a')), 0)
  t.is(await s.load(cmdlinePatch('b')), 0)
  t.is(await s.write(`${KLP}/b/enabled`, '1'), 1)
  t.is(await s.write(`${KLP}/a/enabled`, '1'), 1)
  t.is(await s.read('/proc/cmdline'), patchedCmdline('a').trim(), 'a went on top of b')
  t.deepEqual(s.sim.livepatch.stopMachine!.registered().map(p => p.name), ['b', 'a'])
  t.is(await s.write(`${KLP}/b/enabled`, '0'), 1, 'b is disabled under a')
  t.is(await s.read('/proc/cmdline'), patchedCmdline('a').trim())
  t.is(await s.write(`${KLP}/a/enabled`, '0'), 1)
  t.is(await s.read('/proc/cmdline'), ORIGINAL_CMDLINE)
})

test('without CONFIG_PREEMPTION a STACK_OPTIMIZE entry without a call is not checked at all', async t => {
  const s = bootWo({ stopMachine: { preemption: false } })
  const k = s.sim.kernel
  t.is(await s.load(sizedTarget('t1', 'calls_out', 0x40)), 0)
  k.kallsyms.matches('t1', 'calls_out')[0].flags = { callInPrologue: true }
  parkedTask(k, 'at_cmdline', preemptedIn('cmdline_proc_show', 1))
  parkedTask(k, 'at_calls_out', [{ sym: k.kallsyms.matches('t1', 'calls_out')[0], off: 1 }, 'schedule'])
  t.is(await s.load(cmdlinePatch('opt', { force: KLP_STACK_OPTIMIZE })), 0)
  t.is(await s.write(`${KLP}/opt/enabled`, '1'), 1, 'no call in cmdline_proc_show\'s entry')
  t.is(await s.load(patchModule('opt2', [{ name: 't1', funcs: [{ oldName: 'calls_out', force: KLP_STACK_OPTIMIZE }] }])), 0)
  const mark = s.mark()
  const w = startWrite(s, `${KLP}/opt2/enabled`, '1')
  await settle()
  t.is(klpLines(s, mark)[0], 'livepatch: func calls_out is in use!', 'an entry with a call is checked')
  await s.advance(600)
  t.is(await w, -EAGAIN)
})

test('RESTRICT_KPROBE: a kprobe in the old function blocks enable and disable; off, it does not', async t => {
  const s = bootWo()
  const k = s.sim.kernel
  t.is(await s.load(cmdlinePatch('p')), 0)
  const kp: Kprobe = { symbolName: 'cmdline_proc_show', offset: 0, armed: false }
  t.is(k.kprobes.register(kp), 0)
  let mark = s.mark()
  t.is(await s.write(`${KLP}/p/enabled`, '1'), -EINVAL)
  t.deepEqual(klpLines(s, mark), ['livepatch: func cmdline_proc_show has been probed, (un)patch failed'])
  k.kprobes.unregister(kp)
  t.is(await s.write(`${KLP}/p/enabled`, '1'), 1)
  t.is(k.kprobes.register(kp), 0)
  mark = s.mark()
  t.is(await s.write(`${KLP}/p/enabled`, '0'), -EINVAL)
  t.deepEqual(klpLines(s, mark), ['livepatch: func cmdline_proc_show has been probed, (un)patch failed'])
  t.is(await s.read(`${KLP}/p/enabled`), '1')

  const s2 = bootWo({ stopMachine: { restrictKprobe: false } })
  t.is(await s2.load(cmdlinePatch('p')), 0)
  t.is(s2.sim.kernel.kprobes.register({ symbolName: 'cmdline_proc_show', offset: 0, armed: false }), 0)
  t.is(await s2.write(`${KLP}/p/enabled`, '1'), 1)
})

test('registration checks: static key, static call, size, replace, missing and coming targets', async t => {
  const s = bootWo()
  const cases: Array<[ReturnType<typeof patchModule>, number, string[]]> = [
    [patchModule('sk', [{ funcs: [{ oldName: 'tcp_v4_rcv' }] }]), -EINVAL, ["livepatch: 'tcp_v4_rcv' has static key in first 5 bytes, ret=1"]],
    [patchModule('sc', [{ funcs: [{ oldName: '__cond_resched' }] }]), -EINVAL, ["livepatch: '__cond_resched' has static call in first 5 bytes, ret=1"]],
    [patchModule('tiny', [{ funcs: [{ oldName: 'dummy_irq_chip_noop' }] }]), -EINVAL, ['livepatch: dummy_irq_chip_noop size less than limit (4 < 5)']],
    [cmdlinePatch('rep', { replace: true }), -EINVAL, ['livepatch: Replacing is not supported']],
    [patchModule('nopkg', [{ name: 'test_klp_mod_target', funcs: [{ oldName: 'test_klp_mod_target_show' }] }]), -ENOPKG, ["livepatch: module 'test_klp_mod_target' not loaded"]],
    [patchModule('amb', [{ funcs: [{ oldName: 'type_show' }] }]), -EINVAL, ["livepatch: unresolvable ambiguity for symbol 'type_show' in object '(null)'"]],
    [patchModule('nosym', [{ funcs: [{ oldName: 'no_such_function' }] }]), -EINVAL, ["livepatch: symbol 'no_such_function' not found in symbol table"]],
  ]
  for (const [def, errno, lines] of cases) {
    const mark = s.mark()
    t.is(await s.load(def), errno, def.name)
    t.deepEqual(klpLines(s, mark), lines, def.name)
    t.false(s.exists(`${KLP}/${def.name}`))
    t.false(s.exists(`/sys/module/${def.name}`))
  }
  // a target still in its init is COMING: EINVAL without a message
  const slow = s.load(slowTarget('slow_target', 1000))
  await s.advance(10)
  const mark = s.mark()
  t.is(await s.load(patchModule('early', [{ name: 'slow_target', funcs: [{ oldName: 'slow_target_fn' }] }])), -EINVAL)
  t.deepEqual(klpLines(s, mark), [])
  t.is(await slow, 0)
  t.is(await s.load(patchModule('late', [{ name: 'slow_target', funcs: [{ oldName: 'slow_target_fn' }] }])), 0)
  t.is(await s.read('/sys/module/slow_target/refcnt'), '1')
})

test('registration argument checks print the kernel\'s messages', async t => {
  const s = bootWo()
  const lp = (init: Parameters<typeof defineModule>[0]['init'], name: string, livepatch = true) => defineModule({ name, livepatch, init, exit: () => {} })
  const cases: Array<[ReturnType<typeof lp>, number, string]> = [
    [lp((ctx) => ctx.klp.patch(null as never), 'nopatch'), -EINVAL, 'livepatch: patch invalid'],
    [lp((ctx) => ctx.klp.patch({ objs: null }), 'noobjs'), -EINVAL, 'livepatch: patch->objs invalid'],
    [lp((ctx) => ctx.klp.patch({ objs: [{ name: 'x', funcs: null }] }), 'nofuncs'), -EINVAL, 'livepatch: obj->funcs invalid'],
    [lp((ctx) => ctx.klp.patch({ objs: [{ funcs: [] }] }), 'notlp', false), -EINVAL, 'livepatch: module notlp is not marked as a livepatch module'],
    [lp((ctx) => ctx.klp.patch({ objs: [{ funcs: [{ oldName: '', newFunc: 'x', oldSympos: 1 }] }] }), 'noname'), -EINVAL, 'livepatch: old name is invalid'],
    [lp((ctx) => ctx.klp.patch({ objs: [{ funcs: [{ oldName: 'cmdline_proc_show', newFunc: null }] }] }), 'nonew'), -EINVAL, 'livepatch: new_func is invalid'],
    [lp((ctx) => ctx.klp.patch({ objs: [{ funcs: [{ oldName: 'f'.repeat(512), newFunc: 'x' }] }] }), 'longname'), -EINVAL, 'livepatch: function old name is too long'],
    [lp((ctx) => ctx.klp.patch({ objs: [{ name: 'm'.repeat(56), funcs: [] }] }), 'longobj'), -EINVAL, 'livepatch: obj name is too long'],
    [lp((ctx) => ctx.klp.patch({ objs: [{ funcs: [{ oldName: 'cmdline_proc_show', newFunc: 'not_a_function' }] }] }), 'nosize'), -ENOENT, "livepatch: kallsyms size lookup failed for 'cmdline_proc_show' replacement"],
  ]
  for (const [def, errno, line] of cases) {
    const mark = s.mark()
    t.is(await s.load(def), errno, def.name)
    t.true(klpLines(s, mark).includes(line), `${def.name}: ${klpLines(s, mark).join(' | ')}`)
  }
  const twice = defineModule({
    name: 'twice',
    livepatch: true,
    functions: { twice_new: () => 0 },
    init: async (ctx) => {
      const desc = { objs: [{ funcs: [{ oldName: 'cmdline_proc_show', newFunc: 'twice_new' }] }] }
      t.is(await ctx.klp.patch(desc), 0)
      return ctx.klp.patch(desc)
    },
    exit: () => {},
  })
  t.is(await s.load(twice), -EINVAL, 'a module registers one patch')
  t.false(s.exists(`${KLP}/twice`), 'the failed module took its patch with it')
})

test('target modules: held while registered, released at unregistration', async t => {
  const s = bootWo()
  t.is(await s.load(s.sim.builtinImage('test_klp_mod_target')!.def), 0)
  t.is(await s.load(s.sim.builtinImage('test_klp_mod_patch')!.def), 0)
  t.is(await s.read('/sys/module/test_klp_mod_target/refcnt'), '1')
  t.is(await s.unload('test_klp_mod_target'), -EWOULDBLOCK, 'disabled but registered still holds it')
  t.is(await s.write(`${KLP}/test_klp_mod_patch/enabled`, '1'), 1)
  t.is(await s.read('/proc/test_klp_mod_target'), 'test_klp_mod_patch: this has been live patched')
  t.is(await s.unload('test_klp_mod_target'), -EWOULDBLOCK)
  t.is(await s.write(`${KLP}/test_klp_mod_patch/enabled`, '0'), 1)
  t.is(await s.unload('test_klp_mod_patch'), 0)
  t.is(await s.read('/sys/module/test_klp_mod_target/refcnt'), '0')
  t.is(await s.unload('test_klp_mod_target'), 0)
})

test('rmmod of the patch module: refcount while enabled, "module %s is in use!" while a task runs its code', async t => {
  const s = bootWo()
  const k = s.sim.kernel
  t.is(await s.load(cmdlinePatch('plain')), 0)
  t.is(await s.write(`${KLP}/plain/enabled`, '1'), 1)
  t.is(await s.unload('plain'), -EWOULDBLOCK, 'the enabled patch holds its module')
  t.is(await s.write(`${KLP}/plain/enabled`, '0'), 1)
  t.is(await s.unload('plain'), 0)
  t.is(await s.load(patchWithThread('thready')), 0)
  const mod = k.modules.find('thready')!
  const thread = mod.data.task!
  const mark = s.mark()
  t.is(await s.unload('thready'), -EBUSY)
  const lines = klpLines(s, mark)
  t.is(lines[0], 'livepatch: module thready is in use!')
  t.is(lines[1], 'livepatch: Call Trace:')
  t.is(lines.at(-2), `livepatch: thready_thread:${thread.pid} check stack failed, ret=-16`)
  t.is(lines.at(-1), 'livepatch: failed to check klp module calltrace: -16')
  t.true(s.exists(`${KLP}/thready`))
  k.kallsyms.lookupName('complete')!.impl!(thread.ctx, mod.data.release)
  await s.advance(10)
  t.is(await s.unload('thready'), 0)
  t.false(s.exists(`${KLP}/thready`))
})

test('load hooks run at registration, unload hooks at unregistration; a throwing hook is contained', async t => {
  const s = bootWo()
  const seen: string[] = []
  const def = cmdlinePatch('hooked', {
    hooksLoad: [(ctx) => { seen.push(`load1:${ctx.module!.name}`) }, () => { throw new Error('hook bug') }, () => { seen.push('load3') }],
    hooksUnload: [() => { seen.push('unload1') }],
  })
  const mark = s.mark()
  t.is(await s.load(def), 0)
  t.deepEqual(seen, ['load1:hooked', 'load3'])
  t.true(s.log(mark).some(l => l.startsWith('Oops: exception in simulated code: hook bug')))
  t.is(await s.write(`${KLP}/hooked/enabled`, '1'), 1)
  t.is(await s.write(`${KLP}/hooked/enabled`, '0'), 1)
  t.is(await s.unload('hooked'), 0)
  t.deepEqual(seen, ['load1:hooked', 'load3', 'unload1'])
})

test('klp_mutex: during the retries readers of state, other writers and registrations wait', async t => {
  const s = bootWo()
  const k = s.sim.kernel
  t.is(await s.load(cmdlinePatch('opt', { force: KLP_STACK_OPTIMIZE })), 0)
  const reader = parkedTask(k, 'reader', preemptedIn('cmdline_proc_show', 1))
  const write = startWrite(s, `${KLP}/opt/enabled`, '1')
  await settle()
  const state = s.sim.fs.readFile('/proc/livepatch/state')
  const disable = startWrite(s, `${KLP}/opt/enabled`, '0')
  const load = s.sim.insmod(imageOf(cmdlinePatch('later'), k.vermagic))
  await s.advance(150)
  t.false(await settled(state))
  t.false(await settled(disable))
  t.false(await settled(load))
  t.false(s.exists(`${KLP}/later`), 'registration waits for klp_mutex')
  reader.wake()
  await s.advance(100)
  t.is(await write, 1)
  t.regex(await state, /1    \topt                       \tenabled /, 'state shows the outcome of the enable')
  t.is(await disable, 1, 'the queued disable runs after the enable')
  t.is(await load, 0)
  t.is(await s.read(`${KLP}/opt/enabled`), '0')
})

test('enable errors roll back and leave the patch registered and disabled', async t => {
  const s = bootWo()
  const sm = s.sim.livepatch.stopMachine!
  t.is(await s.load(patchModule('two', [{ funcs: [{ oldName: 'cmdline_proc_show' }, { oldName: 'version_proc_show' }] }])), 0)
  sm.faults.patchFuncFails = (f) => (f.oldName === 'version_proc_show' ? -EINVAL : undefined)
  let mark = s.mark()
  t.is(await s.write(`${KLP}/two/enabled`, '1'), -EINVAL)
  t.deepEqual(klpLines(s, mark), [
    'livepatch: tainting kernel with TAINT_LIVEPATCH',
    "livepatch: enabling patch 'two'",
    "livepatch: failed to patch object 'vmlinux'",
    "livepatch: disabling patch 'two'",
  ])
  t.is(await s.read('/proc/cmdline'), ORIGINAL_CMDLINE, 'the function patched first was rolled back')
  t.is(await s.read(`${KLP}/two/enabled`), '0')
  t.is(await s.read('/sys/module/two/refcnt'), '0')
  t.is(sm.funcList.size, 0)

  sm.faults.patchFuncFails = undefined
  sm.faults.funcNodeAllocFails = () => true
  mark = s.mark()
  t.is(await s.write(`${KLP}/two/enabled`, '1'), -ENOMEM)
  t.deepEqual(klpLines(s, mark), ['livepatch: alloc func_node failed'])
  sm.faults.funcNodeAllocFails = undefined
  t.is(await s.write(`${KLP}/two/enabled`, '1'), 1)
})

test('enable while the patch module is going fails with ENODEV; exit then unregisters', async t => {
  const s = bootWo()
  const def = cmdlinePatch('going', { exit: async (ctx) => { await ctx.msleep(500) } })
  t.is(await s.load(def), 0)
  const rmmod = s.sim.rmmod('going')
  await s.advance(100)
  t.true(s.exists(`${KLP}/going`), 'still registered while its exit runs')
  t.is(await s.write(`${KLP}/going/enabled`, '1'), -ENODEV)
  await s.advance(500)
  t.is(await rmmod, 0)
  t.false(s.exists(`${KLP}/going`))
})

test('a module whose init fails after registering leaves no patch behind', async t => {
  const s = bootWo()
  const def = cmdlinePatch('broken', { afterPatch: () => -ENODEV })
  t.is(await s.load(def), -ENODEV)
  t.false(s.exists(`${KLP}/broken`))
  t.is(await s.read('/proc/livepatch/state'), formatPatchStates(s.sim.kernel, []).trimEnd())
})

test('callbacks are not used and klp_module_coming is a no-op', async t => {
  const s = bootWo()
  t.is(await s.load(s.sim.builtinImage('test_klp_callbacks_mod')!.def), 0)
  t.is(await s.load(s.sim.builtinImage('test_klp_callbacks_busy')!.def), 0)
  const mark = s.mark()
  t.is(await s.load(s.sim.builtinImage('test_klp_callbacks_demo')!.def), 0)
  t.is(await s.write(`${KLP}/test_klp_callbacks_demo/enabled`, '1'), 1)
  t.is(await s.write(`${KLP}/test_klp_callbacks_demo/enabled`, '0'), 1)
  t.false(s.log(mark).some(l => /(pre|post)_(un)?patch_callback/.test(l)), s.log(mark).join('\n'))
  t.deepEqual(s.sim.kernel.modules.hooks.coming, [], 'no module-coming hook is installed')
})

test('klp_enable_patch does not exist without ftrace: a module calling it fails to load', async t => {
  const s = bootWo()
  const def = defineModule({
    name: 'ftrace_only',
    livepatch: true,
    functions: { ftrace_only_new: () => 0 },
    init: (ctx) => ctx.klp.enablePatch({ objs: [{ funcs: [{ oldName: 'cmdline_proc_show', newFunc: 'ftrace_only_new' }] }] }),
    exit: () => {},
  })
  const mark = s.mark()
  t.is(await s.load(def), -ENOENT)
  t.true(s.log(mark).includes('ftrace_only: Unknown symbol klp_enable_patch (err -2)'))
  t.is(s.sim.livepatch.core.patches.length, 0)
  t.is(await s.read('/proc/cmdline'), ORIGINAL_CMDLINE)
})
