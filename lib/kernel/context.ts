// The execution context of simulated code: which task runs it and which module
// owns the code running now. Simulated functions receive it as their first argument.
import type { Kernel } from './kernel'
import type { Ksym } from './kallsyms'
import type { Task, TaskState } from './task'
import type { ModuleInstance } from './module'

export class Ctx {
  /** The module whose code is executing (null for vmlinux code). */
  module: ModuleInstance | null = null

  constructor (readonly kernel: Kernel, readonly task: Task) {}

  /** Calls a kernel function through the dispatch table (ftrace call site, livepatch redirection). */
  call (fn: string | Ksym, ...args: unknown[]): any {
    return this.kernel.dispatch.call(this, fn, args)
  }

  /** msleep(): sleeps uninterruptibly in the calling function. */
  msleep (ms: number): Promise<unknown> {
    return this.call('msleep', ms)
  }

  /** set_current_state + schedule_timeout: sleeps ms (Infinity = until woken). */
  scheduleTimeout (ms: number, state: TaskState = 'D'): Promise<number> {
    this.task.state = state
    return this.call('schedule_timeout', ms)
  }

  get current (): Task { return this.task }
}
