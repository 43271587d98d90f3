// `klpsim record` against real hosts' trees, built in memory (memfs): a RHEL 8
// kpatch host as its /sys and /proc show it, with the races and permissions a
// real machine has (a task exiting between listing and reading, write-only files,
// a non-root reader), then replayed into the engine.
import test from 'ava'
import { Volume } from 'memfs'
import { capture, CaptureFs, RecordError } from '../../lib/record/capture'
import { replay, replayBootOptions } from '../../lib/record/replay'
import { VirtualClock } from '../../lib/kernel/clock'
import { Simulator } from '../../lib/simulator'

const PF_KTHREAD = 0x00200000

/** /proc/<pid>/task/<tid>/ files of one thread. */
function thread (pid: number, tid: number, comm: string, state: string, ppid: number, kthread: boolean, patchState: number, stack: string[]): Record<string, string> {
  const dir = `/proc/${pid}/task/${tid}`
  const flags = kthread ? PF_KTHREAD | 0x40 : 0x400100
  return {
    [`${dir}/comm`]: `${comm}\n`,
    [`${dir}/stat`]: `${tid} (${comm}) ${state} ${ppid} ${tid} ${tid} 0 -1 ${flags} 0 0 0 0 1 2 0 0 20 0 1 0 100\n`,
    [`${dir}/patch_state`]: `${patchState}\n`,
    [`${dir}/stack`]: stack.map(l => `[<0>] ${l}\n`).join(''),
  }
}

const USER = ['do_syscall_64+0x5b/0x1a0', 'entry_SYSCALL_64_after_hwframe+0x65/0xca']

/**
 * A RHEL 8 host (4.18: `signal` and `force` files, no `patched`, no stack_order)
 * with two kpatch modules; kpatch_2 is still patching: a kworker sleeps in the
 * patched xfs_buf_ioend, a two-thread daemon's second thread has not switched.
 */
function rhel8Host (): Record<string, string> {
  const lp = '/sys/kernel/livepatch'
  return {
    '/proc/sys/kernel/osrelease': '4.18.0-553.el8_10.x86_64\n',
    '/proc/sys/kernel/tainted': '36864\n',
    '/proc/uptime': '5021.33 19000.12\n',
    '/sys/devices/system/cpu/online': '0-3\n',
    // newest first
    '/proc/modules': 'kpatch_2 20480 1 - Live 0xffffffffc0b20000 (OEK)\nkpatch_1 16384 1 - Live 0xffffffffc0b00000 (OEK)\nxfs 1556480 2 - Live 0xffffffffc0a00000\n',
    '/proc/kallsyms': [
      'ffffffff812a3b10 t cmdline_proc_show',
      'ffffffff812a3b50 t meminfo_proc_show',
      'ffffffff812a4000 T vfs_read',
      'ffffffffc0a10000 t xfs_buf_ioend\t[xfs]',
      'ffffffffc0a102d0 t xfs_buf_ioend_work\t[xfs]',
      'ffffffffc0a10300 t xfs_buf_read_map\t[xfs]',
      'ffffffffc0b00000 t livepatch_cmdline_proc_show\t[kpatch_1]',
      'ffffffffc0b00080 t kpatch_1_init\t[kpatch_1]',
      'ffffffffc0b20000 t livepatch_xfs_buf_ioend\t[kpatch_2]',
      'ffffffffc0b20300 t kpatch_2_init\t[kpatch_2]',
      '',
    ].join('\n'),
    [`${lp}/kpatch_1/enabled`]: '1\n',
    [`${lp}/kpatch_1/transition`]: '0\n',
    [`${lp}/kpatch_1/force`]: '',
    [`${lp}/kpatch_1/signal`]: '',
    [`${lp}/kpatch_1/vmlinux/cmdline_proc_show,1/.keep`]: '',
    [`${lp}/kpatch_2/enabled`]: '1\n',
    [`${lp}/kpatch_2/transition`]: '1\n',
    [`${lp}/kpatch_2/force`]: '',
    [`${lp}/kpatch_2/signal`]: '',
    [`${lp}/kpatch_2/xfs/xfs_buf_ioend,1/.keep`]: '',
    '/sys/module/kpatch_1/refcnt': '1\n',
    '/sys/module/kpatch_1/initstate': 'live\n',
    '/sys/module/kpatch_1/taint': 'OEK\n',
    '/sys/module/kpatch_1/coresize': '16384\n',
    '/sys/module/kpatch_2/refcnt': '1\n',
    '/sys/module/kpatch_2/initstate': 'live\n',
    '/sys/module/kpatch_2/taint': 'OEK\n',
    '/sys/module/kpatch_2/coresize': '20480\n',
    '/sys/module/xfs/refcnt': '2\n',
    '/sys/module/xfs/initstate': 'live\n',
    '/sys/module/xfs/taint': '\n',
    '/sys/module/xfs/coresize': '1556480\n',
    '/sys/module/xfs/holders/.keep': '',
    '/sys/module/printk/parameters/time': 'Y\n',
    ...thread(1, 1, 'systemd', 'S', 0, false, 1, ['ep_poll+0x2b3/0x3f0', 'do_epoll_wait+0xb5/0xd0', ...USER]),
    ...thread(2, 2, 'kthreadd', 'S', 0, true, 1, ['kthreadd+0x14e/0x170', 'ret_from_fork+0x35/0x40']),
    ...thread(412, 412, 'kworker/2:1', 'D', 2, true, 0, ['__schedule+0x2c8/0x770', 'schedule+0x32/0xa0', 'xfs_buf_ioend+0x151/0x2d0 [xfs]', 'xfs_buf_ioend_work+0x15/0x20 [xfs]', 'process_one_work+0x1a7/0x360', 'worker_thread+0x30/0x390', 'kthread+0x10b/0x130', 'ret_from_fork+0x35/0x40']),
    ...thread(900, 900, 'rsyslogd', 'S', 1, false, 1, ['do_select+0x5b1/0x7e0', ...USER]),
    ...thread(900, 903, 'rs:main Q:Reg', 'S', 1, false, 0, ['futex_wait_queue_me+0xb6/0x110', 'futex_wait+0xe2/0x250', ...USER]),
    '/proc/self': '',
  }
}

