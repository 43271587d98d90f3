// The replay on the engine, from recordings written as a real host would give
// them: symbols, resident modules, synthetic patches, tasks held where the
// recording saw them, the transition reproduced, and the timeline.
import test from 'ava'
import { Simulator } from '../../lib/simulator'
import { VirtualClock } from '../../lib/kernel/clock'
import { buildStatus } from '../../lib/status'
import { FixtureError, parseStackFrame, validateFixture, RecordFixture } from '../../lib/record/format'
import { inferProfile, replay, replayBootOptions, ReplayError } from '../../lib/record/replay'
import { fixture, KWORKER_IDLE, KWORKER_STACK, module, snapshot, stuckKpatchHost, task } from './helpers/fixtures'

async function boot (fx: RecordFixture, profile?: string) {
  const clock = new VirtualClock()
  const sim = new Simulator({ clock, ...replayBootOptions(fx, profile) })
  const summary = await replay(sim, fx)
  const read = async (p: string): Promise<string> => (await sim.fs.readFile(p)).replace(/\n$/, '')
  return { sim, clock, summary, read }
}

test('stack lines parse with and without their prefix and module', t => {
  t.deepEqual(parseStackFrame('[<0>] xfs_buf_ioend+0x151/0x2d0 [xfs]'), { name: 'xfs_buf_ioend', off: 0x151, size: 0x2d0, module: 'xfs' })
  t.deepEqual(parseStackFrame('[<ffffffff810a3b5e>] schedule+0x5a/0xc0'), { name: 'schedule', off: 0x5a, size: 0xc0, module: null })
  t.deepEqual(parseStackFrame('do_syscall_64+0x5c/0x90'), { name: 'do_syscall_64', off: 0x5c, size: 0x90, module: null })
  t.is(parseStackFrame('0xffffffffc0a51234'), null)
  t.is(parseStackFrame(''), null)
})

test('a stuck 5.14 kpatch host: release, profile, symbols, modules and tasks as recorded', async t => {
  const fx = stuckKpatchHost()
  t.is(inferProfile(fx), '5.10', 'no patched, replace or stack_order files: the 5.10 ABI')
  const { sim, summary, read } = await boot(fx)
  const k = sim.kernel
  t.is(k.release, '5.14.0-427.el9.x86_64')
  t.is(sim.kernel.sched.ncpus, 2)
  t.is(summary.profile, '5.10')
  t.deepEqual(summary.patches, ['kpatch_fix'])
  t.deepEqual(summary.residentModules, ['xfs'])
  t.deepEqual(summary.transition, { patch: 'kpatch_fix', target: 'patching', pending: 3 })
  // sympos 2 of tcp_v4_rcv exists because the recording listed two
  t.deepEqual(k.kallsyms.matches(null, 'tcp_v4_rcv').map(s => s.size), [0x40, 0xe10])
  t.is(await read('/sys/kernel/livepatch/kpatch_fix/enabled'), '1')
  t.is(await read('/sys/kernel/livepatch/kpatch_fix/transition'), '1')
  t.deepEqual(sim.fs.readdirSync('/sys/kernel/livepatch/kpatch_fix').sort(), ['enabled', 'force', 'transition', 'vmlinux', 'xfs'])
  t.deepEqual(sim.fs.readdirSync('/sys/kernel/livepatch/kpatch_fix/vmlinux').sort(), ['cmdline_proc_show,1', 'tcp_v4_rcv,2'])
  // the kpatch convention: replacements named like the functions they replace
  t.truthy(k.modules.find('kpatch_fix')!.functions.get('xfs_buf_ioend'))
  t.is(await read('/sys/module/xfs/taint'), '')
  t.is(await read('/sys/module/xfs/refcnt'), '2')
  t.is(await read('/sys/module/kpatch_fix/taint'), 'OEK')
  t.is(await read('/sys/module/kpatch_fix/coresize'), '49152')
  t.is(await read('/proc/sys/kernel/tainted'), '36864')
  // the recorded pids, comms and stacks; raw addresses are left out
  t.is(await read('/proc/812/comm'), 'kworker/1:2')
  t.is(await sim.fs.readFile('/proc/812/stack'), KWORKER_STACK.map(l => `[<0>] ${l}\n`).join(''))
  t.is(await read('/proc/812/patch_state'), '0')
  t.is(await read('/proc/1400/patch_state'), '1')
  t.is(await read('/proc/2210/patch_state'), '0')
  t.deepEqual(sim.fs.readdirSync('/proc/2210/task'), ['2210', '2211'])
  t.is(await sim.fs.readFile('/proc/3000/stack'), '[<0>] schedule+0x5a/0xc0\n')
  t.true(summary.notes.some(n => /1 stack frame\(s\) without a symbol/.test(n)))
  const st = buildStatus(sim)
  const pending = Object.fromEntries(st.transition!.pending.map(p => [p.pid, p]))
  t.is(pending[812].reason, 'sleeping')
  t.is(pending[812].frame, 'xfs_buf_ioend+0x151/0x2d0 [xfs]')
  t.is(pending[812].patchedBy, 'kpatch_fix')
  t.is(pending[2210].reason, 'running', 'pending without a blocking frame: held on a CPU')
  t.deepEqual(Object.keys(pending).map(Number).sort((a, b) => a - b), [812, 2210, 2211])
})

