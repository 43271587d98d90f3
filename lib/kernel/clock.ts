// Time for the simulated kernel: real time, real time scaled by N, or a manual
// virtual clock that only moves when told (tests, `--clock virtual`).

export interface Timer { cancel (): void }

export interface Clock {
  readonly kind: 'real' | 'scaled' | 'virtual'
  /** Microseconds since boot. */
  nowUs (): number
  /** Runs cb after ms of simulated time. */
  setTimer (ms: number, cb: () => void): Timer
  sleep (ms: number): Promise<void>
}

export class RealClock implements Clock {
  readonly kind: 'real' | 'scaled'
  private readonly bootNs = process.hrtime.bigint()
  private readonly active = new Set<NodeJS.Timeout>()
  constructor (readonly scale = 1) {
    if (!(scale > 0)) throw new RangeError('clock scale must be positive')
    this.kind = scale === 1 ? 'real' : 'scaled'
  }

  nowUs (): number {
    return Math.floor(Number(process.hrtime.bigint() - this.bootNs) * this.scale / 1000)
  }

  setTimer (ms: number, cb: () => void): Timer {
    const handle = setTimeout(() => { this.active.delete(handle); cb() }, Math.max(0, ms / this.scale))
    this.active.add(handle)
    return { cancel: () => { clearTimeout(handle); this.active.delete(handle) } }
  }

  sleep (ms: number): Promise<void> {
    return new Promise(resolve => this.setTimer(ms, resolve))
  }

  /** Stops every pending timer (shutdown). */
  stopAll (): void {
    for (const h of this.active) clearTimeout(h)
    this.active.clear()
  }
}

interface VirtualTimer { due: number, seq: number, cb: () => void, cancelled: boolean }

/** Lets every pending promise continuation run before time moves on. */
export function settle (): Promise<void> {
  return new Promise(resolve => setImmediate(resolve))
}

export class VirtualClock implements Clock {
  readonly kind = 'virtual' as const
  private us = 0
  private seq = 0
  private timers: VirtualTimer[] = []

  nowUs (): number { return this.us }

  setTimer (ms: number, cb: () => void): Timer {
    const t: VirtualTimer = { due: this.us + Math.max(0, Math.round(ms * 1000)), seq: this.seq++, cb, cancelled: false }
    this.timers.push(t)
    return { cancel: () => { t.cancelled = true } }
  }

  sleep (ms: number): Promise<void> {
    return new Promise(resolve => this.setTimer(ms, resolve))
  }

  /** Number of timers still pending. */
  get pending (): number { return this.timers.filter(t => !t.cancelled).length }

  /** Time of the next pending timer, or undefined. */
  nextDueUs (): number | undefined {
    let best: number | undefined
    for (const t of this.timers) if (!t.cancelled && (best === undefined || t.due < best)) best = t.due
    return best
  }

  /** Advances time by ms, firing due timers in order and letting their continuations run. */
  async advance (ms: number): Promise<void> {
    if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError(`invalid duration: ${ms}`)
    const target = this.us + Math.round(ms * 1000)
    await settle()
    for (;;) {
      const next = this.popDue(target)
      if (!next) break
      this.us = next.due
      next.cb()
      await settle()
    }
    this.us = target
    await settle()
  }

  /** Fires timers until none is left (or the limit of simulated time is reached). */
  async runUntilIdle (limitMs = 3_600_000): Promise<number> {
    const start = this.us
    const limit = start + limitMs * 1000
    await settle()
    for (;;) {
      const next = this.popDue(limit)
      if (!next) break
      this.us = next.due
      next.cb()
      await settle()
    }
    return (this.us - start) / 1000
  }

  private popDue (limit: number): VirtualTimer | undefined {
    let best: VirtualTimer | undefined
    let bestIdx = -1
    for (let i = 0; i < this.timers.length; i++) {
      const t = this.timers[i]
      if (t.cancelled || t.due > limit) continue
      if (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq)) { best = t; bestIdx = i }
    }
    if (best) this.timers.splice(bestIdx, 1)
    if (this.timers.length > 64) this.timers = this.timers.filter(t => !t.cancelled)
    return best
  }
}

/** Parses "250ms", "1.5s", "2m", "100us", or a bare number of milliseconds. */
export function parseDuration (text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|m|h)?\s*$/.exec(text)
  if (!m) throw new RangeError(`invalid duration '${text}' (use e.g. 500ms, 2s, 1m)`)
  const v = Number(m[1])
  switch (m[2]) {
    case 'us': return v / 1000
    case 's': return v * 1000
    case 'm': return v * 60_000
    case 'h': return v * 3_600_000
    default: return v
  }
}