/** The host's tree in memory; write-only sysfs files as the kernel makes them (EACCES even for root). */
function host (files: Record<string, string>): { vol: InstanceType<typeof Volume>, fs: CaptureFs } {
  const vol = Volume.fromJSON(files)
  for (const path of Object.keys(files)) {
    if (/\/(force|signal)$/.test(path)) vol.chmodSync(path, 0o200)
    if (path.endsWith('/.keep')) vol.unlinkSync(path)
  }
  return { vol, fs: vol.promises as unknown as CaptureFs }
}

test('a RHEL 8 kpatch host: patches in /proc/modules order, unreadable write-only files, threads, kthreads, modules by role, symbol sizes', async t => {
  const { fs } = host(rhel8Host())
  const fx = await capture({ root: '/', fs, durationMs: 0, intervalMs: 1000 })
  t.deepEqual(fx.kernel, { release: '4.18.0-553.el8_10.x86_64', tainted: 36864, cpus: 4 })
  t.is(fx.stackOrderFrom, 'proc-modules')
  const [snap] = fx.snapshots
  t.is(snap.uptimeMs, 5021330)
  t.deepEqual(snap.patches.map(p => p.name), ['kpatch_1', 'kpatch_2'], 'oldest module first')
  t.deepEqual(snap.patches[1], {
    name: 'kpatch_2',
    attributes: { enabled: '1', transition: '1', force: null, signal: null },
    objects: [{ name: 'xfs', attributes: {}, functions: [{ name: 'xfs_buf_ioend', sympos: 1 }] }],
  })
  t.deepEqual(snap.modules.map(m => [m.name, m.role, m.refcnt, m.holders]), [
    ['kpatch_1', 'livepatch', '1', null],
    ['kpatch_2', 'livepatch', '1', null],
    ['xfs', 'target', '2', []],
  ], 'printk (parameters only, a built-in) is not a module to replay')
  t.deepEqual(snap.tasks.map(x => [x.pid, x.tid, x.comm, x.kthread, x.patchState]), [
    [1, 1, 'systemd', false, 1],
    [2, 2, 'kthreadd', true, 1],
    [412, 412, 'kworker/2:1', true, 0],
    [900, 900, 'rsyslogd', false, 1],
    [900, 903, 'rs:main Q:Reg', false, 0],
  ])
  t.deepEqual(snap.tasks[2].stack!.slice(1, 3), ['schedule+0x32/0xa0', 'xfs_buf_ioend+0x151/0x2d0 [xfs]'])
  t.deepEqual(fx.symbols.filter(s => s.object !== 'vmlinux' || s.name === 'cmdline_proc_show'), [
    { object: 'vmlinux', name: 'cmdline_proc_show', type: 't', size: 0x40 },
    { object: 'xfs', name: 'xfs_buf_ioend', type: 't', size: 0x2d0 },
    { object: 'xfs', name: 'xfs_buf_ioend_work', type: 't', size: 0x30 },
    { object: 'xfs', name: 'xfs_buf_read_map', type: 't', size: null },
    { object: 'kpatch_1', name: 'livepatch_cmdline_proc_show', type: 't', size: 0x80 },
    { object: 'kpatch_1', name: 'kpatch_1_init', type: 't', size: null },
    { object: 'kpatch_2', name: 'livepatch_xfs_buf_ioend', type: 't', size: 0x300 },
    { object: 'kpatch_2', name: 'kpatch_2_init', type: 't', size: null },
  ], 'sizes from the next function of the same object; the last one of each is unknown')

  // and it replays: the 4.19 ABI (a signal file), the kworker holding kpatch_2
  const sim = new Simulator({ clock: new VirtualClock(), ...replayBootOptions(fx) })
  const summary = await replay(sim, fx)
  t.is(summary.profile, '4.19')
  t.deepEqual(summary.transition, { patch: 'kpatch_2', target: 'patching', pending: 2 })
  t.is(await sim.fs.readFile('/proc/412/stack'), (await sim.fs.readFile('/proc/412/task/412/stack')))
  t.regex(await sim.fs.readFile('/proc/412/stack'), /\[<0>\] xfs_buf_ioend\+0x151\/0x2d0 \[xfs\]\n/)
})

