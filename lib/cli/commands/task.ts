// klpsim task add|wake|exit|list: scripted tasks that sleep (or run) with a given
// stack, so that a transition stalls on them on purpose.
import type { Argv, CommandModule } from 'yargs'
import type { TaskInfo } from '../../control/requests/task'
import { UsageError } from '../sim-options'
import { mountOption, MountArg, out, withInstance, worldRequest } from '../world-client'

interface AddArgs extends MountArg {
  name: string
  stack?: string | string[]
  kthread: boolean
  cpu?: number
  running: boolean
  unreliable: boolean
  'ignore-signals': boolean
}
interface TargetArgs extends MountArg { name: string }
interface ListArgs extends MountArg { all: boolean, json: boolean }

/** --stack FUNC[+OFF][,FUNC...] (also given several times) as frames, innermost first. */
export function parseStackOption (v: string | string[] | undefined): string[] {
  if (v === undefined) throw new UsageError('--stack is required (FUNC[+OFF][,FUNC...], innermost frame first)')
  const frames = (Array.isArray(v) ? v : [v]).flatMap(s => String(s).split(',')).map(s => s.trim())
  if (frames.some(f => f === '')) throw new UsageError(`empty frame in --stack '${([] as string[]).concat(v).join(',')}'`)
  for (const f of frames) {
    if (!/^[^+\s,]+(\+(0x[0-9a-fA-F]+|\d+))?$/.test(f)) throw new UsageError(`bad frame '${f}' in --stack (use FUNC or FUNC+OFF, e.g. schedule+0x2e)`)
  }
  return frames
}

export function formatTaskTable (tasks: readonly TaskInfo[]): string {
  const rows = tasks.map(t => [
    String(t.pid).padStart(7),
    t.comm.padEnd(16),
    t.state.padEnd(5),
    String(t.patchState).padStart(5),
    (t.pending ? 'yes' : 'no').padEnd(7),
    (t.origin + (t.onCpu ? ',on-cpu' : '') + (t.unreliable ? ',unreliable' : '') + (t.ignoresSignals ? ',no-signals' : '')).padEnd(9),
    t.stack.join(', ') || '(in user space)',
  ].join(' '))
  return ['    PID COMM             STATE PATCH PENDING ORIGIN    STACK (innermost first)', ...rows].join('\n') + '\n'
}

const add: CommandModule<object, AddArgs> = {
  command: 'add <name>',
  describe: 'add a task asleep with the given stack; prints its pid (it is listed under /proc like any task)',
  builder: (y: Argv) => mountOption(y
    .positional('name', { type: 'string', demandOption: true, describe: 'the task\'s comm (1-15 characters)' })
    .option('stack', { type: 'string', describe: 'its kernel stack, innermost frame first: FUNC[+OFF][,FUNC...]' })
    .option('kthread', { type: 'boolean', default: false, describe: 'a kernel thread (woken, it exits; fake signals do not move it)' })
    .option('cpu', { type: 'number', describe: 'the CPU it belongs to' })
    .option('running', { type: 'boolean', default: false, describe: 'on a CPU: not switchable until it leaves the kernel' })
    .option('unreliable', { type: 'boolean', default: false, describe: 'its stack cannot be unwound reliably' })
    .option('ignore-signals', { type: 'boolean', default: false, describe: 'the transition\'s fake signals do not move it' })
    .parserConfiguration({ 'parse-positional-numbers': false })) as Argv<AddArgs>,
  handler: (args) => withInstance('task add', args, async (inst) => {
    const stack = parseStackOption(args.stack)
    if (args.cpu !== undefined && (!Number.isInteger(args.cpu) || args.cpu < 0)) throw new UsageError(`invalid --cpu '${args.cpu}' (a CPU number)`)
    const r = await worldRequest<{ task: TaskInfo }>('task add', inst, {
      type: 'task', op: 'add', name: String(args.name), stack, kthread: args.kthread, cpu: args.cpu, running: args.running, unreliable: args.unreliable, ignoreSignals: args['ignore-signals'],
    })
    await out(`${r.task.pid}\n`)
  }),
}

function targetCommand (op: 'wake' | 'exit', describe: string): CommandModule<object, TargetArgs> {
  return {
    command: `${op} <name>`,
    describe,
    builder: (y: Argv) => mountOption(y.positional('name', { type: 'string', demandOption: true, describe: 'the task\'s name or pid' })
      .parserConfiguration({ 'parse-positional-numbers': false })) as Argv<TargetArgs>,
    handler: (args) => withInstance(`task ${op}`, args, async (inst) => {
      await worldRequest('task ' + op, inst, { type: 'task', op, name: String(args.name) })
    }),
  }
}

const list: CommandModule<object, ListArgs> = {
  command: 'list',
  describe: 'list the scripted (and replayed) tasks: pid, comm, state, patch_state, pending, stack',
  builder: (y: Argv) => mountOption(y
    .option('all', { type: 'boolean', default: false, describe: 'every task /proc lists, not only the scripted ones' })
    .option('json', { type: 'boolean', default: false, describe: 'print the tasks as a JSON array' })) as Argv<ListArgs>,
  handler: (args) => withInstance('task list', args, async (inst) => {
    const r = await worldRequest<{ tasks: TaskInfo[] }>('task list', inst, { type: 'task', op: 'list', all: args.all })
    await out(args.json ? JSON.stringify(r.tasks, null, 2) + '\n' : formatTaskTable(r.tasks))
  }),
}

export const command: CommandModule = {
  command: 'task <command>',
  describe: 'scripted tasks: add a task with a given stack, wake it, let it exit, list them',
  builder: (y: Argv) => y
    .command(add)
    .command(targetCommand('wake', 'let the task return through its frames (a kernel thread then exits, a user task goes back to user space)'))
    .command(targetCommand('exit', 'kill the task'))
    .command(list)
    .demandCommand(1, 'a task command is required: add, wake, exit or list'),
  handler: () => {},
}
