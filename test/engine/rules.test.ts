// One focused test per rule of kernel-semantics.md §12, errnos included.
import test from 'ava'
import { bootSim, TestSim } from '../helpers/engine'
import { defineModule, ModuleDefinition } from '../../lib/kernel/module'
import type { Ctx } from '../../lib/kernel/context'
import type { SeqFile } from '../../lib/kernel/seqfile'
import type { KlpCallbacks, KlpFuncDesc } from '../../lib/livepatch/types'
import { framesFromNames, park } from '../../lib/kernel/parked'
import { EACCES, EAGAIN, EBUSY, EEXIST, EFAULT, EINVAL, ENODEV, ENOENT, ENOMEM } from '../../lib/kobject/errno'
import { O_RDONLY, O_WRONLY, openNode } from '../../lib/kobject/kernfs'
import { walk } from '../../lib/kobject/node'
import type { Task } from '../../lib/kernel/task'
import testKlpLivepatch from '../../lib/modules/test_klp_livepatch'

const KLP = '/sys/kernel/livepatch'

/** A livepatch replacing the given functions with one that prints the patch's name. */
function patchDef (name: string, funcs: Array<Omit<KlpFuncDesc, 'newFunc'>>, opts: { replace?: boolean, callbacks?: KlpCallbacks, object?: string | null, livepatch?: boolean } = {}): ModuleDefinition {
  const impl = (ctx: Ctx, m: SeqFile) => { ctx.call('seq_printf', m, '%s\n', `${name} version`); return 0 }
  return defineModule({
    name,
    livepatch: opts.livepatch ?? true,
    functions: { [`${name}_func`]: impl },
    init: (ctx) => ctx.klp.patch({
      replace: opts.replace,
      objs: [{ name: opts.object ?? null, funcs: funcs.map(f => ({ ...f, newFunc: impl })), callbacks: opts.callbacks }],
    }),
    exit: () => {},
  })
}

/** A user task asleep with the given frames (innermost first). */
function sleeper (t: TestSim, comm: string, frames: string[], kthread = false): Task {
  const k = t.sim.kernel
  const task = k.sched.create({ comm, kthread, parent: k.caller })
  park(k, task, { frames: framesFromNames(k, frames), state: 'S' })
  return task
}

const USER_TAIL = ['vfs_read', 'ksys_read', '__x64_sys_read', 'do_syscall_64', 'entry_SYSCALL_64_after_hwframe']

// --- 1. tree shape -------------------------------------------------------------------

test('function directories are <name>,<sympos or 1> and hold no files', async t => {
  const s = bootSim()
  t.is(await s.load(patchDef('p1', [{ oldName: 'type_show', oldSympos: 3 }, { oldName: 'cmdline_proc_show' }])), 0)
  t.deepEqual(s.sim.fs.readdirSync(`${KLP}/p1/vmlinux`), ['cmdline_proc_show,1', 'patched', 'type_show,3'])
  t.deepEqual(s.sim.fs.readdirSync(`${KLP}/p1/vmlinux/type_show,3`), [])
  t.deepEqual(s.sim.fs.readdirSync(`${KLP}/p1`), ['enabled', 'force', 'replace', 'stack_order', 'transition', 'vmlinux'])
})

// --- 2. enabled writes -----------------------------------------------------------------

test('enabled accepts what kstrtobool accepts and returns the byte count', async t => {
  const s = bootSim()
  await s.load(testKlpLivepatch)
  const en = `${KLP}/test_klp_livepatch/enabled`
  for (const bad of ['2', '\n', 'x', 'o', 'ox']) t.is(await s.write(en, bad), -EINVAL, `'${bad}' is invalid`)
  for (const same of ['1', 'y', 'Yes', 'true', 'on', 'e']) t.is(await s.write(en, same), -EINVAL, `'${same}' is the current value`)
  t.is(await s.write(en, 'off\n'), 4)
  t.false(s.exists(en), 'disabled and freed')
})