test('the replayed transition goes on through the engine: fake signals move the user tasks, the kworker holds', async t => {
  const { sim, clock, read } = await boot(stuckKpatchHost())
  await clock.advance(16_000)
  t.is(await read('/proc/2210/patch_state'), '1', 'a running user task takes the fake signal at once')
  t.is(await read('/proc/812/patch_state'), '0', 'a kernel thread in D state ignores it')
  t.is(await read('/sys/kernel/livepatch/kpatch_fix/transition'), '1')
  t.true(sim.kernel.printk.all().some(r => r.text === 'livepatch: signaling remaining tasks'))
  // freeing the kworker by hand: woken, a replayed kernel thread leaves its function and exits
  sim.kernel.scripted.wake('812')
  await clock.advance(1000)
  t.is(await read('/sys/kernel/livepatch/kpatch_fix/transition'), '0')
  t.true(sim.kernel.printk.all().some(r => r.text === "livepatch: 'kpatch_fix': patching complete"))
})

test('the timeline moves the kworker out of the patched function at the recorded time; the next attempt switches it', async t => {
  const fx = stuckKpatchHost()
  const first = fx.snapshots[0]
  const p = first.patches[0]
  fx.snapshots.push(snapshot(2500, 1_002_500, [p], first.modules, [task(812, 'kworker/1:2', 1, KWORKER_IDLE, { kthread: true, ppid: 2, state: 'I' }), task(2210, 'bash', 1, []), task(2211, 'bash', 1, [], { pid: 2210, ppid: 1400 })], [3000]))
  fx.snapshots.push(snapshot(3500, 1_003_500, [{ ...p, attributes: { ...p.attributes, transition: '0' } }], first.modules, [], []))
  const { sim, clock, summary, read } = await boot(fx)
  t.is(summary.timeline, 2)
  t.is(summary.timelineMs, 3500)
  await clock.advance(2400)
  t.is(await read('/proc/812/patch_state'), '0')
  t.true(sim.fs.existsSync('/proc/3000'))
  await clock.advance(200)
  t.false(sim.fs.existsSync('/proc/3000'), 'exited as recorded')
  t.is(await sim.fs.readFile('/proc/812/stack'), KWORKER_IDLE.map(l => `[<0>] ${l}\n`).join(''))
  t.is(await read('/sys/kernel/livepatch/kpatch_fix/transition'), '1', 'switched only at the next attempt')
  await clock.advance(1000)
  t.is(await read('/sys/kernel/livepatch/kpatch_fix/transition'), '0')
  t.is(await read('/proc/812/patch_state'), '-1')
  t.is(await read('/proc/812/comm'), 'kworker/1:2', 'the kworker stays, as on the host')
})

