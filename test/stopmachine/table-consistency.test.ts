// stop-machine-mode.md §7, consistency rows: stack-check failures, retries,
// writes while an operation is in progress, ordering between patches, which
// function wins, and the enable errors that roll back.
import { EINVAL } from '../../lib/kobject/errno'
import { KLP_STACK_OPTIMIZE } from '../../lib/livepatch/types'
import { VirtualClock } from '../../lib/kernel/clock'
import { background, echoEnabled, gone, KLP, row, transitionDone, VIRTUAL_TIME, writeError } from './helpers/machine'
import { busyPatch, cmdlinePatch, parkedTask, patchedCmdline, patchModule, preemptedIn } from './helpers/modules'

const ORIGINAL_VERSION_PREFIX = 'Linux version 7.1.0-klpsim'
const UNBLOCK = 'echo 0 > "$R/sys/module/test_klp_callbacks_busy/parameters/block_transition"'

row('stack-check failure: the task stays unpatched vs EAGAIN to the writer', {
  ftrace: async (t, m) => {
    await m.sh('echo "func klp_try_switch_task +p" > "$R/sys/kernel/debug/dynamic_debug/control"')
    t.is(await m.insmod('test_klp_callbacks_busy', 'block_transition=Y'), 0)
    const mark = m.mark()
    t.is(await m.insmod(busyPatch('busy_patch')), 0, 'not an error for the loader')
    await m.waitLog(/klp_try_switch_task: kworker\/\S+ is sleeping on function busymod_work_func$/, mark)
    t.is(await m.cat(`${KLP}/busy_patch/transition`), '1\n')
    t.false(m.log(mark).some(l => /is in use/.test(l)))
    await m.sh(UNBLOCK)
    await transitionDone(m)
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod('test_klp_callbacks_busy', 'block_transition=Y'), 0)
    t.is(await m.insmod(busyPatch('busy_patch')), 0)
    const mark = m.mark()
    const r = await echoEnabled(m, 'busy_patch', 1)
    t.is(r.code, 1)
    t.regex(r.stderr, writeError('Resource temporarily unavailable'))
    const lines = m.log(mark)
    t.is(lines[0], 'livepatch: func busymod_work_func is in use!')
    t.is(lines[1], 'livepatch: Call Trace:')
    t.true(lines.some(l => /^livepatch: kworker\/\S+ check stack failed, ret=-11$/.test(l)))
    t.is(await m.cat(`${KLP}/busy_patch/enabled`), '0\n', 'nothing changed')
    t.is(await m.cat('sys/module/busy_patch/refcnt'), '0\n')
    // the worker leaves busymod_work_func: the caller's retry succeeds
    const retry = await m.sh(`${UNBLOCK}; for i in $(seq 50); do echo 1 > "$R/${KLP}/busy_patch/enabled" 2>/dev/null && { echo enabled after $i; break; }; sleep 0.02; done`)
    t.regex(retry.stdout, /^enabled after \d+\n$/)
    t.is(await m.cat(`${KLP}/busy_patch/enabled`), '1\n')
  },
})

row('retries: the transition retries by itself vs breakpoints and five retries for KLP_STACK_OPTIMIZE', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('test_klp_callbacks_busy', 'block_transition=Y'), 0)
    const mark = m.mark()
    t.is(await m.insmod(busyPatch('busy_patch')), 0)
    await m.waitLog(/^livepatch: signaling remaining tasks$/, mark, 20000)
    t.is(await m.cat(`${KLP}/busy_patch/transition`), '1\n', 'still retrying, no write needed')
    await m.sh(UNBLOCK)
    await m.waitLog(/^livepatch: 'busy_patch': patching complete$/, mark)
    t.is(await m.cat(`${KLP}/busy_patch/transition`), '0\n')
  },
  stopMachine: async (t, m) => {
    // the kernel's 100 ms between tries passes only when the test says so
    const clock = m.sim.kernel.clock as VirtualClock
    t.is(await m.insmod(cmdlinePatch('optimized', { force: KLP_STACK_OPTIMIZE })), 0)
    const reader = parkedTask(m.sim.kernel, 'reader', preemptedIn('cmdline_proc_show', 2))
    const mark = m.mark()
    const writer = background(t, m, `echo 1 > "$R/${KLP}/optimized/enabled"; echo "rc=$?"`)
    await m.waitLog(/^livepatch: try again in 100 ms$/, mark)
    t.is(await m.cat('proc/cmdline'), patchedCmdline('optimized'), 'the breakpoint sends new callers to the new function')
    await clock.advance(100)
    await m.until(() => m.log(mark).filter(l => l === 'livepatch: try again in 100 ms').length === 2, 'the second try fails too')
    t.is(writer.stdout(), '', 'the writer still waits')
    reader.wake()
    await clock.advance(100)
    const r = await writer.done
    t.is(r.stdout, 'rc=0\n', r.stderr)
    t.is(m.log(mark).at(-1), 'livepatch: patching success, tried 3 times, ret=0.')
    t.is(await m.cat(`${KLP}/optimized/enabled`), '1\n')
  },
}, { stopMachine: VIRTUAL_TIME })

