// dmesg: the kernel log's records from a sequence number on, optionally
// waiting for the next one (dmesg -w), and clearing the buffer (dmesg -C/-c).
import type { LogRecord } from '../../kernel/printk'
import type { RequestHandler } from '../context'
import { BadRequest, field } from '../protocol'

export interface DmesgRecord {
  seq: number
  /** Microseconds since boot. */
  ts: number
  level: number
  facility: number
  text: string
}

export interface DmesgReply {
  records: DmesgRecord[]
  /** The sequence number to ask for next. */
  next: number
}

/** Enough for a whole ring; a reply is one JSON line. */
const MAX_RECORDS = 200_000
const MAX_WAIT_MS = 60_000

function toRecord (r: LogRecord): DmesgRecord {
  return { seq: r.seq, ts: r.tsUs, level: r.level, facility: r.facility, text: r.text }
}

export const dmesg: RequestHandler = {
  type: 'dmesg',
  describe: 'kernel log records: {after?: seq, waitMs?: wait for one when none, clear?: clear after reading, read?: false to only clear}',
  async handle (req, ctx): Promise<DmesgReply> {
    const printk = ctx.sim.kernel.printk
    const after = field.integer(req, 'after', 0, Number.MAX_SAFE_INTEGER)
    const waitMs = field.integer(req, 'waitMs', 0, MAX_WAIT_MS) ?? 0
    const clear = field.boolean(req, 'clear')
    const read = req.read === undefined ? true : field.boolean(req, 'read')
    if (!read && !clear) throw new BadRequest('nothing to do: "read" is false and "clear" is not set')

    const collect = (): DmesgRecord[] => {
      const out: DmesgRecord[] = []
      if (!read) return out
      const from = Math.max(after ?? printk.firstSeq, printk.firstSeq)
      for (let seq = from; seq < printk.endSeq && out.length < MAX_RECORDS; seq++) {
        const r = printk.get(seq)
        if (r) out.push(toRecord(r))
      }
      return out
    }

    let records = collect()
    if (records.length === 0 && read && waitMs > 0 && !ctx.signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer)
          off()
          ctx.signal.removeEventListener('abort', done)
          resolve()
        }
        const timer = setTimeout(done, waitMs)
        const off = printk.subscribe(() => done())
        ctx.signal.addEventListener('abort', done)
      })
      records = collect()
    }
    const next = records.length
      ? records[records.length - 1].seq + 1
      : Math.min(Math.max(after ?? printk.firstSeq, printk.firstSeq), printk.endSeq)
    if (clear) printk.clear()
    return { records, next }
  },
}