/** A replace in transition: the older patch's function is a nop unless the new module has a function for it. */
function replaceInProgress (newModuleSymbols: string[]): RecordFixture {
  const p1 = { name: 'klp_one', attributes: { enabled: '1', transition: '0', replace: '0', stack_order: '1', force: null }, objects: [{ name: 'vmlinux', attributes: { patched: '1' }, functions: [{ name: 'cmdline_proc_show', sympos: 1 }] }] }
  const p2 = { name: 'klp_two', attributes: { enabled: '1', transition: '1', replace: '1', stack_order: '2', force: null }, objects: [{ name: 'vmlinux', attributes: { patched: '1' }, functions: [{ name: 'meminfo_proc_show', sympos: 1 }, { name: 'cmdline_proc_show', sympos: 1 }] }] }
  return fixture([snapshot(0, 5000, [p1, p2], [module('klp_one', 'livepatch', { refcnt: '1', taint: 'OK' }), module('klp_two', 'livepatch', { refcnt: '1', taint: 'OK' })], [
    task(100, 'reader', 0, ['__schedule+0x27f/0x6c0', 'schedule+0x35/0x90', 'livepatch_cmdline_proc_show+0x17/0x40 [klp_one]', 'seq_read_iter+0x1b6/0x4a0', 'vfs_read+0x11c/0x300']),
    task(101, 'done', 1, ['__schedule+0x27f/0x6c0', 'schedule+0x35/0x90', 'n_tty_read+0x20a/0x580']),
  ])], {
    release: '7.1.0-klpsim',
    symbols: [
      { object: 'klp_one', name: 'livepatch_cmdline_proc_show', type: 't', size: 0x40 },
      ...newModuleSymbols.map(name => ({ object: 'klp_two', name, type: 't', size: 0x40 })),
    ],
  })
}

test('a replace in progress: a function only the older patch patches is a nop; the reader in its replacement holds the transition', async t => {
  const { sim, read } = await boot(replaceInProgress(['livepatch_meminfo_proc_show']))
  t.is(sim.livepatch.abi.profile, '7.1')
  const st = buildStatus(sim)
  const cmd = st.functions.find(f => f.function === 'cmdline_proc_show')!
  t.deepEqual(cmd.live, { patch: 'klp_two', nop: true })
  t.deepEqual(cmd.stack, ['klp_two', 'klp_one'])
  t.is(st.transition!.pending.length, 1)
  t.is(st.transition!.pending[0].frame, 'livepatch_cmdline_proc_show+0x17/0x40 [klp_one]')
  t.is(await read('/sys/kernel/livepatch/klp_two/stack_order'), '2')
  t.is(await read('/proc/101/patch_state'), '1')
})

test('a replace in progress whose module has its own version of the function: not a nop', async t => {
  const { sim } = await boot(replaceInProgress(['livepatch_meminfo_proc_show', 'livepatch_cmdline_proc_show']))
  const cmd = buildStatus(sim).functions.find(f => f.function === 'cmdline_proc_show')!
  t.deepEqual(cmd.live, { patch: 'klp_two', nop: false })
})