row('writing during an operation in progress: reverses the transition vs waits for klp_mutex (no transition)', {
  ftrace: async (t, m) => {
    await m.sh('echo "file kernel/livepatch/* +p" > "$R/sys/kernel/debug/dynamic_debug/control"')
    t.is(await m.insmod('test_klp_callbacks_busy', 'block_transition=Y'), 0)
    t.is(await m.insmod(busyPatch('busy_patch')), 0)
    t.is(await m.cat(`${KLP}/busy_patch/transition`), '1\n')
    const mark = m.mark()
    t.is((await echoEnabled(m, 'busy_patch', 0)).code, 0)
    t.true(m.log(mark).includes("livepatch: 'busy_patch': reversing transition from patching to unpatching"), m.log(mark).join('\n'))
    await m.waitLog(/^livepatch: 'busy_patch': unpatching complete$/, mark)
    await gone(m, `${KLP}/busy_patch`)
    await m.sh(UNBLOCK)
  },
  stopMachine: async (t, m) => {
    const clock = m.sim.kernel.clock as VirtualClock
    t.is(await m.insmod(cmdlinePatch('optimized', { force: KLP_STACK_OPTIMIZE })), 0)
    t.is(await m.insmod(patchModule('next', [{ funcs: [{ oldName: 'version_proc_show' }] }])), 0)
    const reader = parkedTask(m.sim.kernel, 'reader', preemptedIn('cmdline_proc_show', 1))
    const mark = m.mark()
    const enabling = background(t, m, `echo 1 > "$R/${KLP}/optimized/enabled"; echo "enable rc=$?"`)
    await m.waitLog(/^livepatch: try again in 100 ms$/, mark)
    t.is((await m.sh(`test -e "$R/${KLP}/optimized/transition"; echo $?`)).stdout, '1\n', 'there is no transition to reverse')
    const next = background(t, m, `echo 1 > "$R/${KLP}/next/enabled"; echo "next rc=$?"`)
    const state = background(t, m, 'cat "$R/proc/livepatch/state"')
    await m.until(() => m.sim.livepatch.stopMachine!.mutex.waiting === 2, 'the other writer and the state reader wait for klp_mutex')
    t.is(next.stdout() + state.stdout(), '')
    reader.wake()
    await clock.advance(100)
    t.is((await enabling.done).stdout, 'enable rc=0\n')
    t.is((await next.done).stdout, 'next rc=0\n', 'it ran after the enable, whose patch it stacks on')
    t.regex((await state.done).stdout, /1    \toptimized {17}\tenabled /)
    t.deepEqual(m.log(mark).filter(l => /(enabling|disabling) patch/.test(l)), ["livepatch: enabling patch 'optimized'", "livepatch: enabling patch 'next'"])
  },
}, { stopMachine: VIRTUAL_TIME })

