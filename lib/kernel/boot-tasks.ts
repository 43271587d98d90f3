// The tasks a freshly booted machine has: init, kthreadd and per-CPU kernel
// threads, a few daemons and a shell, each asleep where such a task sleeps.
import type { Kernel } from './kernel'
import { framesFromNames, park } from './parked'
import type { Frame } from './task'

/** Boot tasks tolerate symbol tables that lack some of their functions. */
const stack = (k: Kernel, names: readonly string[]): Frame[] => framesFromNames(k, names, true)

const KTHREAD_TAIL = ['kthread', 'ret_from_fork', 'ret_from_fork_asm']
const SYSCALL_TAIL = ['do_syscall_64', 'entry_SYSCALL_64_after_hwframe']
const EPOLL = ['__schedule', 'schedule', 'schedule_hrtimeout_range', 'ep_poll', 'do_epoll_wait', '__x64_sys_epoll_wait', ...SYSCALL_TAIL]
const SMPBOOT = ['__schedule', 'schedule', 'smpboot_thread_fn', ...KTHREAD_TAIL]

export function bootTasks (k: Kernel): void {
  const s = k.sched
  const init = s.create({ comm: 'systemd', kthread: false, pid: s.pidBase + 1 })
  park(k, init, { frames: stack(k, EPOLL), state: 'S' })
  const kthreadd = s.create({ comm: 'kthreadd', kthread: true, pid: s.pidBase + 2, parent: undefined })
  park(k, kthreadd, { frames: stack(k, ['__schedule', 'schedule', 'kthreadd', 'ret_from_fork', 'ret_from_fork_asm']), state: 'S' })
  const kt = (comm: string, frames: string[], cpu?: number, state: 'S' | 'I' | 'D' = 'S') => {
    const t = s.create({ comm, kthread: true, cpu, parent: kthreadd })
    park(k, t, { frames: stack(k, frames), state })
    return t
  }
  kt('rcu_preempt', ['__schedule', 'schedule', 'schedule_timeout', 'rcu_gp_fqs_loop', 'rcu_gp_kthread', ...KTHREAD_TAIL], 0, 'I')
  for (let cpu = 0; cpu < s.ncpus; cpu++) {
    kt(`cpuhp/${cpu}`, SMPBOOT, cpu)
    kt(`migration/${cpu}`, SMPBOOT, cpu)
    kt(`ksoftirqd/${cpu}`, SMPBOOT, cpu)
  }
  kt('khungtaskd', ['__schedule', 'schedule', 'schedule_timeout', 'watchdog', ...KTHREAD_TAIL], 0, 'I')
  kt('kswapd0', ['__schedule', 'schedule', 'kswapd', ...KTHREAD_TAIL], 0)
  kt('kauditd', ['__schedule', 'schedule', 'kauditd_thread', ...KTHREAD_TAIL], 0)

  const user = (comm: string, frames: string[], parent = init) => {
    const t = s.create({ comm, kthread: false, parent })
    park(k, t, { frames: stack(k, frames), state: 'S' })
    return t
  }
  user('systemd-journal', EPOLL)
  user('systemd-udevd', EPOLL)
  const containerd = user('containerd', ['__schedule', 'schedule', 'futex_wait_queue', '__futex_wait', 'futex_wait', 'do_futex', '__x64_sys_futex', ...SYSCALL_TAIL])
  for (let i = 0; i < 3; i++) {
    const th = s.create({ comm: 'containerd', kthread: false, threadOf: containerd })
    park(k, th, { frames: stack(k, ['__schedule', 'schedule', 'futex_wait_queue', '__futex_wait', 'futex_wait', 'do_futex', '__x64_sys_futex', ...SYSCALL_TAIL]), state: 'S' })
  }
  const sshd = user('sshd', ['__schedule', 'schedule', 'schedule_hrtimeout_range', 'do_sys_poll', '__x64_sys_poll', ...SYSCALL_TAIL])
  const bash = user('bash', ['__schedule', 'schedule', 'schedule_timeout', 'n_tty_read', 'tty_read', 'vfs_read', 'ksys_read', '__x64_sys_read', ...SYSCALL_TAIL], sshd)
  void bash
}
