// Tasks users script to reproduce situations on purpose: a task asleep (or running)
// with a given stack, woken or killed on demand (`klpsim task`, module API), and
// the tasks a replayed recording brings along (`klpsim mount --replay`).
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

/** An Error carrying the errno the control channel and the module API report. */
export class ScriptedTaskError extends Error {
  constructor (message: string, readonly errno: number) { super(message) }
}

const NAME = /^[\w./:@+-]{1,15}$/

export class ScriptedTasks {
  /** Every task under this registry's control, in the order they came. */
  private readonly tasks: Task[] = []

  constructor (private readonly k: Kernel) {}

  /** Adds a task; throws a ScriptedTaskError (with errno) for bad specs. */
  add (spec: ScriptedTaskSpec): Task {
    const name = spec.name.trim()
    if (!NAME.test(name)) throw new ScriptedTaskError(`invalid task name '${spec.name}' (1-15 characters of [A-Za-z0-9_./:@+-])`, EINVAL)
    if (/^\d+$/.test(name)) throw new ScriptedTaskError(`invalid task name '${name}': a number would read as a pid`, EINVAL)
    const same = this.list().find(t => t.comm === name)
    if (same) throw new ScriptedTaskError(`a scripted task named '${name}' exists (pid ${same.pid})`, EEXIST)
    if (!spec.stack.length) throw new ScriptedTaskError('a scripted task needs at least one frame', EINVAL)
    if (spec.cpu !== undefined && (!Number.isInteger(spec.cpu) || spec.cpu < 0 || spec.cpu >= this.k.sched.ncpus)) {
      throw new ScriptedTaskError(`invalid cpu ${spec.cpu} (0..${this.k.sched.ncpus - 1})`, EINVAL)
    }
    let frames
    try {
      frames = framesFromNames(this.k, spec.stack)
    } catch (e) {
      throw new ScriptedTaskError((e as Error).message, EINVAL)
    }
    const parent = spec.kthread ? this.k.sched.find(this.k.sched.pidBase + 2) : this.k.sched.find(this.k.sched.pidBase + 1)
    const task = this.k.sched.create({ comm: name, kthread: !!spec.kthread, cpu: spec.cpu, parent })
    task.origin = 'scripted'
    task.unreliable = !!spec.unreliable
    task.ignoresSignals = !!spec.ignoreSignals
    park(this.k, task, { frames, state: spec.running ? 'R' : 'S' })
    task.onCpu = !!spec.running
    this.tasks.push(task)
    return task
  }

  /** Puts a task created elsewhere (a replayed one) under control: wake, exit and list reach it. */
  adopt (task: Task): void {
    if (!this.tasks.includes(task)) this.tasks.push(task)
  }

  /**
   * A task by pid (all digits) or by name. A name several live tasks share is
   * refused with their pids, so that the caller can pick one.
   */
  find (nameOrPid: string): Task | undefined {
    const live = this.list()
    if (/^\d+$/.test(nameOrPid)) return live.find(t => t.pid === Number(nameOrPid))
    const named = live.filter(t => t.comm === nameOrPid)
    if (named.length > 1) {
      throw new ScriptedTaskError(`several tasks are named '${nameOrPid}' (pids ${named.map(t => t.pid).join(', ')}): name one by its pid`, EINVAL)
    }
    return named[0]
  }

  private need (nameOrPid: string): Task {
    const t = this.find(nameOrPid)
    if (!t) {
      const known = this.list().map(x => x.comm)
      const hint = known.length ? ` (scripted tasks: ${[...new Set(known)].join(', ')})` : ' (there are none)'
      throw new ScriptedTaskError(`no scripted task '${nameOrPid}'${hint}`, ENOENT)
    }
    return t
  }

  /** Lets the task return through its frames (a kernel thread then exits, a user task is back in user space). */
  wake (nameOrPid: string): Task {
    const t = this.need(nameOrPid)
    t.onCpu = false
    if (!t.wake('wakeup', ['S', 'D', 'I', 'R'])) {
      // already out of the kernel
      t.stack.length = 0
    }
    return t
  }

  /** Kills the task. */
  exit (nameOrPid: string): Task {
    const t = this.need(nameOrPid)
    this.k.sched.exit(t)
    this.forget(t)
    return t
  }

  /** Live tasks under control, oldest first (exited ones are dropped). */
  list (): Task[] {
    for (const t of [...this.tasks]) if (t.exited) this.forget(t)
    return [...this.tasks]
  }

  private forget (t: Task): void {
    const i = this.tasks.indexOf(t)
    if (i >= 0) this.tasks.splice(i, 1)
  }
}
