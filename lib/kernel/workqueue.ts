// Workqueues: per-CPU worker pools whose kworker threads run work items through
// worker_thread → process_one_work → the work function, so a sleeping work
// function sits on a real kworker stack.
import type { Ctx } from './context'
import type { Kernel } from './kernel'
import type { KFunc, Ksym } from './kallsyms'
import type { Task } from './task'

export interface WorkStruct {
  /** The work function (a kernel or module function symbol, its name, or code without a symbol). */
  func: Ksym | string | KFunc
  data?: unknown
  pending: boolean
  running: boolean
  /** Resolved when the current run finishes. */
  done?: Promise<void>
  finish?: () => void
}

export function createWork (func: Ksym | string | KFunc, data?: unknown): WorkStruct {
  return { func, data, pending: false, running: false }
}

interface Worker { task: Task, busy: boolean, id: number }

export class WorkerPool {
  readonly queue: WorkStruct[] = []
  readonly workers: Worker[] = []
  private nextId = 0
  constructor (private readonly kernel: Kernel, readonly cpu: number, readonly unbound: boolean) {}

  private workerName (id: number): string {
    return this.unbound ? `kworker/u${this.kernel.sched.ncpus * 2}:${id}` : `kworker/${this.cpu}:${id}`
  }

  /** Starts a new worker thread (create_worker). */
  spawn (): Worker {
    const id = this.nextId++
    const w: Worker = { task: undefined as never, busy: false, id }
    w.task = this.kernel.sched.kthreadRun('worker_thread', { pool: this, worker: w }, this.workerName(id), this.unbound ? undefined : this.cpu)
    this.workers.push(w)
    return w
  }

  enqueue (work: WorkStruct): void {
    this.queue.push(work)
    const idle = this.workers.find(w => !w.busy && w.task.sleeping)
    if (idle) idle.task.wake('wakeup')
    else if (!this.workers.some(w => !w.busy)) this.spawn()
  }

  /** worker_thread's loop, run on the worker's kthread. */
  async run (ctx: Ctx, worker: Worker): Promise<void> {
    for (;;) {
      const work = this.queue.shift()
      if (!work) {
        worker.busy = false
        ctx.task.state = 'I'
        const reason = await ctx.call('schedule')
        if (reason === 'exit') return
        continue
      }
      worker.busy = true
      if (!this.workers.some(w => !w.busy)) this.spawn()
      work.pending = false
      work.running = true
      try {
        await ctx.call('process_one_work', work)
      } catch (e) {
        this.kernel.reportInternalError('work item', e)
      } finally {
        work.running = false
        work.finish?.()
        work.done = undefined
        work.finish = undefined
      }
    }
  }
}

export class Workqueues {
  readonly pools: WorkerPool[] = []
  readonly unbound: WorkerPool

  constructor (kernel: Kernel) {
    for (let cpu = 0; cpu < kernel.sched.ncpus; cpu++) this.pools.push(new WorkerPool(kernel, cpu, false))
    this.unbound = new WorkerPool(kernel, -1, true)
  }

  /** Starts the initial kworkers of every pool. */
  boot (): void {
    for (const p of this.pools) p.spawn()
    this.unbound.spawn()
  }

  /** queue_work on the system workqueue (the current CPU's pool). */
  queueWork (work: WorkStruct, cpu = 0): boolean {
    if (work.pending) return false
    work.pending = true
    if (!work.done) work.done = new Promise(resolve => { work.finish = resolve })
    this.pools[cpu % this.pools.length].enqueue(work)
    return true
  }

  /** flush_work: waits until the work item is idle. */
  async flushWork (work: WorkStruct): Promise<boolean> {
    if (!work.pending && !work.running) return false
    await work.done
    return true
  }
}