test('writing 0 while another patch is in transition is EBUSY; writing to the transition patch reverses it', async t => {
  const s = bootSim()
  await s.load(patchDef('first', [{ oldName: 'version_proc_show' }]))
  sleeper(s, 'reader', ['__schedule', 'schedule', 'uptime_proc_show', 'seq_read_iter', ...USER_TAIL])
  await s.load(patchDef('second', [{ oldName: 'uptime_proc_show' }]))
  t.is(await s.read(`${KLP}/second/transition`), '1')
  t.is(await s.write(`${KLP}/first/enabled`, '0'), -EBUSY)
  t.is(await s.write(`${KLP}/second/enabled`, '1'), -EINVAL, 'already enabled, even mid-patching')
  const mark = s.mark()
  t.is(await s.write(`${KLP}/second/enabled`, '0'), 1)
  t.is(await s.read(`${KLP}/second/enabled`), '0')
  t.deepEqual(s.log(mark), ["livepatch: 'second': reversing transition from patching to unpatching", "livepatch: 'second': starting unpatching transition"])
  await s.advance(1500)
  t.false(s.exists(`${KLP}/second`), 'the reversal completed: the sleeper was never switched')
})

// --- 3. force ----------------------------------------------------------------------------

test('force: 0 is a no-op, 1 without a transition is EINVAL, 1 finishes a stalled transition', async t => {
  const s = bootSim()
  await s.load(patchDef('p', [{ oldName: 'uptime_proc_show' }]))
  t.is(await s.write(`${KLP}/p/force`, '0'), 1)
  t.is(await s.write(`${KLP}/p/force`, '1'), -EINVAL)
  t.is(await s.write(`${KLP}/p/force`, 'maybe'), -EINVAL)
  t.is(await s.write(`${KLP}/p/enabled`, '0'), 1)
  await s.advance(1100)
  await s.unload('p')

  const reader = sleeper(s, 'reader', ['__schedule', 'schedule', 'uptime_proc_show', 'seq_read_iter', ...USER_TAIL])
  reader.ignoresSignals = true
  await s.load(patchDef('q', [{ oldName: 'uptime_proc_show' }]))
  t.is(await s.read(`${KLP}/q/transition`), '1')
  t.is(await s.write(`${KLP}/q/enabled`, '0'), 1)
  const mark = s.mark()
  t.is(await s.write(`${KLP}/q/force`, '1'), 1)
  t.deepEqual(s.log(mark), ['livepatch: forcing remaining tasks to the patched state'])
  t.is(reader.patchState, 0, 'forced to the target (unpatched) state')
  await s.advance(1100)
  t.false(s.exists(`${KLP}/q`))
  t.is(await s.read('/sys/module/q/refcnt'), '1', 'a forced unpatching pins the module forever')
  t.is(await s.unload('q'), -EAGAIN)
})

test('forcing a non-replace patching transition leaves the module removable after a clean disable', async t => {
  const s = bootSim()
  const reader = sleeper(s, 'reader', ['__schedule', 'schedule', 'uptime_proc_show', 'seq_read_iter', ...USER_TAIL])
  reader.ignoresSignals = true
  await s.load(patchDef('p', [{ oldName: 'uptime_proc_show' }]))
  await s.write(`${KLP}/p/force`, '1')
  await s.advance(1100)
  t.is(await s.read(`${KLP}/p/transition`), '0')
  t.is(await s.write(`${KLP}/p/enabled`, '0'), 1)
  await s.advance(100)
  t.is(await s.read('/sys/module/p/refcnt'), '0')
  t.is(await s.unload('p'), 0)
})

test('forcing a replace patch pins the replaced patches', async t => {
  const s = bootSim()
  await s.load(patchDef('old', [{ oldName: 'uptime_proc_show' }]))
  const reader = sleeper(s, 'reader', ['__schedule', 'schedule', 'old_func', ...USER_TAIL])
  reader.ignoresSignals = true
  await s.load(patchDef('new', [{ oldName: 'version_proc_show' }], { replace: true }))
  t.is(await s.read(`${KLP}/new/transition`), '1', 'a task sleeps in the replaced version')
  await s.write(`${KLP}/new/force`, '1')
  await s.advance(1100)
  t.false(s.exists(`${KLP}/old`))
  t.is(await s.read('/sys/module/old/refcnt'), '1')
  t.is(await s.unload('old'), -EAGAIN)
})

