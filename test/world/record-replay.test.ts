// Record and replay, end to end: a stalled transition created in one simulated
// instance (with scripted tasks) is recorded through its mount, replayed into a
// second instance with `klpsim mount --replay`, and the two mounts compared;
// then the replayed transition completes, by waking tasks or by the timeline.
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { fuseTest } from '../fuse/helpers/fuse'
import { Instance, startInstance, tempDir } from '../cli/helpers/klpsim'
import { dump, ok, shOk, statusJson, timeless, virtualInstance } from './helpers/world'

const DEMO = 'mnt/sys/kernel/livepatch/test_klp_callbacks_demo'

/** A busy worker stalls test_klp_callbacks_demo; scripted tasks: a kthread inside the target function, a running task, a sleeper that switched. */
async function stalledBusyWorker (t: ExecutionContext): Promise<Instance> {
  const src = await virtualInstance(t)
  await shOk(t, src, 'insmod ko/test_klp_callbacks_busy.ko block_transition=Y')
  await ok(t, src, ['task', 'add', 'stuck', '--kthread', '--stack', '__schedule,schedule,busymod_work_func+0x20,process_one_work,worker_thread,kthread,ret_from_fork,ret_from_fork_asm'])
  await ok(t, src, ['task', 'add', 'spinner', '--running', '--stack', 'do_sys_poll,__x64_sys_poll,do_syscall_64,entry_SYSCALL_64_after_hwframe'])
  await ok(t, src, ['task', 'add', 'idler', '--stack', '__schedule,schedule,n_tty_read,tty_read,vfs_read,ksys_read'])
  await shOk(t, src, 'insmod ko/test_klp_callbacks_demo.ko')
  await ok(t, src, ['clock', 'advance', '2s'])
  return src
}

async function replayed (t: ExecutionContext, fixture: string, args: string[] = []): Promise<Instance> {
  const rep = await startInstance(t, { args: ['--clock', 'virtual', '--replay', fixture, ...args] })
  t.regex(rep.daemonOutput(), new RegExp(`^klpsim: replaying ${fixture.replace(/[/.]/g, '\\$&')} \\(7\\.1\\.0-klpsim, profile 7\\.1\\)`))
  return rep
}

fuseTest('round trip: a stalled busy-worker transition recorded from one instance and replayed into another shows the same files', async t => {
  const src = await stalledBusyWorker(t)
  const fixture = join(src.dir, 'stalled.json')
  const rec = await src.klpsim(['record', '--root', src.mnt, '-o', fixture])
  t.is(rec.code, 0, rec.stderr)
  t.regex(rec.stderr, /^klpsim record: 1 snapshot\(s\) over 0\.0 s of 7\.1\.0-klpsim: 1 patch\(es\), \d+ task\(s\) -> .*stalled\.json\n$/)
  const fx = JSON.parse(await fsp.readFile(fixture, 'utf8'))
  t.is(fx.format, 'klpsim-record/1')

  const rep = await replayed(t, fixture)
  t.regex(rep.daemonOutput(), /\nklpsim: test_klp_callbacks_demo patching, 3 task\(s\) pending\n/)
  t.is(await dump(t, rep, rep.mnt), await dump(t, src, src.mnt), 'patch dirs and values, every task\'s comm, patch_state and stack, modules, taint')
  t.deepEqual(timeless(await statusJson(t, rep)), timeless(await statusJson(t, src)), 'the status report, but for the transition\'s clocks')

  // the replayed tasks answer to klpsim task by name and pid
  const tasks = JSON.parse(await ok(t, rep, ['task', 'list', '--json']))
  t.true(tasks.every((x: any) => x.origin === 'replay'))
  const pending = tasks.filter((x: any) => x.pending)
  t.deepEqual(pending.map((x: any) => x.comm).sort(), ['kworker/0:0', 'spinner', 'stuck'].sort())
  for (const x of pending) await ok(t, rep, ['task', 'wake', String(x.pid)])
  t.is(await shOk(t, rep, `cat ${DEMO}/transition`), '1\n')
  await ok(t, rep, ['clock', 'advance', '1s'])
  t.is(await shOk(t, rep, `cat ${DEMO}/transition`), '0\n')
  t.regex(await shOk(t, rep, 'dmesg -t'), /livepatch: 'test_klp_callbacks_demo': patching complete\n/)
  t.is(JSON.parse(await ok(t, rep, ['status', '--json'])).transition, null)
})