test('a task that exits and a patch that is freed between listing and reading are left out', async t => {
  const { vol, fs: base } = host(rhel8Host())
  const fs: CaptureFs = {
    ...base,
    readdir: (async (path: string, ...rest: unknown[]) => {
      const names = await (base.readdir as (...a: unknown[]) => Promise<string[]>)(path, ...rest)
      // the moment after /proc was listed, rsyslogd exits
      if (path === '/proc') vol.rmSync('/proc/900', { recursive: true })
      return names
    }) as CaptureFs['readdir'],
    opendir: (async (path: string, ...rest: unknown[]) => {
      const dir = await (base.opendir as (...a: unknown[]) => Promise<unknown>)(path, ...rest)
      if (path === '/sys/kernel/livepatch') vol.rmSync('/sys/kernel/livepatch/kpatch_1', { recursive: true })
      return dir
    }) as CaptureFs['opendir'],
  }
  const fx = await capture({ root: '/', fs, durationMs: 0, intervalMs: 1000 })
  t.deepEqual(fx.snapshots[0].tasks.map(x => x.tid), [1, 2, 412])
  t.deepEqual(fx.snapshots[0].patches.map(p => p.name), ['kpatch_2'])
})

test('read as non-root: no kallsyms addresses, no stacks; what is readable is kept', async t => {
  const files = rhel8Host()
  files['/proc/kallsyms'] = files['/proc/kallsyms'].replace(/^[0-9a-f]{16}/gm, '0000000000000000')
  const { vol, fs } = host(files)
  for (const path of Object.keys(files)) if (path.endsWith('/stack')) vol.chmodSync(path, 0)
  const fx = await capture({ root: '/', fs, durationMs: 0, intervalMs: 1000 })
  t.true(fx.snapshots[0].tasks.every(x => x.stack === null))
  t.deepEqual(fx.snapshots[0].tasks.map(x => x.patchState), [1, 1, 0, 1, 0])
  t.true(fx.symbols.length > 0)
  t.true(fx.symbols.every(s => s.size === null))
})

test('a timeline: later snapshots hold only what changed, and who exited', async t => {
  const { vol, fs } = host(rhel8Host())
  let n = 0
  const fx = await capture({
    root: '/',
    fs,
    durationMs: 2,
    intervalMs: 1,
    onSnapshot: () => {
      n++
      if (n === 1) {
        // the worker leaves the patched function; rsyslogd's thread exits
        vol.writeFileSync('/proc/412/task/412/stack', '[<0>] worker_thread+0x30/0x390\n[<0>] kthread+0x10b/0x130\n')
        vol.rmSync('/proc/900/task/903', { recursive: true })
      }
      if (n === 2) {
        vol.writeFileSync('/proc/412/task/412/patch_state', '1\n')
        vol.writeFileSync('/sys/kernel/livepatch/kpatch_2/transition', '0\n')
      }
    },
  })
  t.is(fx.snapshots.length, 3)
  t.deepEqual(fx.snapshots[1].tasks.map(x => x.tid), [412])
  t.deepEqual(fx.snapshots[1].exited, [903])
  t.deepEqual(fx.snapshots[2].tasks.map(x => [x.tid, x.patchState]), [[412, 1]])
  t.is(fx.snapshots[2].patches[1].attributes.transition, '0')
})

test('a root without livepatch support is refused with one clear error', async t => {
  const { fs } = host({ '/proc/sys/kernel/osrelease': '6.1.0\n', '/proc/1/task/1/comm': 'init\n' })
  await t.throwsAsync(capture({ root: '/', fs, durationMs: 0, intervalMs: 1000 }), {
    instanceOf: RecordError,
    message: 'cannot read /sys/kernel/livepatch: not a kernel with livepatch support (CONFIG_LIVEPATCH), or / is not the root of one',
  })
})