// --- 4./6. consistency model and timing -----------------------------------------------

test('a task sleeping in the old function holds the transition; fake signals after 15 attempts switch it', async t => {
  const s = bootSim()
  const reader = sleeper(s, 'reader', ['__schedule', 'schedule', 'uptime_proc_show', 'seq_read_iter', ...USER_TAIL])
  const mark = s.mark()
  await s.load(patchDef('p', [{ oldName: 'uptime_proc_show' }]))
  t.is(reader.patchState, 0)
  t.true(reader.patchPending)
  t.is(await s.read(`/proc/${reader.pid}/patch_state`), '0')
  await s.advance(14_000)
  t.is(await s.read(`${KLP}/p/transition`), '1')
  t.false(s.log(mark).includes('livepatch: signaling remaining tasks'))
  await s.advance(1_000)
  t.true(s.log(mark).includes('livepatch: signaling remaining tasks'))
  t.is(reader.patchState, 1, 'the signal took the task through the return-to-user switch point')
  await s.advance(1_000)
  t.is(await s.read(`${KLP}/p/transition`), '0')
  t.is(await s.read(`/proc/${reader.pid}/patch_state`), '-1')
  t.is(s.log(mark).filter(l => l === 'livepatch: signaling remaining tasks').length, 1)
})

test('retries follow whole seconds and signals repeat every 15 attempts, announced once', async t => {
  const s = bootSim()
  const kt = sleeper(s, 'kstuck', ['__schedule', 'schedule', 'uptime_proc_show', 'kthread', 'ret_from_fork', 'ret_from_fork_asm'], true)
  kt.ignoresSignals = true
  const mark = s.mark()
  await s.load(patchDef('p', [{ oldName: 'uptime_proc_show' }]))
  await s.advance(40_000)
  const tr = s.sim.livepatch.transition
  t.true(tr.attempts.length >= 40 && tr.attempts.length <= 42)
  for (const a of tr.attempts.slice(1)) t.is(a.atUs % 1_000_000, 0, 'the delayed work runs on whole seconds')
  t.is(s.log(mark).filter(l => l === 'livepatch: signaling remaining tasks').length, 1)
  t.is(await s.read(`${KLP}/p/transition`), '1')
})

test('idle tasks switch through the idle loop even when their stack is busy', async t => {
  const s = bootSim({ cpus: 2 })
  const idle = s.sim.kernel.sched.idleTasks[1]
  s.sim.kernel.sched.parkWithFrames(idle, framesFromNames(s.sim.kernel, ['uptime_proc_show', 'do_idle', 'cpu_startup_entry', 'start_secondary']), 'R')
  await s.load(patchDef('p', [{ oldName: 'uptime_proc_show' }]))
  t.is(await s.read(`${KLP}/p/transition`), '1')
  await s.advance(1000)
  t.is(await s.read(`${KLP}/p/transition`), '0')
})

test('forked tasks inherit the parent\'s patch state; a task running in the kernel is not switched', async t => {
  const s = bootSim()
  const reader = sleeper(s, 'reader', ['__schedule', 'schedule', 'uptime_proc_show', 'seq_read_iter', ...USER_TAIL])
  reader.ignoresSignals = true
  const runner = sleeper(s, 'runner', ['version_proc_show', 'seq_read_iter', ...USER_TAIL])
  runner.onCpu = true
  await s.load(patchDef('p', [{ oldName: 'uptime_proc_show' }]))
  const child = s.sim.kernel.sched.create({ comm: 'child', kthread: false, parent: reader })
  t.is(child.patchState, reader.patchState)
  t.is(child.patchPending, true)
  t.true(runner.patchPending, 'running on a CPU: cannot be checked')
  runner.onCpu = false
  await s.advance(1000)
  t.false(runner.patchPending)
})