test('an unpatching transition is reproduced in its direction; a 4.19 host keeps its signal file', async t => {
  const p = { name: 'klp_old', attributes: { enabled: '0', transition: '1', signal: null, force: null }, objects: [{ name: 'vmlinux', attributes: {}, functions: [{ name: 'cmdline_proc_show', sympos: 1 }] }] }
  const fx = fixture([snapshot(0, 100, [p], [module('klp_old', 'livepatch', { refcnt: '1', taint: 'OK' })], [
    task(10, 'cat', 1, ['__schedule+0x27f/0x6c0', 'schedule+0x35/0x90', 'livepatch_cmdline_proc_show+0x8/0x40 [klp_old]', 'seq_read_iter+0x1b6/0x4a0']),
  ])], { release: '4.19.90-2112.8.0.0131.oe1.x86_64', symbols: [{ object: 'klp_old', name: 'livepatch_cmdline_proc_show', type: 't', size: 0x40 }] })
  const { sim, summary, read } = await boot(fx)
  t.is(summary.profile, '4.19')
  t.deepEqual(summary.transition, { patch: 'klp_old', target: 'unpatching', pending: 1 })
  t.is(await read('/sys/kernel/livepatch/klp_old/enabled'), '0')
  t.is(await read('/sys/kernel/livepatch/klp_old/transition'), '1')
  t.true(sim.fs.existsSync('/sys/kernel/livepatch/klp_old/signal'))
  t.is(await read('/proc/10/patch_state'), '1', 'pending in an unpatching transition: still patched')
  t.is(buildStatus(sim).transition!.pending[0].function, 'cmdline_proc_show')
})

test('a livepatch module whose patch is gone is loaded without one, its refcount as recorded', async t => {
  const fx = fixture([snapshot(0, 100, [], [module('klp_leftover', 'livepatch', { refcnt: '1', taint: 'OEK' })], [task(5, 'init', -1, [])])], { release: '6.8.0-49-generic' })
  const { sim, read } = await boot(fx)
  t.is(sim.livepatch.abi.profile, '6.1', 'no patches: the release decides')
  t.deepEqual(sim.fs.readdirSync('/sys/kernel/livepatch'), [])
  t.is(await read('/sys/module/klp_leftover/refcnt'), '1')
  t.is(await sim.rmmod('klp_leftover'), -11, 'the reference of the PR #1147 race keeps it in')
})

test('an explicit profile wins over the inferred one; a bad one is refused', async t => {
  const fx = stuckKpatchHost()
  const { sim } = await boot(fx, '7.1')
  t.true(sim.fs.existsSync('/sys/kernel/livepatch/kpatch_fix/stack_order'))
  t.throws(() => replayBootOptions(fx, '9.9'), { instanceOf: FixtureError, message: /unknown kernel profile '9\.9'/ })
})

test('stop_machine mode is refused', async t => {
  const fx = stuckKpatchHost()
  const sim = new Simulator({ clock: new VirtualClock(), ...replayBootOptions(fx), mode: 'stop-machine' })
  await t.throwsAsync(replay(sim, fx), { instanceOf: ReplayError, message: /stop-machine is not supported/ })
})

test('fixtures are checked field by field', t => {
  const bad = (mutate: (fx: any) => void, msg: RegExp): void => {
    const fx: any = JSON.parse(JSON.stringify(stuckKpatchHost()))
    mutate(fx)
    t.throws(() => validateFixture(fx), { instanceOf: FixtureError, message: msg })
  }
  t.notThrows(() => validateFixture(JSON.parse(JSON.stringify(stuckKpatchHost()))))
  bad(fx => { fx.format = 'klpsim-status/1' }, /^format: is "klpsim-status\/1", not "klpsim-record\/1"/)
  bad(fx => { fx.snapshots = [] }, /^snapshots: must be a non-empty array/)
  bad(fx => { fx.snapshots[0].tasks[2].pid = 'x' }, /^snapshots\[0\]\.tasks\[2\]: needs a pid and a tid/)
  bad(fx => { fx.snapshots[0].tasks[0].patchState = 2 }, /patchState: must be -1, 0, 1 or null/)
  bad(fx => { fx.snapshots[0].patches[0].objects[0].functions[0].sympos = -1 }, /functions\[0\]: needs a name and a sympos/)
  bad(fx => { fx.snapshots[0].modules[0].role = 'other' }, /role: must be livepatch, target or stack/)
  bad(fx => { fx.kernel.release = 'a b' }, /^kernel\.release/)
})
