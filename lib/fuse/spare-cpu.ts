// Whether this machine has a CPU to spare for busy-polling: polling the event
// loop between FUSE requests saves a thread wake-up per request, but only pays
// when a core would otherwise sit idle; on saturated CPUs it takes time from the
// threads that serve the requests.
import { readFileSync } from 'fs'
import { cpus } from 'os'

/** How often /proc/stat is read while requests keep coming. */
const SAMPLE_MS = 250
/** Idle capacity (in CPUs, counting what this process itself uses) that makes polling worth it. */
const SPARE_CPUS = 1.2

function readStat (): { idle: number, total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal
    const idle = (f[3] ?? 0) + (f[4] ?? 0)
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0)
    return { idle, total }
  } catch {
    return null
  }
}

export class SpareCpu {
  private readonly ncpus = Math.max(1, cpus().length)
  private last = readStat()
  private lastOwn = process.cpuUsage()
  private checkedAt = 0
  private spare = true

  /** True while a CPU is free for polling (re-sampled at most every SAMPLE_MS). */
  available (now: number): boolean {
    if (now - this.checkedAt < SAMPLE_MS) return this.spare
    this.checkedAt = now
    const cur = readStat()
    const own = process.cpuUsage()
    if (this.last && cur && cur.total > this.last.total) {
      const totalTicks = cur.total - this.last.total
      const idleShare = (cur.idle - this.last.idle) / totalTicks
      // our own polling is not a competitor: count it as available
      const ownMicros = (own.user - this.lastOwn.user) + (own.system - this.lastOwn.system)
      const wallMicros = (totalTicks / this.ncpus) * 10_000
      const ownCpus = wallMicros > 0 ? ownMicros / wallMicros : 0
      this.spare = idleShare * this.ncpus + ownCpus >= SPARE_CPUS
    }
    this.last = cur
    this.lastOwn = own
    return this.spare
  }
}
