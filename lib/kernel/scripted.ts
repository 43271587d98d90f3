// Tasks users script to reproduce situations on purpose: a task asleep (or running)
// with a given stack, woken or killed on demand (`klpsim task`, module API).
import { EEXIST, EINVAL, ENOENT } from '../kobject/errno'
import type { Kernel } from './kernel'
import { framesFromNames, park } from './parked'
import type { Task } from './task'

export interface ScriptedTaskSpec {
  name: string
  /** Frames innermost first: FUNC or FUNC+OFF. */
  stack: string[]
  kthread?: boolean
  cpu?: number
  /** On a CPU: not switchable until it leaves the kernel. */
  running?: boolean
  /** Its stack cannot be unwound reliably. */
  unreliable?: boolean
  /** Fake signals do not move it. */
  ignoreSignals?: boolean
}

export class ScriptedTasks {
  private readonly byName = new Map<string, Task>()

  constructor (private readonly k: Kernel) {}

  /** Adds a task; throws an Error with errno for bad specs. */
  add (spec: ScriptedTaskSpec): Task {
    const name = spec.name.trim()
    if (!/^[\w./:@+-]{1,15}$/.test(name)) throw Object.assign(new Error(`invalid task name '${spec.name}' (1-15 characters of [A-Za-z0-9_./:@+-])`), { errno: EINVAL })
    if (this.find(name)) throw Object.assign(new Error(`a scripted task named '${name}' exists`), { errno: EEXIST })
    if (!spec.stack.length) throw Object.assign(new Error('a scripted task needs at least one frame'), { errno: EINVAL })
    if (spec.cpu !== undefined && (!Number.isInteger(spec.cpu) || spec.cpu < 0 || spec.cpu >= this.k.sched.ncpus)) {
      throw Object.assign(new Error(`invalid cpu ${spec.cpu} (0..${this.k.sched.ncpus - 1})`), { errno: EINVAL })
    }
    let frames
    try {
      frames = framesFromNames(this.k, spec.stack)
    } catch (e) {
      throw Object.assign(new Error((e as Error).message), { errno: EINVAL })
    }
    const parent = spec.kthread ? this.k.sched.find(this.k.sched.pidBase + 2) : this.k.sched.find(this.k.sched.pidBase + 1)
    const task = this.k.sched.create({ comm: name, kthread: !!spec.kthread, cpu: spec.cpu, parent })
    task.origin = 'scripted'
    task.unreliable = !!spec.unreliable
    task.ignoresSignals = !!spec.ignoreSignals
    park(this.k, task, { frames, state: spec.running ? 'R' : 'S' })
    task.onCpu = !!spec.running
    this.byName.set(name, task)
    return task
  }

  find (name: string): Task | undefined {
    const t = this.byName.get(name)
    if (t && t.exited) { this.byName.delete(name); return undefined }
    return t
  }

  private need (name: string): Task {
    const t = this.find(name)
    if (!t) throw Object.assign(new Error(`no scripted task named '${name}'`), { errno: ENOENT })
    return t
  }

  /** Lets the task return through its frames (a kernel thread then exits, a user task is back in user space). */
  wake (name: string): Task {
    const t = this.need(name)
    t.onCpu = false
    if (!t.wake('wakeup', ['S', 'D', 'I', 'R'])) {
      // already out of the kernel
      t.stack.length = 0
    }
    return t
  }

  /** Kills the task. */
  exit (name: string): void {
    const t = this.need(name)
    this.k.sched.exit(t)
    this.byName.delete(name)
  }

  list (): Task[] {
    return [...this.byName.keys()].map(n => this.find(n)).filter((t): t is Task => !!t)
  }
}