fuseTest('round trip with a timeline: the replayed transition completes when the recorded one did', async t => {
  const src = await stalledBusyWorker(t)
  await ok(t, src, ['task', 'exit', 'stuck'])
  await ok(t, src, ['task', 'wake', 'spinner'])
  const before = await statusJson(t, src)
  const fixture = join(src.dir, 'timeline.json')
  const recording = src.klpsim(['record', '--root', src.mnt, '--duration', '6s', '--interval', '250ms', '-o', fixture], { timeoutMs: 60_000 })
  await new Promise(resolve => setTimeout(resolve, 2500))
  // the worker leaves busymod_work_func at its next poll; a second later the transition completes
  await shOk(t, src, 'echo N > mnt/sys/module/test_klp_callbacks_busy/parameters/block_transition')
  await ok(t, src, ['clock', 'advance', '100ms'])
  await new Promise(resolve => setTimeout(resolve, 1000))
  await ok(t, src, ['clock', 'advance', '900ms'])
  t.is(await shOk(t, src, `cat ${DEMO}/transition`), '0\n')
  const r = await recording
  t.is(r.code, 0, r.stderr)
  const fx = JSON.parse(await fsp.readFile(fixture, 'utf8'))
  t.true(fx.snapshots.length > 10)
  t.is(fx.snapshots[0].patches[0].attributes.transition, '1', 'the first snapshot was taken before anything moved')
  t.is(fx.snapshots.at(-1).patches[0].attributes.transition, '0')

  const rep = await replayed(t, fixture)
  t.regex(rep.daemonOutput(), /\nklpsim: timeline of \d+ snapshot\(s\) over 1\.0 s of kernel time\n/)
  t.deepEqual(timeless(await statusJson(t, rep)), timeless(before))
  await ok(t, rep, ['clock', 'advance', '100ms'])
  const moved = await statusJson(t, rep)
  t.is(moved.transition.pending[0].reason, 'none', 'the kworker left the patched function at the recorded time')
  t.regex(moved.transition.pending[0].comm, /^kworker\//)
  await ok(t, rep, ['clock', 'advance', '900ms'])
  t.is(await shOk(t, rep, `cat ${DEMO}/transition`), '0\n', 'switched by the transition\'s own attempt, a second after it started')
  t.regex(await shOk(t, rep, 'dmesg -t'), /livepatch: 'test_klp_callbacks_demo': patching complete\n/)
  const pids = fx.snapshots[0].tasks.map((x: any) => x.tid).filter((tid: number) => !fx.snapshots.some((s: any) => s.exited.includes(tid)))
  t.is(await shOk(t, rep, `cd mnt/proc && cat ${pids.map((p: number) => `${p}/patch_state`).join(' ')} | sort -u`), '-1\n')
})

fuseTest('round trip: a replace in progress, the reader in the replaced patch\'s function holding it', async t => {
  const src = await virtualInstance(t)
  await shOk(t, src, 'insmod ko/test_klp_livepatch.ko')
  await ok(t, src, ['task', 'add', 'reader', '--stack', '__schedule,schedule,livepatch_cmdline_proc_show,seq_read_iter,vfs_read,ksys_read'])
  await shOk(t, src, 'insmod ko/test_klp_atomic_replace.ko replace=1')
  const fixture = join(src.dir, 'replace.json')
  await ok(t, src, ['record', '--root', src.mnt, '-o', fixture])
  const rep = await replayed(t, fixture)
  t.is(await dump(t, rep, rep.mnt), await dump(t, src, src.mnt))
  const st = await statusJson(t, rep)
  t.deepEqual(timeless(st), timeless(await statusJson(t, src)))
  t.deepEqual(st.functions.find((f: any) => f.function === 'cmdline_proc_show').live, { patch: 'test_klp_atomic_replace', nop: true })
  for (const inst of [src, rep]) {
    await ok(t, inst, ['task', 'wake', 'reader'])
    await ok(t, inst, ['clock', 'advance', '1s'])
  }
  const after = 'ls mnt/sys/kernel/livepatch; ls mnt/sys/kernel/livepatch/test_klp_atomic_replace/vmlinux; lsmod'
  t.is(await shOk(t, rep, after), await shOk(t, src, after), 'the replaced patch is gone in both, its nop with it')
})

/** A host's files as a 5.14 kernel shows them (no stack_order: stack order from /proc/modules), as root reads them. */
async function hostLikeRoot (dir: string): Promise<void> {
  const files: Record<string, string> = {
    'sys/kernel/livepatch/kpatch_old/enabled': '1\n',
    'sys/kernel/livepatch/kpatch_old/transition': '0\n',
    'sys/kernel/livepatch/kpatch_old/vmlinux/cmdline_proc_show,1/.keep': '',
    'sys/kernel/livepatch/kpatch_new/enabled': '1\n',
    'sys/kernel/livepatch/kpatch_new/transition': '1\n',
    'sys/kernel/livepatch/kpatch_new/vmlinux/meminfo_proc_show,1/.keep': '',
    'sys/module/kpatch_old/refcnt': '1\n',
    'sys/module/kpatch_old/initstate': 'live\n',
    'sys/module/kpatch_old/taint': 'OEK\n',
    'sys/module/kpatch_old/coresize': '20480\n',
    'sys/module/kpatch_new/refcnt': '1\n',
    'sys/module/kpatch_new/initstate': 'live\n',
    'sys/module/kpatch_new/taint': 'OEK\n',
    'sys/module/kpatch_new/coresize': '24576\n',
    'sys/module/printk/parameters/time': 'Y\n',
    'sys/devices/system/cpu/online': '0-1\n',
    'proc/sys/kernel/osrelease': '5.14.0-427.el9.x86_64\n',
    'proc/sys/kernel/tainted': '36865\n',
    'proc/uptime': '86400.25 170000.10\n',
    'proc/modules': 'kpatch_new 24576 1 - Live 0x0000000000000000 (OEK)\nkpatch_old 20480 1 - Live 0x0000000000000000 (OEK)\n',
    'proc/kallsyms': '0000000000000000 T meminfo_proc_show\n0000000000000000 t meminfo_proc_show\t[kpatch_new]\n0000000000000000 t cmdline_proc_show\t[kpatch_old]\n',
    'proc/1/task/1/comm': 'systemd\n',
    'proc/1/task/1/stat': '1 (systemd) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n',
    'proc/1/task/1/patch_state': '1\n',
    'proc/1/task/1/stack': '[<0>] ep_poll+0x2b3/0x3f0\n[<0>] do_epoll_wait+0xb5/0xd0\n',
    'proc/77/task/77/comm': 'kworker/0:1\n',
    'proc/77/task/77/stat': '77 (kworker/0:1) D 2 0 0 0 -1 69238880 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0\n',
    'proc/77/task/77/patch_state': '0\n',
    'proc/77/task/77/stack': '[<0>] __schedule+0x20a/0x550\n[<0>] meminfo_proc_show+0x44/0x4e0\n[<0>] seq_read_iter+0x11f/0x4a0\n',
  }
  for (const [p, text] of Object.entries(files)) {
    await fsp.mkdir(join(dir, p, '..'), { recursive: true })
    await fsp.writeFile(join(dir, p), text)
  }
}

async function treeState (t: ExecutionContext, inst: Instance, dir: string): Promise<string> {
  return shOk(t, inst, `cd ${dir} && find . -printf '%p %y %s %m %T@\\n' | sort`)
}

fuseTest('record reads a host-like root and writes nothing under it; the recording replays', async t => {
  const inst = await startInstance(t)
  const root = join(inst.dir, 'host')
  await hostLikeRoot(root)
  const before = await treeState(t, inst, root)
  const fixture = join(inst.dir, 'host.json')
  const r = await inst.klpsim(['record', '--root', root, '--duration', '300ms', '--interval', '100ms', '-o', fixture])
  t.is(r.code, 0, r.stderr)
  t.is(await treeState(t, inst, root), before, 'nothing under the root changed')
  const fx = JSON.parse(await fsp.readFile(fixture, 'utf8'))
  t.deepEqual(fx.kernel, { release: '5.14.0-427.el9.x86_64', tainted: 36865, cpus: 2 })
  t.is(fx.stackOrderFrom, 'proc-modules')
  t.deepEqual(fx.snapshots[0].patches.map((p: any) => p.name), ['kpatch_old', 'kpatch_new'], 'oldest module first')
  t.deepEqual(fx.snapshots[0].patches[1].objects, [{ name: 'vmlinux', attributes: {}, functions: [{ name: 'meminfo_proc_show', sympos: 1 }] }])
  t.deepEqual(fx.snapshots[0].modules.map((m: any) => [m.name, m.role, m.taint, m.coresize]), [['kpatch_new', 'livepatch', 'OEK', '24576'], ['kpatch_old', 'livepatch', 'OEK', '20480']])
  t.deepEqual(fx.snapshots[0].tasks[1], { pid: 77, tid: 77, comm: 'kworker/0:1', state: 'D', kthread: true, ppid: 2, patchState: 0, stack: ['__schedule+0x20a/0x550', 'meminfo_proc_show+0x44/0x4e0', 'seq_read_iter+0x11f/0x4a0'] })
  t.false(fx.snapshots[0].tasks[0].kthread)
  t.is(fx.snapshots[0].uptimeMs, 86400250)
  t.deepEqual(fx.symbols, [
    { object: 'vmlinux', name: 'meminfo_proc_show', type: 'T', size: null },
    { object: 'kpatch_new', name: 'meminfo_proc_show', type: 't', size: null },
    { object: 'kpatch_old', name: 'cmdline_proc_show', type: 't', size: null },
  ], 'kallsyms without addresses: sizes unknown')
  t.true(fx.snapshots.length >= 3)
  t.deepEqual(fx.snapshots[1].tasks, [], 'nothing changed: later snapshots carry no tasks')

  const rep = await startInstance(t, { args: ['--clock', 'virtual', '--replay', fixture] })
  t.regex(rep.daemonOutput(), /^klpsim: replaying .*host\.json \(5\.14\.0-427\.el9\.x86_64, profile 5\.10\): 2 patch\(es\), 2 task\(s\), 0 resident module\(s\)\nklpsim: kpatch_new patching, 1 task\(s\) pending\n/)
  t.is(await shOk(t, rep, 'cat mnt/proc/77/stack mnt/proc/sys/kernel/osrelease mnt/sys/kernel/livepatch/kpatch_new/transition'), '[<0>] __schedule+0x20a/0x550\n[<0>] meminfo_proc_show+0x44/0x4e0\n[<0>] seq_read_iter+0x11f/0x4a0\n5.14.0-427.el9.x86_64\n1\n')
  const st = await statusJson(t, rep)
  t.deepEqual(st.patches.map((p: any) => p.name), ['kpatch_old', 'kpatch_new'])
  t.like(st.transition.pending[0], { pid: 77, comm: 'kworker/0:1', reason: 'sleeping', frame: 'meminfo_proc_show+0x44/0x4e0', patchedBy: 'kpatch_new' })
  await ok(t, rep, ['modules', 'export', 'ko'])
  const ins = await rep.sh('insmod ko/test_klp_livepatch.ko')
  t.regex(ins.stderr, /insmod: ERROR: could not insert module ko\/test_klp_livepatch\.ko: Invalid module format\n$/, 'modules built for another release are refused, as on that host')
})

fuseTest('bad record and replay arguments: one clear line each, nothing mounted', async t => {
  const inst = await startInstance(t)
  const dir = await tempDir(t, 'klpsim-record-')
  await fsp.writeFile(join(dir, 'notjson.json'), '{ nope')
  await fsp.writeFile(join(dir, 'status.json'), JSON.stringify({ format: 'klpsim-status/1' }))
  const record: Array<[string[], string]> = [
    [['record', '--root', dir], `klpsim: cannot read ${dir}/sys/kernel/livepatch: not a kernel with livepatch support (CONFIG_LIVEPATCH), or ${dir} is not the root of one\n`],
    [['record', '--root', `${dir}/nowhere`], `klpsim: --root ${dir}/nowhere: ENOENT\n`],
    [['record', '--root', inst.mnt, '-o', `${inst.mnt}/sys/kernel/x.json`], `klpsim: -o ${inst.mnt}/sys/kernel/x.json: the fixture may not go under ${inst.mnt}; record never writes under the root it reads\n`],
    [['record', '-o', '/proc/x.json'], 'klpsim: -o /proc/x.json: the fixture may not go under /proc; record never writes under the root it reads\n'],
    [['record', '--root', inst.mnt, '--duration', 'forever'], "klpsim: invalid --duration 'forever' (use e.g. 500ms, 2s, 1m)\n"],
    [['record', '--root', inst.mnt, '--interval', '1ms'], "klpsim: --interval '1ms' is too short (at least 10ms)\n"],
    [['record', '--root', inst.mnt, '--duration', '1h', '--interval', '100ms'], 'klpsim: --duration 1h at --interval 100ms makes more than 10000 snapshots\n'],
  ]
  for (const [args, err] of record) {
    const r = await inst.klpsim(args)
    t.is(r.code, 2, args.join(' '))
    t.is(r.stderr, err)
    t.is(r.stdout, '')
  }
  const replay: Array<[string[], string]> = [
    [['--replay', `${dir}/missing.json`], `klpsim: --replay: cannot read ${dir}/missing.json: ENOENT\n`],
    [['--replay', `${dir}/notjson.json`], `klpsim: --replay: ${dir}/notjson.json is not JSON: `],
    [['--replay', `${dir}/status.json`], `klpsim: --replay: ${dir}/status.json: format: is "klpsim-status/1", not "klpsim-record/1" (not a klpsim recording, or from an incompatible version)\n`],
    [['--replay', `${dir}/status.json`, '--mode', 'stop-machine'], 'klpsim: --replay reproduces the ftrace livepatch core; it does not go with --mode stop-machine\n'],
  ]
  for (const [args, err] of replay) {
    const r = await inst.klpsim(['mount', `${dir}/mnt`, ...args])
    t.is(r.code, 2, args.join(' '))
    t.true(r.stderr.startsWith(err), r.stderr)
    t.is(r.stderr.split('\n').length, 2, 'one line')
  }
  t.is((await inst.sh(`grep -c ' ${dir}/mnt ' /proc/self/mounts`)).stdout, '0\n')
})
