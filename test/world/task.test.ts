// klpsim task add|wake|exit|list against a running daemon: scripted tasks are
// tasks like any other (under /proc, switched by transitions), and stall one on
// purpose until woken.
import { fuseTest } from '../fuse/helpers/fuse'
import { exec, BIN, tempDir } from '../cli/helpers/klpsim'
import { ok, shOk, virtualInstance } from './helpers/world'

const READER = '__schedule,schedule,cmdline_proc_show+0x11,seq_read_iter,vfs_read,ksys_read,__x64_sys_read,do_syscall_64'

fuseTest('task add prints the pid; the task is under /proc with its comm, stack and patch_state', async t => {
  const inst = await virtualInstance(t)
  const pid = (await ok(t, inst, ['task', 'add', 'reader', '--stack', READER])).trim()
  t.regex(pid, /^\d+$/)
  const out = await shOk(t, inst, `cat mnt/proc/${pid}/comm mnt/proc/${pid}/patch_state; cat mnt/proc/${pid}/stack; cut -d' ' -f3 mnt/proc/${pid}/stat`)
  t.is(out, [
    'reader', '-1',
    '[<0>] __schedule+0x27f/0x6c0', '[<0>] schedule+0x35/0x90', '[<0>] cmdline_proc_show+0x11/0x30', '[<0>] seq_read_iter+0x1b6/0x4a0',
    '[<0>] vfs_read+0x11c/0x300', '[<0>] ksys_read+0x52/0xe0', '[<0>] __x64_sys_read+0xb/0x20', '[<0>] do_syscall_64+0x2f/0x80', 'S', '',
  ].join('\n'))
  const kt = (await ok(t, inst, ['task', 'add', 'kspin', '--kthread', '--running', '--cpu', '2', '--stack', 'smpboot_thread_fn,kthread,ret_from_fork'])).trim()
  const list = await ok(t, inst, ['task', 'list'])
  t.regex(list, /^ {4}PID COMM {13}STATE PATCH PENDING ORIGIN {4}STACK \(innermost first\)\n/)
  t.regex(list, new RegExp(`\\n +${pid} reader +S +-1 no +scripted +__schedule\\+0x27f/0x6c0, schedule\\+0x35/0x90, cmdline_proc_show\\+0x11/0x30, `))
  t.regex(list, new RegExp(`\\n +${kt} kspin +R +-1 no +scripted,on-cpu smpboot_thread_fn\\+`))
  const json = JSON.parse(await ok(t, inst, ['task', 'list', '--json']))
  t.deepEqual(json.map((x: any) => [x.pid, x.comm, x.kthread, x.onCpu]), [[Number(pid), 'reader', false, false], [Number(kt), 'kspin', true, true]])
  t.is(await shOk(t, inst, `grep Cpus_allowed_list mnt/proc/${kt}/status`), 'Cpus_allowed_list:\t2\n')
  const all = JSON.parse(await ok(t, inst, ['task', 'list', '--all', '--json']))
  t.true(all.some((x: any) => x.comm === 'systemd') && all.some((x: any) => x.comm === 'reader'))
})

fuseTest('a scripted task stalls a transition until woken; the next attempt completes it', async t => {
  const inst = await virtualInstance(t)
  const pid = (await ok(t, inst, ['task', 'add', 'reader', '--stack', READER])).trim()
  await shOk(t, inst, 'insmod ko/test_klp_livepatch.ko')
  await ok(t, inst, ['clock', 'advance', '3s'])
  t.is(await shOk(t, inst, `cat mnt/sys/kernel/livepatch/test_klp_livepatch/transition mnt/proc/${pid}/patch_state`), '1\n0\n')
  const list = JSON.parse(await ok(t, inst, ['task', 'list', '--json']))
  t.like(list[0], { comm: 'reader', patchState: 0, pending: true })
  await ok(t, inst, ['task', 'wake', 'reader'])
  t.is(await shOk(t, inst, `cat mnt/proc/${pid}/patch_state; cat mnt/proc/${pid}/stack`), '1\n', 'a woken user task returns to user space and switches on its way out')
  t.is(await shOk(t, inst, 'cat mnt/sys/kernel/livepatch/test_klp_livepatch/transition'), '1\n', 'the transition completes at its next attempt, not before')
  await ok(t, inst, ['clock', 'advance', '1s'])
  t.is(await shOk(t, inst, 'cat mnt/sys/kernel/livepatch/test_klp_livepatch/transition'), '0\n')
})

