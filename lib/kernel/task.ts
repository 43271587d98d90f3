// Simulated tasks: kernel threads, user tasks and per-CPU idle tasks, each with a
// kernel call stack of (function, offset) frames kept by the dispatch path.
import type { Ksym } from './kallsyms'
import type { Ctx } from './context'

export interface Frame { sym: Ksym, off: number }

/** The kernel's task states as /proc shows them. */
export type TaskState = 'R' | 'S' | 'D' | 'I' | 'T' | 'Z' | 'X'

export const TASK_STATE_NAMES: Record<TaskState, string> = {
  R: 'R (running)', S: 'S (sleeping)', D: 'D (disk sleep)', I: 'I (idle)', T: 'T (stopped)', Z: 'Z (zombie)', X: 'X (dead)',
}

export class Task {
  readonly stack: Frame[] = []
  state: TaskState = 'R'
  /** On a CPU right now (a user task spinning in user space, a scripted --running task). */
  onCpu = false
  /** The task's kernel stack cannot be unwound reliably. */
  unreliable = false
  /** Sleeps with TASK_FREEZABLE (the livepatch scheduler hook applies). */
  freezable = false
  /** Fault injection: fake signals do not move this task. */
  ignoresSignals = false
  /** Not listed under /proc (the caller standing for host processes). */
  hidden = false
  exited = false
  patchState = -1
  patchPending = false
  parent: Task | undefined
  /** Tasks in this task's thread group (the leader lists itself first). */
  readonly threads: Task[] = []
  /** Wakes the task from its current sleep; set while it sleeps. */
  private waker: ((reason: WakeReason) => void) | undefined
  /** Why the last sleep ended. */
  lastWake: WakeReason = 'timer'
  ctx!: Ctx
  readonly startUs: number
  /** Free-form label for scripted tasks and status views (e.g. "scripted"). */
  origin = 'kernel'

  constructor (
    readonly pid: number,
    readonly tgid: number,
    public comm: string,
    readonly kthread: boolean,
    public cpu: number,
    readonly idle: boolean,
    startUs: number,
  ) { this.startUs = startUs }

  get sleeping (): boolean { return this.waker !== undefined }

  /** Blocks until wake() is called. */
  sleepUntilWoken (state: TaskState): Promise<WakeReason> {
    this.state = state
    return new Promise(resolve => {
      this.waker = (reason) => { this.waker = undefined; this.state = 'R'; this.lastWake = reason; resolve(reason) }
    })
  }

  /** wake_up_state: wakes the task if it sleeps in one of the given states. */
  wake (reason: WakeReason = 'wakeup', states: readonly TaskState[] = ['S', 'D', 'I']): boolean {
    if (!this.waker || !states.includes(this.state)) return false
    this.waker(reason)
    return true
  }

  /** Innermost frame first, as /proc/<pid>/stack and stack traces list them. */
  framesInnermostFirst (): Frame[] {
    return [...this.stack].reverse()
  }
}

export type WakeReason = 'timer' | 'wakeup' | 'signal' | 'exit'
