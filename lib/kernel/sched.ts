// The task list: pid allocation, fork/exit, kernel threads, per-CPU idle tasks,
// and the switch-point hooks other subsystems (livepatch) attach to.
import { Ctx } from './context'
import type { Kernel } from './kernel'
import type { Ksym } from './kallsyms'
import { Frame, Task, TaskState } from './task'

export interface TaskHooks {
  /** copy_process: a new task (child) forked from parent. */
  fork: Array<(parent: Task | undefined, child: Task) => void>
  /** exit_to_user_mode: a task leaves the kernel. */
  returnToUser: Array<(task: Task) => void>
  /** The idle loop of a CPU passes its switch point. */
  idle: Array<(task: Task) => void>
  /** __schedule for a task going to sleep (the livepatch scheduler hook). */
  schedule: Array<(task: Task) => void>
  exit: Array<(task: Task) => void>
}

export interface NewTaskOptions {
  comm: string
  kthread: boolean
  cpu?: number
  parent?: Task
  /** Joins this task's thread group instead of starting a new process. */
  threadOf?: Task
  pid?: number
  hidden?: boolean
}

export class Scheduler {
  private readonly byPid = new Map<number, Task>()
  private readonly order: Task[] = []
  readonly idleTasks: Task[] = []
  readonly hooks: TaskHooks = { fork: [], returnToUser: [], idle: [], schedule: [], exit: [] }
  private nextPid: number
  private rrCpu = 0

  constructor (private readonly kernel: Kernel, readonly ncpus: number, readonly pidBase = 0) {
    this.nextPid = pidBase + 1
    for (let cpu = 0; cpu < ncpus; cpu++) {
      const t = new Task(0, 0, `swapper/${cpu}`, true, cpu, true, 0)
      t.ctx = new Ctx(kernel, t)
      t.state = 'R'
      this.idleTasks.push(t)
    }
  }

  /** All tasks that are not idle tasks, in creation order. */
  tasks (): readonly Task[] { return this.order }

  find (pid: number): Task | undefined { return this.byPid.get(pid) }

  /** Tasks visible in /proc (thread group leaders and their threads). */
  visible (): Task[] { return this.order.filter(t => !t.hidden && !t.exited) }

  allocPid (): number {
    while (this.byPid.has(this.nextPid)) this.nextPid++
    return this.nextPid++
  }

  create (opts: NewTaskOptions): Task {
    const pid = opts.pid ?? this.allocPid()
    if (this.byPid.has(pid)) throw new Error(`pid ${pid} is in use`)
    const cpu = opts.cpu ?? (this.rrCpu++ % this.ncpus)
    const leader = opts.threadOf
    const t = new Task(pid, leader ? leader.tgid : pid, opts.comm.slice(0, 15), opts.kthread, cpu, false, this.kernel.clock.nowUs())
    t.ctx = new Ctx(this.kernel, t)
    t.parent = opts.parent ?? leader?.parent
    t.hidden = opts.hidden ?? false
    if (leader) leader.threads.push(t)
    else t.threads.push(t)
    this.byPid.set(pid, t)
    this.order.push(t)
    for (const h of this.hooks.fork) h(opts.parent ?? leader, t)
    return t
  }

  /** do_exit: the task dies and leaves the task list. */
  exit (task: Task): void {
    if (task.exited) return
    task.exited = true
    task.state = 'X'
    task.stack.length = 0
    for (const h of this.hooks.exit) h(task)
    task.wake('exit', ['S', 'D', 'I', 'T'])
    this.byPid.delete(task.pid)
    const i = this.order.indexOf(task)
    if (i >= 0) this.order.splice(i, 1)
    const leader = task.tgid !== task.pid ? this.byPid.get(task.tgid) : undefined
    if (leader) leader.threads.splice(leader.threads.indexOf(task), 1)
  }

  /**
   * kthread_run: a kernel thread entering threadfn through ret_from_fork/kthread,
   * so its stack holds the frames a real kernel thread has.
   */
  kthreadRun (threadfn: string | Ksym, data: unknown, comm: string, cpu?: number): Task {
    const task = this.create({ comm, kthread: true, cpu, parent: this.find(this.pidBase + 2) })
    queueMicrotask(() => {
      Promise.resolve()
        .then(() => task.ctx.call('ret_from_fork_asm', threadfn, data))
        .catch(e => this.kernel.reportInternalError(`kthread ${comm}`, e))
        .finally(() => this.exit(task))
    })
    return task
  }

  /** Runs the return-to-user switch point for a task leaving the kernel. */
  returnToUser (task: Task): void {
    for (const h of this.hooks.returnToUser) h(task)
  }

  /** __schedule for a task about to sleep: the hook runs for TASK_FREEZABLE sleeps only (6.16+). */
  scheduleHook (task: Task): void {
    if (!task.freezable) return
    for (const h of this.hooks.schedule) h(task)
  }

  /** wake_up_if_idle: the CPU leaves idle and passes its idle-loop switch point. */
  kickIdle (cpu: number): void {
    const idle = this.idleTasks[cpu]
    if (!idle) return
    queueMicrotask(() => { for (const h of this.hooks.idle) h(idle) })
  }

  /**
   * A task that sleeps with a fixed set of frames (boot-time tasks, scripted
   * tasks): frames are given innermost first.
   */
  parkWithFrames (task: Task, frames: Frame[], state: TaskState): void {
    task.stack.length = 0
    for (let i = frames.length - 1; i >= 0; i--) task.stack.push(frames[i])
    task.state = state
  }
}
