// task: scripted tasks (`klpsim task add|wake|exit|list`): tasks that sleep or
// run with a given stack, so that a transition stalls on them on purpose.
import { formatSymbolOffset } from '../../kernel/kallsyms'
import { ScriptedTaskError } from '../../kernel/scripted'
import type { Task } from '../../kernel/task'
import type { RequestHandler } from '../context'
import { BadRequest, ControlRequest, field } from '../protocol'
import { refused, Refused } from './refused'

export interface TaskInfo {
  pid: number
  tgid: number
  comm: string
  kthread: boolean
  /** The state letter /proc shows (S, D, R, I...). */
  state: string
  /** /proc/<pid>/patch_state: -1 idle, 0 unpatched, 1 patched. */
  patchState: number
  /** TIF_PATCH_PENDING: it has not switched to the transition's target yet. */
  pending: boolean
  onCpu: boolean
  unreliable: boolean
  ignoresSignals: boolean
  /** scripted (klpsim task add), replay (a recording), kernel, ... */
  origin: string
  /** Frames innermost first, as /proc/<pid>/stack prints them (without the `[<0>] `). */
  stack: string[]
}

export type TaskReply = { task: TaskInfo } | { tasks: TaskInfo[] } | Refused

const MAX_FRAMES = 200

export function taskInfo (t: Task): TaskInfo {
  return {
    pid: t.pid,
    tgid: t.tgid,
    comm: t.comm,
    kthread: t.kthread,
    state: t.state,
    patchState: t.patchState,
    pending: t.patchPending,
    onCpu: t.onCpu,
    unreliable: t.unreliable,
    ignoresSignals: t.ignoresSignals,
    origin: t.origin,
    stack: t.framesInnermostFirst().map(f => formatSymbolOffset(f.sym, f.off)),
  }
}

function target (req: ControlRequest): string {
  const name = field.string(req, 'name')
  if (name.length === 0 || name.length > 64) throw new BadRequest('"name" must be a task name or pid')
  return name
}

export const task: RequestHandler = {
  type: 'task',
  describe: 'scripted tasks: {op: add, name, stack: [FUNC[+OFF]...] innermost first, kthread?, cpu?, running?, unreliable?, ignoreSignals?} | {op: wake|exit, name: NAME or PID} | {op: list, all?}',
  handle (req, ctx): TaskReply {
    const op = field.string(req, 'op')
    const k = ctx.sim.kernel
    try {
      switch (op) {
        case 'add': {
          const stack = field.strings(req, 'stack')
          if (stack.length > MAX_FRAMES) throw new BadRequest(`"stack" has more than ${MAX_FRAMES} frames`)
          const t = k.scripted.add({
            name: field.string(req, 'name'),
            stack,
            kthread: field.boolean(req, 'kthread'),
            cpu: field.integer(req, 'cpu', 0, 4096),
            running: field.boolean(req, 'running'),
            unreliable: field.boolean(req, 'unreliable'),
            ignoreSignals: field.boolean(req, 'ignoreSignals'),
          })
          return { task: taskInfo(t) }
        }
        case 'wake': return { task: taskInfo(k.scripted.wake(target(req))) }
        case 'exit': return { task: taskInfo(k.scripted.exit(target(req))) }
        case 'list': {
          const tasks = field.boolean(req, 'all') ? k.sched.visible() : k.scripted.list()
          return { tasks: tasks.map(taskInfo) }
        }
        default:
          throw new BadRequest(`unknown task op '${op}' (add, wake, exit, list)`)
      }
    } catch (e) {
      if (e instanceof ScriptedTaskError) return refused(e.message, e.errno)
      throw e
    }
  },
}