test('the scheduler hook switches a task going to sleep freezable', async t => {
  const s = bootSim()
  const k = s.sim.kernel
  const worker = sleeper(s, 'freezer', ['__schedule', 'schedule', 'version_proc_show', 'kthread', 'ret_from_fork', 'ret_from_fork_asm'], true)
  worker.ignoresSignals = true
  await s.load(patchDef('p', [{ oldName: 'version_proc_show' }]))
  t.true(worker.patchPending)
  // the worker has left the function and goes to sleep again
  worker.stack.splice(worker.stack.findIndex(f => f.sym.name === 'version_proc_show'), 1)
  k.sched.scheduleHook(worker)
  t.true(worker.patchPending, 'the hook applies only to freezable sleeps (6.16+)')
  worker.freezable = true
  k.sched.scheduleHook(worker)
  t.false(worker.patchPending)
  t.is(worker.patchState, 1)
})

// --- 5. dispatch rule ------------------------------------------------------------------

test('stacked patches: the newest wins; during its transition unpatched tasks run the older one; nops run the original', async t => {
  const s = bootSim()
  const k = s.sim.kernel
  await s.load(patchDef('a', [{ oldName: 'uptime_proc_show' }]))
  t.is(await s.read('/proc/uptime'), 'a version')
  const reader = sleeper(s, 'reader', ['__schedule', 'schedule', 'a_func', ...USER_TAIL])
  reader.ignoresSignals = true
  await s.load(patchDef('b', [{ oldName: 'uptime_proc_show' }]))
  t.is(await s.read(`${KLP}/b/transition`), '1')
  t.is(await s.read('/proc/uptime'), 'b version', 'a host process switched at once')
  const seq = { buf: '' }
  k.dispatch.call(reader.ctx, 'uptime_proc_show', [seq])
  t.is(seq.buf, 'a version\n', 'the unpatched task still runs the older patch')
  await s.write(`${KLP}/b/force`, '1')
  await s.advance(1000)
  await s.load(patchDef('c', [{ oldName: 'version_proc_show' }], { replace: true }))
  await s.advance(1000)
  t.regex(await s.read('/proc/uptime'), /^\d+\.\d\d \d+\.\d\d$/, 'the replace patch nopped uptime_proc_show: the original runs')
  t.is(await s.read('/proc/version'), 'c version')
})

test('disabling a middle patch changes nothing for the functions a newer patch covers', async t => {
  const s = bootSim()
  await s.load(patchDef('a', [{ oldName: 'uptime_proc_show' }]))
  await s.load(patchDef('b', [{ oldName: 'uptime_proc_show' }]))
  await s.load(patchDef('c', [{ oldName: 'uptime_proc_show' }]))
  await s.write(`${KLP}/b/enabled`, '0')
  t.is(await s.read('/proc/uptime'), 'c version')
  await s.advance(100)
  t.is(await s.read(`${KLP}/a/stack_order`), '1')
  t.is(await s.read(`${KLP}/c/stack_order`), '2')
  await s.write(`${KLP}/c/enabled`, '0')
  t.is(await s.read('/proc/uptime'), 'a version')
})

// --- 7. asynchronous teardown --------------------------------------------------------

test('after a disable the directory goes shortly after the write; an open fd then gets ENODEV', async t => {
  const s = bootSim()
  await s.load(testKlpLivepatch)
  const node = walk(s.sim.kernel.root, `${KLP}/test_klp_livepatch/enabled`)!
  const kept = openNode(node, O_WRONLY)
  if (typeof kept === 'number') return t.fail()
  const file = openNode(node, O_WRONLY)
  if (typeof file === 'number') return t.fail()
  t.is(await file.write(Buffer.from('0'), 0), 1)
  t.true(s.exists(`${KLP}/test_klp_livepatch`), 'still there right after the write')
  t.false(s.exists(`${KLP}/test_klp_livepatch/vmlinux`), 'object directories went under the mutex')
  t.is(await s.read(`${KLP}/test_klp_livepatch/enabled`), '0')
  await s.advance(10)
  t.false(s.exists(`${KLP}/test_klp_livepatch`))
  t.is(await kept.write(Buffer.from('1'), 0), -ENODEV)
  t.is(await kept.read(10, 0), -ENODEV)
})

// --- 8. atomic replace ---------------------------------------------------------------

