// clock: the simulated kernel's time (`klpsim clock`). A virtual clock moves only
// when told; a real or scaled clock moves by itself and refuses to be pushed.
import { Clock, RealClock, VirtualClock } from '../../kernel/clock'
import type { Simulator } from '../../simulator'
import type { RequestHandler } from '../context'
import { BadRequest, ControlRequest, field } from '../protocol'
import { refused, Refused } from './refused'

export interface ClockInfo {
  kind: 'real' | 'scaled' | 'virtual'
  /** Simulated time per real time (1 for real; N for scaled:N); null for virtual. */
  scale: number | null
  uptimeUs: number
  /** Virtual clock: timers waiting for time to move, and when the next is due (ms from now). */
  pendingTimers: number | null
  nextTimerInMs: number | null
}

export interface ClockMoved extends ClockInfo {
  /** How much simulated time passed. */
  advancedMs: number
  /** run-until-idle: no timer was left when it stopped (false: the limit was reached first). */
  idle?: boolean
}

export type ClockReply = ClockInfo | ClockMoved | Refused

/** The longest single move: a day of simulated time. */
export const MAX_ADVANCE_MS = 86_400_000

export function clockInfo (clock: Clock): ClockInfo {
  const now = clock.nowUs()
  if (clock instanceof VirtualClock) {
    const next = clock.nextDueUs()
    return { kind: 'virtual', scale: null, uptimeUs: now, pendingTimers: clock.pending, nextTimerInMs: next === undefined ? null : Math.max(0, (next - now) / 1000) }
  }
  return { kind: clock.kind, scale: clock instanceof RealClock ? clock.scale : 1, uptimeUs: now, pendingTimers: null, nextTimerInMs: null }
}

// one move at a time per machine: two interleaved advances would move time backwards
const moving = new WeakMap<Simulator, Promise<unknown>>()

function serialized<T> (sim: Simulator, fn: () => Promise<T>): Promise<T> {
  const before = moving.get(sim) ?? Promise.resolve()
  const run = before.then(fn, fn)
  moving.set(sim, run.catch(() => undefined))
  return run
}

function duration (req: ControlRequest, name: string): number | undefined {
  const v = req[name]
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_ADVANCE_MS) throw new BadRequest(`"${name}" must be a number of milliseconds in 0..${MAX_ADVANCE_MS}`)
  return v
}

export const clock: RequestHandler = {
  type: 'clock',
  describe: 'the kernel clock: {op: show} | {op: advance, ms} | {op: run-until-idle, limitMs?} (the last two on a virtual clock only)',
  async handle (req, ctx): Promise<ClockReply> {
    const op = field.string(req, 'op')
    const c = ctx.sim.kernel.clock
    if (op === 'show') return clockInfo(c)
    if (op !== 'advance' && op !== 'run-until-idle') throw new BadRequest(`unknown clock op '${op}' (show, advance, run-until-idle)`)
    const ms = op === 'advance' ? duration(req, 'ms') : duration(req, 'limitMs')
    if (op === 'advance' && ms === undefined) throw new BadRequest('"ms" is required')
    if (!(c instanceof VirtualClock)) {
      const how = c.kind === 'real' ? 'real time' : `real time scaled by ${(c as RealClock).scale}`
      return refused(`the kernel clock of ${ctx.mountpoint} is ${c.kind} (${how}) and moves by itself; 'klpsim clock ${op}' needs a daemon started with --clock virtual`)
    }
    return serialized(ctx.sim, async () => {
      const start = c.nowUs()
      let idle: boolean | undefined
      if (op === 'advance') {
        await c.advance(ms!)
      } else {
        await c.runUntilIdle(ms ?? 3_600_000)
        idle = c.pending === 0
      }
      const info = clockInfo(c)
      return { ...info, advancedMs: (info.uptimeUs - start) / 1000, ...(idle === undefined ? {} : { idle }) }
    })
  },
}