fuseTest('an --ignore-signals task outlasts the fake signals; an --unreliable kernel thread blocks with any stack; exit kills', async t => {
  const inst = await virtualInstance(t)
  await ok(t, inst, ['task', 'add', 'stubborn', '--ignore-signals', '--stack', READER])
  const flaky = (await ok(t, inst, ['task', 'add', 'flaky', '--kthread', '--unreliable', '--stack', '__schedule,schedule,kswapd,kthread'])).trim()
  await shOk(t, inst, 'insmod ko/test_klp_livepatch.ko')
  await ok(t, inst, ['clock', 'advance', '20s'])
  const st = JSON.parse(await ok(t, inst, ['status', '--json']))
  t.deepEqual(st.transition.pending.map((p: any) => [p.comm, p.reason]), [['stubborn', 'sleeping'], ['flaky', 'unreliable']])
  t.regex(await shOk(t, inst, 'dmesg -t'), /livepatch: signaling remaining tasks/)
  await ok(t, inst, ['task', 'exit', 'stubborn'])
  await ok(t, inst, ['task', 'exit', flaky])
  t.is((await inst.sh(`test -e mnt/proc/${flaky}`)).code, 1, 'gone from /proc')
  await ok(t, inst, ['clock', 'advance', '1s'])
  t.is(await shOk(t, inst, 'cat mnt/sys/kernel/livepatch/test_klp_livepatch/transition'), '0\n')
  t.is(await ok(t, inst, ['task', 'list']), '    PID COMM             STATE PATCH PENDING ORIGIN    STACK (innermost first)\n')
})

fuseTest('bad task arguments: one clear line each', async t => {
  const inst = await virtualInstance(t)
  await ok(t, inst, ['task', 'add', 'reader', '--stack', READER])
  const cases: Array<[string[], number, string]> = [
    [['task', 'add', 'reader', '--stack', 'schedule'], 1, /^klpsim task add: a scripted task named 'reader' exists \(pid \d+\)\n$/.source],
    [['task', 'add', 'ghost', '--stack', 'schedule,no_such_function'], 1, "^klpsim task add: unknown function 'no_such_function'\\n$"],
    [['task', 'add', 'far', '--stack', 'schedule+0x999'], 1, "^klpsim task add: offset 0x999 is outside schedule \\(size 0x90\\)\\n$"],
    [['task', 'add', 'nostack'], 2, '^klpsim task add: --stack is required \\(FUNC\\[\\+OFF\\]\\[,FUNC\\.\\.\\.\\], innermost frame first\\)\\n$'],
    [['task', 'add', 'bad', '--stack', 'schedule+xyz'], 2, "^klpsim task add: bad frame 'schedule\\+xyz' in --stack \\(use FUNC or FUNC\\+OFF, e\\.g\\. schedule\\+0x2e\\)\\n$"],
    [['task', 'add', 'bad', '--stack', 'schedule,,vfs_read'], 2, "^klpsim task add: empty frame in --stack 'schedule,,vfs_read'\\n$"],
    [['task', 'add', '1234', '--stack', 'schedule'], 1, "^klpsim task add: invalid task name '1234': a number would read as a pid\\n$"],
    [['task', 'add', 'much-too-long-name', '--stack', 'schedule'], 1, "^klpsim task add: invalid task name 'much-too-long-name' \\(1-15 characters of \\[A-Za-z0-9_./:@\\+-\\]\\)\\n$"],
    [['task', 'add', 'c', '--cpu', '9', '--stack', 'schedule'], 1, '^klpsim task add: invalid cpu 9 \\(0\\.\\.3\\)\\n$'],
    [['task', 'add', 'c', '--cpu', '-1', '--stack', 'schedule'], 2, "^klpsim task add: invalid --cpu '-1' \\(a CPU number\\)\\n$"],
    [['task', 'wake', 'nobody'], 1, "^klpsim task wake: no scripted task 'nobody' \\(scripted tasks: reader\\)\\n$"],
    [['task', 'exit', '99999'], 1, "^klpsim task exit: no scripted task '99999' \\(scripted tasks: reader\\)\\n$"],
    [['task', 'frobnicate'], 2, '^klpsim: a task command is required: add, wake, exit or list\\n$'],
  ]
  for (const [args, code, err] of cases) {
    const r = await inst.klpsim(args)
    t.is(r.code, code, `klpsim ${args.join(' ')}: ${r.stderr}`)
    t.regex(r.stderr, new RegExp(err), args.join(' '))
    t.is(r.stdout, '', args.join(' '))
  }
  t.is(JSON.parse(await ok(t, inst, ['task', 'list', '--json'])).length, 1, 'nothing was added by the failures')
})

fuseTest('without a daemon: the module tools\' line and status 69', async t => {
  const dir = await tempDir(t, 'klpsim-world-')
  for (const args of [['task', 'list'], ['clock'], ['fault', 'list'], ['status']]) {
    const r = await exec(process.execPath, [BIN, ...args, '--mount', `${dir}/none`], { env: { ...process.env, KLPSIM_CONTROL: '' } })
    t.is(r.code, 69, args.join(' '))
    t.is(r.stderr, `klpsim ${args[0]}${args[1] === 'list' ? ' list' : ''}: no klpsim daemon serves ${dir}/none (start one with 'klpsim mount ${dir}/none', or name another instance with --mount DIR or KLPSIM_MOUNT)\n`)
  }
})