row('ordering between patches: none and atomic replace vs the stacking rule', {
  ftrace: async (t, m) => {
    t.is(await m.insmod(cmdlinePatch('first')), 0)
    t.is(await m.insmod(patchModule('second', [{ funcs: [{ oldName: 'version_proc_show' }] }])), 0)
    await transitionDone(m)
    t.is((await echoEnabled(m, 'first', 0)).code, 0, 'the older patch can go first')
    await gone(m, `${KLP}/first`)
    t.is(await m.insmod(cmdlinePatch('third', { replace: true })), 0)
    await gone(m, `${KLP}/second`)
    t.true((await m.cat('proc/version')).startsWith(ORIGINAL_VERSION_PREFIX), 'the replaced patch\'s function reverted')
    t.is(await m.cat('proc/cmdline'), patchedCmdline('third'))
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod(cmdlinePatch('first')), 0)
    t.is(await m.insmod(patchModule('second', [{ funcs: [{ oldName: 'version_proc_show' }] }])), 0)
    let mark = m.mark()
    const early = await echoEnabled(m, 'second', 1)
    t.regex(early.stderr, writeError('Device or resource busy'))
    t.deepEqual(m.log(mark), ['livepatch: only the first disabled patch can be enabled'])
    t.is((await m.sh(`echo 1 > "$R/${KLP}/first/enabled" && echo 1 > "$R/${KLP}/second/enabled"`)).code, 0)
    mark = m.mark()
    const out = await echoEnabled(m, 'first', 0)
    t.regex(out.stderr, writeError('Device or resource busy'))
    t.deepEqual(m.log(mark), ['livepatch: only the last enabled patch can be disabled'])
    mark = m.mark()
    t.is(await m.insmod(cmdlinePatch('third', { replace: true })), -EINVAL)
    t.true(m.log(mark).includes('livepatch: Replacing is not supported'))
  },
})

row('per-function override: the newest patch on the function wins', {
  ftrace: async (t, m) => {
    t.is(await m.insmod(cmdlinePatch('older')), 0)
    await transitionDone(m)
    t.is(await m.insmod(cmdlinePatch('newer')), 0)
    await transitionDone(m)
    t.is(await m.cat('proc/cmdline'), patchedCmdline('newer'))
    t.is((await echoEnabled(m, 'newer', 0)).code, 0)
    await gone(m, `${KLP}/newer`)
    t.is(await m.cat('proc/cmdline'), patchedCmdline('older'))
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod(cmdlinePatch('older')), 0)
    t.is(await m.insmod(cmdlinePatch('newer')), 0)
    const r = await m.sh(`K="$R/${KLP}"; echo 1 > "$K/older/enabled"; echo 1 > "$K/newer/enabled"; cat "$R/proc/cmdline"; echo 0 > "$K/newer/enabled"; cat "$R/proc/cmdline"`)
    t.is(r.stdout, patchedCmdline('newer') + patchedCmdline('older'))
  },
})

row('enable errors that roll back', {
  ftrace: async (t, m) => {
    const mark = m.mark()
    t.is(await m.insmod('test_klp_callbacks_demo', 'pre_patch_ret=-19'), -19)
    const lines = m.log(mark)
    t.true(lines.includes("livepatch: pre-patch callback failed for object 'vmlinux'"))
    t.true(lines.includes("livepatch: failed to enable patch 'test_klp_callbacks_demo'"))
    t.false(m.sim.fs.existsSync(`/${KLP}/test_klp_callbacks_demo`))
  },
  stopMachine: async (t, m) => {
    const sm = m.sim.livepatch.stopMachine!
    t.is(await m.insmod(patchModule('two_funcs', [{ funcs: [{ oldName: 'cmdline_proc_show' }, { oldName: 'version_proc_show' }] }])), 0)
    sm.faults.patchFuncFails = (f) => (f.oldName === 'version_proc_show' ? -EINVAL : undefined)
    const mark = m.mark()
    const r = await m.sh(`echo 1 > "$R/${KLP}/two_funcs/enabled"; cat "$R/${KLP}/two_funcs/enabled"; grep -c disabled "$R/proc/livepatch/state"; cat "$R/proc/cmdline"`)
    t.regex(r.stderr, writeError('Invalid argument'))
    t.true(m.log(mark).includes("livepatch: failed to patch object 'vmlinux'"))
    t.regex(r.stdout, /^0\n1\nBOOT_IMAGE=/, 'disabled, still registered, the first function rolled back')
    sm.faults.patchFuncFails = undefined
    sm.faults.funcNodeAllocFails = () => true
    const nomem = await echoEnabled(m, 'two_funcs', 1)
    t.regex(nomem.stderr, writeError('Cannot allocate memory'))
    sm.faults.funcNodeAllocFails = undefined
    t.is((await echoEnabled(m, 'two_funcs', 1)).code, 0)
  },
})