test('replace: nops cover every function of every installed patch; replaced patches lose their refs silently', async t => {
  const s = bootSim()
  const calls: string[] = []
  const cb: KlpCallbacks = {
    prePatch: (_ctx, o) => { calls.push(`pre ${o.patch.name}`); return 0 },
    postPatch: (_ctx, o) => { calls.push(`post ${o.patch.name}`) },
    preUnpatch: (_ctx, o) => { calls.push(`pre_un ${o.patch.name}`) },
    postUnpatch: (_ctx, o) => { calls.push(`post_un ${o.patch.name}`) },
  }
  await s.load(patchDef('a', [{ oldName: 'uptime_proc_show' }, { oldName: 'type_show', oldSympos: 2 }], { callbacks: cb }))
  await s.load(patchDef('b', [{ oldName: 'meminfo_proc_show' }]))
  calls.length = 0
  const reader = sleeper(s, 'reader', ['__schedule', 'schedule', 'b_func', ...USER_TAIL])
  reader.ignoresSignals = true
  await s.load(patchDef('r', [{ oldName: 'version_proc_show' }], { replace: true }))
  t.deepEqual(s.sim.fs.readdirSync(`${KLP}/r/vmlinux`), ['meminfo_proc_show,1', 'patched', 'type_show,2', 'uptime_proc_show,1', 'version_proc_show,1'])
  t.is(await s.read(`${KLP}/a/enabled`), '1', 'replaced patches stay enabled during the transition')
  t.is(await s.read('/proc/meminfo'), s.sim.fs.readFileSync('/proc/meminfo').replace(/\n$/, ''))
  t.true((await s.read('/proc/meminfo')).startsWith('MemTotal:'), 'a switched task hits the nop: the original code runs')
  reader.wake('wakeup')
  await s.advance(1000)
  t.deepEqual(s.sim.fs.readdirSync(`${KLP}/r/vmlinux`), ['patched', 'version_proc_show,1'], 'nops discarded')
  t.deepEqual(s.sim.fs.readdirSync(KLP), ['r'])
  t.deepEqual(calls, [], 'replaced patches\' callbacks never run')
  t.is(await s.read('/sys/module/a/refcnt'), '0')
  t.is(await s.read('/sys/module/b/refcnt'), '0')
  t.is(await s.unload('a'), 0)
})

// --- 9. enable validation order --------------------------------------------------------

test('klp_enable_patch validation: NULL objs, NULL funcs, not a livepatch module', async t => {
  const s = bootSim()
  const def = (name: string, desc: unknown, livepatch = true) => defineModule({ name, livepatch, init: (ctx) => ctx.klp.patch(desc as never), exit: () => {} })
  t.is(await s.load(def('noobjs', { objs: null })), -EINVAL)
  t.is(await s.load(def('nofuncs', { objs: [{ name: 'x', funcs: null }] })), -EINVAL)
  t.is(await s.load(def('terminated', { objs: [{ name: null, funcs: null }, { name: 'x', funcs: null }] })), 0, 'an all-NULL entry ends the array')
  const mark = s.mark()
  t.is(await s.load(def('notlp', { objs: [{ name: null, funcs: [] }] }, false)), -EINVAL)
  t.true(s.log(mark).includes('livepatch: module notlp is not marked as a livepatch module'))
  for (const n of ['noobjs', 'nofuncs', 'notlp']) t.false(s.exists(`${KLP}/${n}`))
})

test('a livepatch loaded while another transition runs fails EBUSY with no sysfs residue', async t => {
  const s = bootSim()
  const reader = sleeper(s, 'reader', ['__schedule', 'schedule', 'uptime_proc_show', 'seq_read_iter', ...USER_TAIL])
  reader.ignoresSignals = true
  await s.load(patchDef('slow', [{ oldName: 'uptime_proc_show' }]))
  const mark = s.mark()
  t.is(await s.load(patchDef('next', [{ oldName: 'version_proc_show' }])), -EBUSY)
  t.false(s.exists(`${KLP}/next`))
  t.false(s.exists('/sys/module/next'))
  t.deepEqual(s.log(mark).filter(l => l.includes('livepatch')), [])
})

// --- 10. symbols -------------------------------------------------------------------------

