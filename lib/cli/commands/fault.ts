// klpsim fault add|list|clear: fault injection. Each fault sends the simulated
// kernel down the failure path the real kernel takes, with its messages.
import { isAbsolute, relative, resolve } from 'node:path'
import type { Argv, CommandModule } from 'yargs'
import type { FaultInfo } from '../../control/requests/fault'
import { FAULT_KINDS } from '../../faults'
import type { Instance } from '../daemon-client'
import { UsageError } from '../sim-options'
import { mountOption, MountArg, out, withInstance, worldRequest } from '../world-client'

interface AddArgs extends MountArg { kind: string, args?: Array<string | number>, once: boolean }
interface ListArgs extends MountArg { json: boolean }
interface ClearArgs extends MountArg { id?: string }

const KINDS_HELP = 'Kinds and their arguments:\n' + Object.entries(FAULT_KINDS).map(([k, d]) => `  ${k.padEnd(16)} ${d}`).join('\n')

/** attr-read's PATH may be given as the file in the mount (DIR/sys/...): it names the attribute inside it. */
export function pathInMount (inst: Instance, p: string): string {
  const abs = resolve(p)
  const rel = relative(inst.mountpoint, abs)
  if (rel && !rel.startsWith('..') && !isAbsolute(rel)) return '/' + rel
  return p
}

export function formatFaults (faults: readonly FaultInfo[]): string {
  if (!faults.length) return 'no fault is active\n'
  return ['  ID KIND             HITS DESCRIPTION', ...faults.map(f => `${String(f.id).padStart(4)} ${f.kind.padEnd(16)} ${String(f.hits).padStart(4)} ${f.description}`)].join('\n') + '\n'
}

const add: CommandModule<object, AddArgs> = {
  command: 'add <kind> [args..]',
  describe: 'inject a fault; prints its id',
  builder: (y: Argv) => mountOption(y
    .positional('kind', { type: 'string', demandOption: true, describe: 'what fails (see below)' })
    .positional('args', { type: 'string', array: true, describe: 'the kind\'s arguments' })
    .option('once', { type: 'boolean', default: false, describe: 'fire once, then go away' })
    .parserConfiguration({ 'parse-positional-numbers': false })
    .epilog(KINDS_HELP)) as Argv<AddArgs>,
  handler: (args) => withInstance('fault add', args, async (inst) => {
    const kind = String(args.kind)
    let faultArgs = (args.args ?? []).map(String)
    if (kind === 'attr-read' && faultArgs.length) faultArgs = [pathInMount(inst, faultArgs[0]), ...faultArgs.slice(1)]
    const r = await worldRequest<{ fault: FaultInfo }>('fault add', inst, { type: 'fault', op: 'add', kind, args: faultArgs, once: args.once })
    await out(`${r.fault.id}\n`)
  }),
}

const list: CommandModule<object, ListArgs> = {
  command: 'list',
  describe: 'list the active faults: id, kind, hits, what fails',
  builder: (y: Argv) => mountOption(y.option('json', { type: 'boolean', default: false, describe: 'print the faults as a JSON array' })) as Argv<ListArgs>,
  handler: (args) => withInstance('fault list', args, async (inst) => {
    const r = await worldRequest<{ faults: FaultInfo[] }>('fault list', inst, { type: 'fault', op: 'list' })
    await out(args.json ? JSON.stringify(r.faults, null, 2) + '\n' : formatFaults(r.faults))
  }),
}

const clear: CommandModule<object, ClearArgs> = {
  command: 'clear [id]',
  describe: 'remove one fault by id, or all of them',
  builder: (y: Argv) => mountOption(y.positional('id', { type: 'string', describe: 'the fault\'s id (klpsim fault list)' })
    .parserConfiguration({ 'parse-positional-numbers': false })) as Argv<ClearArgs>,
  handler: (args) => withInstance('fault clear', args, async (inst) => {
    let id: number | undefined
    if (args.id !== undefined) {
      if (!/^[1-9]\d{0,14}$/.test(String(args.id))) {
        throw new UsageError(`invalid fault id '${args.id}' (a number from klpsim fault list)`)
      }
      id = Number(args.id)
    }
    await worldRequest('fault clear', inst, { type: 'fault', op: 'clear', id })
  }),
}

export const command: CommandModule = {
  command: 'fault <command>',
  describe: 'fault injection: make the simulated kernel fail where the real one can (add, list, clear)',
  builder: (y: Argv) => y
    .command(add)
    .command(list)
    .command(clear)
    .demandCommand(1, 'a fault command is required: add, list or clear')
    .epilog(KINDS_HELP),
  handler: () => {},
}
