// Recordings written by hand, as `klpsim record` would capture them on a real
// host: for the replay's engine-level tests.
import { RECORD_FORMAT, RecordedModule, RecordedPatch, RecordedSymbol, RecordedTask, RecordFixture, Snapshot } from '../../../lib/record/format'

export function task (tid: number, comm: string, patchState: number | null, stack: string[] | null, extra: Partial<RecordedTask> = {}): RecordedTask {
  return { pid: tid, tid, comm, state: 'S', kthread: false, ppid: 1, patchState, stack, ...extra }
}

export function module (name: string, role: RecordedModule['role'], extra: Partial<RecordedModule> = {}): RecordedModule {
  return { name, role, refcnt: '0', initstate: 'live', taint: '', coresize: '16384', holders: [], ...extra }
}

export function snapshot (atMs: number, uptimeMs: number | null, patches: RecordedPatch[], modules: RecordedModule[], tasks: RecordedTask[], exited: number[] = []): Snapshot {
  return { atMs, uptimeMs, patches, modules, tasks, exited }
}

export function fixture (snapshots: Snapshot[], opts: { release?: string, tainted?: number, symbols?: RecordedSymbol[], cpus?: number | null } = {}): RecordFixture {
  return {
    format: RECORD_FORMAT,
    recorder: 'hand-written',
    recordedAt: '2026-01-01T00:00:00.000Z',
    root: '/',
    kernel: { release: opts.release ?? '5.14.0-427.el9.x86_64', tainted: opts.tainted ?? 36864, cpus: opts.cpus === undefined ? 2 : opts.cpus },
    stackOrderFrom: 'proc-modules',
    intervalMs: 1000,
    durationMs: 0,
    symbols: opts.symbols ?? [],
    snapshots,
  }
}

export const USER_TAIL = ['do_syscall_64+0x5c/0x90', 'entry_SYSCALL_64_after_hwframe+0x72/0xdc']
export const KTHREAD_TAIL = ['kthread+0xe8/0x110', 'ret_from_fork+0x2c/0x50']

export const KWORKER_STACK = ['__schedule+0x20a/0x550', 'schedule+0x5a/0xc0', 'xfs_buf_ioend+0x151/0x2d0 [xfs]', 'xfs_buf_ioend_work+0x15/0x20 [xfs]', 'process_one_work+0x1e2/0x3b0', 'worker_thread+0x50/0x3a0', ...KTHREAD_TAIL]
export const KWORKER_IDLE = ['__schedule+0x20a/0x550', 'schedule+0x5a/0xc0', 'worker_thread+0xb8/0x3a0', ...KTHREAD_TAIL]

/**
 * A 5.14 host (5.10 ABI: no patched/replace/stack_order files) stuck patching
 * with kpatch_fix: a kworker sleeps in the patched xfs_buf_ioend [xfs], bash is
 * back in user space but not switched yet, sshd has switched.
 */
export function stuckKpatchHost (): RecordFixture {
  const patch: RecordedPatch = {
    name: 'kpatch_fix',
    attributes: { enabled: '1', transition: '1', force: null },
    objects: [
      { name: 'vmlinux', attributes: {}, functions: [{ name: 'cmdline_proc_show', sympos: 1 }, { name: 'tcp_v4_rcv', sympos: 2 }] },
      { name: 'xfs', attributes: {}, functions: [{ name: 'xfs_buf_ioend', sympos: 1 }] },
    ],
  }
  const tasks = [
    task(1, 'systemd', 1, ['ep_poll+0x2b3/0x3f0', 'do_epoll_wait+0xb5/0xd0', '__x64_sys_epoll_wait+0x60/0x100', ...USER_TAIL], { ppid: 0 }),
    task(2, 'kthreadd', 1, ['kthreadd+0x14e/0x170', 'ret_from_fork+0x2c/0x50'], { kthread: true, ppid: 0 }),
    task(812, 'kworker/1:2', 0, KWORKER_STACK, { kthread: true, ppid: 2, state: 'D' }),
    task(1400, 'sshd', 1, ['do_sys_poll+0x3ca/0x570', '__x64_sys_poll+0xb5/0x150', ...USER_TAIL]),
    task(2210, 'bash', 0, [], { ppid: 1400 }),
    task(2211, 'bash', 0, [], { pid: 2210, ppid: 1400 }),
    task(3000, 'mystery', 1, ['0xffffffffc0a51234', 'schedule+0x5a/0xc0']),
  ]
  return fixture([
    snapshot(0, 1_000_000, [patch], [
      module('kpatch_fix', 'livepatch', { refcnt: '1', taint: 'OEK', coresize: '49152' }),
      module('xfs', 'target', { refcnt: '2', taint: '', coresize: '1990656' }),
    ], tasks),
  ], {
    symbols: [
      { object: 'vmlinux', name: 'tcp_v4_rcv', type: 't', size: 0x40 },
      { object: 'vmlinux', name: 'tcp_v4_rcv', type: 't', size: 0xe10 },
      { object: 'kpatch_fix', name: 'cmdline_proc_show', type: 't', size: 0x30 },
      { object: 'kpatch_fix', name: 'tcp_v4_rcv', type: 't', size: 0xe40 },
      { object: 'kpatch_fix', name: 'xfs_buf_ioend', type: 't', size: 0x2e0 },
      { object: 'xfs', name: 'xfs_buf_ioend', type: 't', size: 0x2d0 },
      { object: 'xfs', name: 'xfs_buf_ioend_work', type: 't', size: 0x20 },
    ],
  })
}