test('symbol resolution: ambiguity, positions, missing symbols, size lookups, duplicate funcs', async t => {
  const s = bootSim()
  let mark = s.mark()
  t.is(await s.load(patchDef('amb', [{ oldName: 'type_show' }])), -EINVAL)
  t.true(s.log(mark).includes("livepatch: unresolvable ambiguity for symbol 'type_show' in object '(null)'"))
  mark = s.mark()
  t.is(await s.load(patchDef('pos', [{ oldName: 'type_show', oldSympos: 7 }])), -EINVAL)
  t.true(s.log(mark).includes("livepatch: symbol position 7 for symbol 'type_show' in object 'vmlinux' not found"))
  mark = s.mark()
  t.is(await s.load(patchDef('missing', [{ oldName: 'no_such_function' }])), -EINVAL)
  t.true(s.log(mark).includes("livepatch: symbol 'no_such_function' not found in symbol table"))
  t.is(await s.load(patchDef('pos6', [{ oldName: 'type_show', oldSympos: 6 }])), 0)
  s.sim.livepatch.core.faults.sizeLookupFails = (name) => name === 'version_proc_show'
  mark = s.mark()
  t.is(await s.load(patchDef('size', [{ oldName: 'version_proc_show' }])), -ENOENT)
  t.true(s.log(mark).includes("livepatch: kallsyms size lookup failed for 'version_proc_show'"))
  s.sim.livepatch.core.faults = {}
  mark = s.mark()
  t.is(await s.load(patchDef('dup', [{ oldName: 'uptime_proc_show' }, { oldName: 'uptime_proc_show', oldSympos: 1 }])), -EEXIST)
  t.true(s.log(mark).includes("sysfs: cannot create duplicate filename '/kernel/livepatch/dup/vmlinux/uptime_proc_show,1'"))
  for (const n of ['amb', 'pos', 'missing', 'size', 'dup']) t.false(s.exists(`${KLP}/${n}`))
})

test('a module object for a module that is not loaded is patched when it loads', async t => {
  const s = bootSim()
  t.is(await s.load(patchDef('late', [{ oldName: 'test_klp_mod_target_show' }], { object: 'test_klp_mod_target' })), 0)
  t.is(await s.read(`${KLP}/late/test_klp_mod_target/patched`), '0')
  t.is(await s.sim.insmod(s.sim.builtinImage('test_klp_mod_target')!), 0)
  t.is(await s.read('/proc/test_klp_mod_target'), 'late version')
})

// --- 13. patched at transition start ---------------------------------------------------

test('patched reads 1 from the start of the patching transition', async t => {
  const s = bootSim()
  const reader = sleeper(s, 'reader', ['__schedule', 'schedule', 'uptime_proc_show', 'seq_read_iter', ...USER_TAIL])
  reader.ignoresSignals = true
  await s.load(patchDef('p', [{ oldName: 'uptime_proc_show' }]))
  t.is(await s.read(`${KLP}/p/transition`), '1')
  t.is(await s.read(`${KLP}/p/vmlinux/patched`), '1')
  t.is(await s.read(`${KLP}/p/enabled`), '1')
})

// --- 17. shadow variables --------------------------------------------------------------

test('shadow variables: zeroed, ctor only on creation, WARN on a duplicate, ctor failure, dtor on free', async t => {
  const s = bootSim()
  const events: string[] = []
  const def = defineModule({
    name: 'shadowtest',
    init: (ctx) => {
      const obj = {}
      const a = ctx.klp.shadowAlloc(obj, 1, 16, 'GFP_KERNEL', () => { events.push('ctor'); return 0 })
      if (!a || !a.bytes.equals(Buffer.alloc(16))) return -ENOMEM
      if (ctx.klp.shadowAlloc(obj, 1, 16) !== null) return -EINVAL
      if (ctx.klp.shadowGetOrAlloc(obj, 1, 16, 'GFP_KERNEL', () => { events.push('ctor2'); return 0 }) !== a) return -EINVAL
      if (ctx.klp.shadowAlloc(obj, 2, 8, 'GFP_KERNEL', () => -EBUSY) !== null) return -EINVAL
      ctx.klp.shadowAlloc({}, 1, 8)
      ctx.klp.shadowFree(obj, 1, () => { events.push('dtor') })
      ctx.klp.shadowFreeAll(1, () => { events.push('dtor-all') })
      return ctx.klp.shadowGet(obj, 1) === null ? 0 : -EINVAL
    },
    exit: () => {},
  })
  const mark = s.mark()
  t.is(await s.load(def), 0)
  t.deepEqual(events, ['ctor', 'dtor', 'dtor-all'])
  const log = s.log(mark)
  t.true(log.some(l => /^Duplicate shadow variable <[0-9a-f]{16}, 1>$/.test(l)))
  t.true(log.some(l => /^WARNING: CPU: \d+ PID: \d+ at kernel\/livepatch\/shadow\.c:\d+ /.test(l)))
  t.true(log.some(l => /^livepatch: Failed to construct shadow variable <[0-9a-f]{16}, 2> \(-16\)$/.test(l)))
  t.is(s.sim.livepatch.shadow.size, 0)
})

