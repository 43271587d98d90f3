// klpsim clock [advance DURATION | run-until-idle]: the kernel's time. On a
// daemon started with --clock virtual, timers (transition retries, the fake
// signals, module sleeps) fire only when time is moved here.
import type { Argv, CommandModule } from 'yargs'
import type { ClockInfo, ClockMoved } from '../../control/requests/clock'
import { MAX_ADVANCE_MS } from '../../control/requests/clock'
import { ToolExit } from '../daemon-client'
import { UsageError } from '../sim-options'
import { durationArg, mountOption, MountArg, out, withInstance, worldRequest } from '../world-client'

interface AdvanceArgs extends MountArg { duration: string }
interface IdleArgs extends MountArg { limit?: string }

const seconds = (ms: number): string => `${(ms / 1000).toFixed(3)} s`

export function formatClock (c: ClockInfo): string {
  const kind = c.kind === 'scaled' ? `scaled clock (x${c.scale})` : `${c.kind} clock`
  let line = `${kind}, uptime ${(c.uptimeUs / 1e6).toFixed(6)} s`
  if (c.kind === 'virtual') {
    line += c.pendingTimers ? `; ${c.pendingTimers} timer(s) pending, the next in ${seconds(c.nextTimerInMs ?? 0)}` : '; no timer pending'
  }
  return line + '\n'
}

function limitedDuration (text: string, what: string): number {
  const ms = durationArg(text, what)
  if (ms > MAX_ADVANCE_MS) throw new UsageError(`${what} '${text}' is longer than a day; move time in smaller steps`)
  return ms
}

const advance: CommandModule<object, AdvanceArgs> = {
  command: 'advance <duration>',
  describe: 'move virtual time forward (500ms, 2s, 1m, 100us; a bare number is milliseconds), firing the timers that fall due',
  builder: (y: Argv) => mountOption(y.positional('duration', { type: 'string', demandOption: true })
    .parserConfiguration({ 'parse-positional-numbers': false })) as Argv<AdvanceArgs>,
  handler: (args) => withInstance('clock advance', args, async (inst) => {
    const ms = limitedDuration(args.duration, 'duration')
    const r = await worldRequest<ClockMoved>('clock advance', inst, { type: 'clock', op: 'advance', ms })
    await out(formatClock(r))
  }),
}

const runUntilIdle: CommandModule<object, IdleArgs> = {
  command: 'run-until-idle',
  describe: 'fire timers until none is left (or --limit of virtual time has passed; status 1 if still busy then)',
  builder: (y: Argv) => mountOption(y.option('limit', { type: 'string', describe: 'the most virtual time to let pass (default 1h)' })) as Argv<IdleArgs>,
  handler: (args) => withInstance('clock run-until-idle', args, async (inst) => {
    const limitMs = args.limit === undefined ? undefined : limitedDuration(args.limit, '--limit')
    const r = await worldRequest<ClockMoved>('clock run-until-idle', inst, { type: 'clock', op: 'run-until-idle', limitMs })
    await out(formatClock(r))
    if (!r.idle) {
      const line = `klpsim clock run-until-idle: not idle after ${seconds(r.advancedMs)} of virtual time: ${r.pendingTimers} timer(s) still pending (a task sleeping in a loop, or a transition retrying every second)`
      process.stderr.write(line + '\n')
      throw new ToolExit(1, line)
    }
  }),
}

export const command: CommandModule<object, MountArg> = {
  command: 'clock',
  describe: 'the simulated kernel\'s clock: show it, or move a virtual clock (advance, run-until-idle)',
  builder: (y: Argv) => mountOption(y
    .command(advance)
    .command(runUntilIdle)) as Argv<MountArg>,
  handler: (args) => withInstance('clock', args, async (inst) => {
    const r = await worldRequest<ClockInfo>('clock', inst, { type: 'clock', op: 'show' })
    await out(formatClock(r))
  }),
}
