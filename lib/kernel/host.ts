// Host processes mirrored as simulated user tasks: their real system calls cannot
// be observed, so the simulated task makes the system call the process is known
// to loop on (e.g. the selftests' getpid hammers), while the host process lives.
import { existsSync, readFileSync } from 'node:fs'
import type { Kernel } from './kernel'
import type { Task } from './task'

export interface HostProcessOptions {
  /** The syscall entry function the process keeps calling, e.g. __x64_sys_getpid. */
  syscall: string
  /** Simulated time between two calls (default 50 ms). */
  intervalMs?: number
  /** Liveness of the host process (default: /proc/<pid> exists on the host). */
  alive?: (pid: number) => boolean
}

function hostComm (pid: number): string {
  try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() } catch { return `pid${pid}` }
}

const defaultAlive = (pid: number): boolean => existsSync(`/proc/${pid}`)

/** Adopts a host process; undefined if it does not exist or its pid is taken by a simulated task. */
export function adoptHostProcess (k: Kernel, pid: number, opts: HostProcessOptions): Task | undefined {
  const alive = opts.alive ?? defaultAlive
  if (!alive(pid)) return undefined
  const existing = k.sched.find(pid)
  if (existing) return existing.origin === 'host-process' ? existing : undefined
  const task = k.sched.create({ comm: hostComm(pid), kthread: false, pid, parent: k.caller })
  task.origin = 'host-process'
  task.onCpu = true
  const interval = opts.intervalMs ?? 50
  const route = ['entry_SYSCALL_64_after_hwframe', 'do_syscall_64', opts.syscall]
  let sinceCheck = 0
  const tick = (): void => {
    if (task.exited) return
    sinceCheck += interval
    if (sinceCheck >= 200) {
      sinceCheck = 0
      if (!alive(pid)) { k.sched.exit(task); return }
    }
    try {
      const r = k.runSyscall(task, route, () => 0)
      if (r instanceof Promise) r.catch(e => k.reportInternalError(`host process ${pid}`, e))
    } catch (e) {
      k.reportInternalError(`host process ${pid}`, e)
    }
    k.clock.setTimer(interval, tick)
  }
  k.clock.setTimer(0, tick)
  return task
}
