// /proc through the mount: files whose content comes from simulated kernel
// functions called through the dispatch table (so patches show), sysctls,
// and the per-task directories.
import { bootMachine, fuseTest } from './helpers/machine'

fuseTest('/proc/cmdline and /proc/meminfo come from the (patched) kernel functions', async (t) => {
  const m = await bootMachine(t)
  const k = m.sim.kernel
  t.is((await m.sh('stat -c %A proc/cmdline proc/meminfo; cat proc/cmdline')).stdout, `-r--r--r--\n-r--r--r--\n${k.cmdline}\n`)
  const mem = await m.sh('grep -c "live patched" proc/cmdline proc/meminfo; grep -E "^(MemTotal|MemFree):" proc/meminfo')
  t.regex(mem.stdout, /^proc\/cmdline:0\nproc\/meminfo:0\nMemTotal: +\d+ kB\nMemFree: +\d+ kB\n$/)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  t.is(await m.insmod('test_klp_atomic_replace', 'replace=0'), 0)
  const patched = await m.sh('cat proc/cmdline; grep "live patched" proc/meminfo')
  t.is(patched.stdout, 'test_klp_livepatch: this has been live patched\ntest_klp_atomic_replace: this has been live patched\n')
})

fuseTest('/proc/kallsyms and /proc/modules list vmlinux and the loaded modules', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  const ks = await m.sh('stat -c %A proc/kallsyms; grep -w kprobe_ftrace_ops proc/kallsyms; grep -c . proc/kallsyms; grep -P "\\tlivepatch_cmdline_proc_show|\\t\\[test_klp_livepatch\\]$" proc/kallsyms | head -1')
  t.is(ks.code, 0, ks.stderr)
  const [mode, kprobeOps, count, modSym] = ks.stdout.trim().split('\n')
  t.is(mode, '-r--r--r--')
  t.regex(kprobeOps, /^[0-9a-f]{16} [a-zA-Z] kprobe_ftrace_ops$/)
  t.true(Number(count) > 1000)
  t.regex(modSym, /^[0-9a-f]{16} [tT] \S+\t\[test_klp_livepatch\]$/)
  const mods = await m.sh('cat proc/modules')
  t.regex(mods.stdout, /^test_klp_livepatch 16384 1 - Live 0x[0-9a-f]{16} \(OK\)\n$/)
  t.is(Number(mods.stdout.split(' ')[1]), m.sim.kernel.modules.find('test_klp_livepatch')!.coresize)
})

fuseTest('/proc/sys/kernel/ftrace_enabled and tainted', async (t) => {
  const m = await bootMachine(t)
  const fe = 'proc/sys/kernel/ftrace_enabled'
  t.is((await m.sh(`stat -c %A ${fe} proc/sys/kernel/tainted; cat ${fe} proc/sys/kernel/tainted`)).stdout, '-rw-r--r--\n-rw-r--r--\n1\n0\n')
  t.is((await m.bash(`echo 0 > ${fe} && cat ${fe} && echo 1 > ${fe} && cat ${fe}`)).stdout, '0\n1\n')
  t.is(await m.insmod('test_klp_livepatch'), 0)
  // ftrace cannot be switched off under a registered livepatch
  const busy = await m.bash(`echo 0 > ${fe}`)
  t.is(busy.code, 1)
  t.regex(busy.stderr, /write error: Device or resource busy/)
  t.is((await m.sh(`cat ${fe}`)).stdout, '1\n')
  // TAINT_OOT_MODULE (4096) | TAINT_LIVEPATCH (32768)
  t.is((await m.sh('cat proc/sys/kernel/tainted')).stdout, '36864\n')
})

fuseTest('/proc/<pid> and /proc/<pid>/task/<tid>: comm, stack, patch_state of simulated tasks', async (t) => {
  const m = await bootMachine(t, { scale: 10 })
  const pids = await m.sh('ls proc | grep -E "^[0-9]+$" | sort -n')
  // thread group leaders only; other threads are under task/
  const leaders = m.sim.kernel.sched.visible().filter((task) => task.tgid === task.pid)
  t.deepEqual(pids.stdout.trim().split('\n').map(Number), leaders.map((task) => task.pid).sort((a, b) => a - b))
  const threads = m.sim.kernel.sched.visible().filter((task) => task.tgid !== task.pid)
  for (const th of threads) {
    t.is((await m.sh(`cat proc/${th.tgid}/task/${th.pid}/comm`)).stdout, `${th.comm}\n`)
  }
  const modes = await m.sh('stat -c "%A %n" proc/1 proc/1/comm proc/1/stack proc/1/patch_state proc/1/task proc/1/task/1 proc/1/task/1/stack')
  t.is(modes.stdout, [
    'dr-xr-xr-x proc/1', '-rw-r--r-- proc/1/comm', '-r-------- proc/1/stack', '-r-------- proc/1/patch_state',
    'dr-xr-xr-x proc/1/task', 'dr-xr-xr-x proc/1/task/1', '-r-------- proc/1/task/1/stack',
  ].join('\n') + '\n')
  t.is((await m.sh('cat proc/1/comm proc/1/patch_state proc/1/task/1/comm')).stdout, `${m.sim.kernel.sched.find(1)!.comm}\n-1\n${m.sim.kernel.sched.find(1)!.comm}\n`)
  const stack = await m.sh('cat proc/1/stack')
  t.true(stack.stdout.length > 0)
  for (const line of stack.stdout.trim().split('\n')) t.regex(line, /^\[<0>\] [A-Za-z_][\w.]*\+0x[0-9a-f]+\/0x[0-9a-f]+( \[\w+\])?$/)
  t.is((await m.sh('cat proc/1/task/1/stack')).stdout, stack.stdout)

  // a stalled transition: the worker sleeping in busymod_work_func shows it,
  // and patch_state tells who has switched
  t.is(await m.insmod('test_klp_callbacks_busy', 'block_transition=Y'), 0)
  t.is(await m.insmod('test_klp_callbacks_demo'), 0)
  const holder = await m.sh('grep -l "busymod_work_func+0x[0-9a-f]*/0x90 \\[test_klp_callbacks_busy\\]" proc/*/stack')
  t.is(holder.code, 0, 'a task sleeps in busymod_work_func')
  const pid = holder.stdout.trim().split('/')[1]
  const states = await m.sh(`cat proc/${pid}/patch_state proc/${pid}/task/${pid}/patch_state; cat proc/[0-9]*/patch_state | sort | uniq -c`)
  t.regex(states.stdout, /^0\n0\n +1 0\n +\d+ 1\n$/)
  await m.sh('echo N > sys/module/test_klp_callbacks_busy/parameters/block_transition')
  await m.until('the transition to complete', () => !m.sim.livepatch.transition.patch)
  t.regex((await m.sh('cat proc/[0-9]*/patch_state | sort | uniq -c')).stdout, /^ +\d+ -1\n$/)
  // a task that exits is gone from /proc at once
  t.is((await m.sh(`test -e proc/${pid}; echo $?`)).stdout, m.sim.kernel.sched.find(Number(pid)) ? '0\n' : '1\n')
})

fuseTest('writing /proc/<pid>/comm of another process fails EINVAL, even for root', async (t) => {
  // comm_write renames only a task of the writer's own thread group; a shell
  // writing a simulated task's comm is never one
  const m = await bootMachine(t)
  const r = await m.bash('echo renamed > proc/1/comm')
  t.is(r.code, 1)
  t.regex(r.stderr, /write error: Invalid argument/)
  t.is((await m.sh('cat proc/1/comm')).stdout, `${m.sim.kernel.sched.find(1)!.comm}\n`)
})
