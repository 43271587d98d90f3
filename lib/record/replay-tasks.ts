// The recorded tasks in a replayed kernel: created with their recorded pids,
// comms and stacks, asleep (or running) where the recording saw them; moved
// along the timeline as the recording saw them move.
import type { Kernel } from '../kernel/kernel'
import { park, ParkOptions } from '../kernel/parked'
import type { Frame, Task, TaskState } from '../kernel/task'
import { parseStackFrame, RecordedTask } from './format'

interface Replayed {
  task: Task
  /** The sleep loop's frames and state while it runs one (mutated to move the task). */
  parked: ParkOptions | null
  /** The recorded stack last applied, to see what changed. */
  stackKey: string
}

const SLEEP_STATES: readonly TaskState[] = ['S', 'D', 'I', 'R']

function stateOf (rec: RecordedTask): TaskState {
  const s = (rec.state ?? 'S') as TaskState
  return SLEEP_STATES.includes(s) ? s : 'S'
}

export class ReplayedTasks {
  private readonly byTid = new Map<number, Replayed>()
  /** Frames no symbol could be found for (raw addresses, functions of unknown objects). */
  unresolvedFrames = 0

  constructor (private readonly k: Kernel) {}

  get (tid: number): Task | undefined { return this.byTid.get(tid)?.task }
  all (): Task[] { return [...this.byTid.values()].map(r => r.task).filter(t => !t.exited) }

  /** Frames innermost first from recorded stack lines, each on the function of the size the line shows. */
  frames (stack: readonly string[] | null): Frame[] {
    const out: Frame[] = []
    for (const line of stack ?? []) {
      const f = parseStackFrame(line)
      if (!f) { this.unresolvedFrames++; continue }
      const candidates = this.k.kallsyms.matches(f.module, f.name).filter(s => s.isText)
      const sym = candidates.find(s => s.size === f.size) ?? candidates[0]
      if (!sym) { this.unresolvedFrames++; continue }
      out.push({ sym, off: f.off })
    }
    return out
  }

  /** Whether every frame of the stack names a function the kernel has now. */
  resolvable (stack: readonly string[] | null): boolean {
    return (stack ?? []).every(line => {
      const f = parseStackFrame(line)
      return !f || this.k.kallsyms.matches(f.module, f.name).some(s => s.isText)
    })
  }

  /** Creates the task as recorded: asleep in its frames, or in user space when it has none. */
  create (rec: RecordedTask): Task | undefined {
    if (this.byTid.has(rec.tid) || this.k.sched.find(rec.tid)) return undefined
    const leader = rec.tid !== rec.pid ? this.byTid.get(rec.pid)?.task : undefined
    const parent = rec.ppid ? this.k.sched.find(rec.ppid) : undefined
    const task = this.k.sched.create({
      pid: rec.tid,
      comm: rec.comm || '?',
      kthread: rec.kthread ?? false,
      threadOf: leader && !leader.exited ? leader : undefined,
      parent: leader ? undefined : parent,
    })
    task.origin = 'replay'
    const frames = this.frames(rec.stack)
    const r: Replayed = { task, parked: null, stackKey: JSON.stringify(rec.stack) }
    if (frames.length) {
      r.parked = { frames, state: stateOf(rec) }
      park(this.k, task, r.parked)
    } else {
      task.state = stateOf(rec)
    }
    this.byTid.set(rec.tid, r)
    this.k.scripted.adopt(task)
    return task
  }

  /** A later snapshot's view of the task: a new comm, or a new stack it now sleeps in. */
  update (rec: RecordedTask): Task | undefined {
    const r = this.byTid.get(rec.tid)
    if (!r || r.task.exited) return this.create(rec)
    const task = r.task
    if (rec.comm) task.comm = rec.comm.slice(0, 15)
    const stackKey = JSON.stringify(rec.stack)
    if (stackKey === r.stackKey) return task
    r.stackKey = stackKey
    const frames = this.frames(rec.stack)
    const state = stateOf(rec)
    if (r.parked && task.sleeping) {
      // it woke, ran, and sleeps elsewhere now: the next switch attempt sees the new stack
      r.parked.frames = frames
      r.parked.state = state
      this.k.sched.parkWithFrames(task, frames, state)
    } else if (frames.length) {
      r.parked = { frames, state }
      park(this.k, task, r.parked)
    } else {
      task.stack.length = 0
      task.state = state
    }
    return task
  }

  exit (tid: number): void {
    const r = this.byTid.get(tid)
    if (r && !r.task.exited) this.k.sched.exit(r.task)
  }
}