// --- 18. kernfs quirks -------------------------------------------------------------------

test('kernfs: EACCES at open even for root, zero-length writes, one page per write', async t => {
  const s = bootSim()
  await s.load(testKlpLivepatch)
  const root = s.sim.kernel.root
  t.is(openNode(walk(root, `${KLP}/test_klp_livepatch/transition`)!, O_WRONLY), -EACCES)
  t.is(openNode(walk(root, `${KLP}/test_klp_livepatch/force`)!, O_RDONLY), -EACCES)
  const f = openNode(walk(root, `${KLP}/test_klp_livepatch/enabled`)!, O_WRONLY)
  if (typeof f === 'number') return t.fail()
  t.is(await f.write(Buffer.alloc(0), 0), 0)
  t.is(await s.read(`${KLP}/test_klp_livepatch/transition`), '0')
  t.is(await f.write(Buffer.from('0' + ' '.repeat(5000)), 0), 4096)
})

// --- contained module exceptions ---------------------------------------------------------

test('an exception in a callback or a replacement function is an oops, not a crash', async t => {
  const s = bootSim()
  const mark = s.mark()
  const bad = patchDef('badcb', [{ oldName: 'uptime_proc_show' }], { callbacks: { prePatch: () => { throw new Error('boom') } } })
  t.is(await s.load(bad), -EFAULT)
  t.false(s.exists(`${KLP}/badcb`))
  t.true(s.log(mark).some(l => l.startsWith('Oops: exception in simulated code: boom')))
  const throwing = defineModule({
    name: 'throwing',
    livepatch: true,
    functions: { broken: () => { throw new TypeError('null dereference') } },
    init: (ctx) => ctx.klp.patch({ objs: [{ name: null, funcs: [{ oldName: 'version_proc_show', newFunc: 'broken' }] }] }),
    exit: () => {},
  })
  t.is(await s.load(throwing), 0)
  await t.throwsAsync(s.sim.fs.readFile('/proc/version'), { code: 'EFAULT' })
  t.is(await s.read('/proc/cmdline'), s.sim.kernel.cmdline, 'the kernel goes on')
  t.true(s.sim.kernel.hasTaint('D'))
})

test('descriptions that C\'s types would have ruled out get EINVAL, not an exception', async t => {
  const s = bootSim()
  const def = (name: string, desc: unknown) => defineModule({ name, livepatch: true, init: (ctx) => ctx.klp.patch(desc as never), exit: () => {} })
  const bad: unknown[] = [
    'patch', { objs: 'vmlinux' }, { objs: [3] }, { objs: [{ name: 7, funcs: [] }] },
    { objs: [{ name: null, funcs: 'cmdline_proc_show' }] },
    { objs: [{ name: null, funcs: [{ oldName: 42, newFunc: 'x' }] }] },
    { objs: [{ name: null, funcs: [{ oldName: 'cmdline_proc_show', newFunc: 5 }] }] },
    { objs: [{ name: null, funcs: [{ oldName: 'cmdline_proc_show', newFunc: 'x', oldSympos: -1 }] }] },
    { objs: [{ name: null, funcs: [] }], states: [{ id: 'one' }] },
  ]
  let i = 0
  for (const desc of bad) {
    t.is(await s.load(def(`bad${i}`, desc)), -EINVAL, JSON.stringify(desc))
    t.false(s.exists(`${KLP}/bad${i}`))
    i++
  }
  t.deepEqual(s.sim.kernel.internalErrors, [])
})
