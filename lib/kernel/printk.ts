// The kernel log: a ring of records read through /dev/kmsg and dmesg.
import { Clock } from './clock'

export const KERN_EMERG = 0
export const KERN_ALERT = 1
export const KERN_CRIT = 2
export const KERN_ERR = 3
export const KERN_WARNING = 4
export const KERN_NOTICE = 5
export const KERN_INFO = 6
export const KERN_DEBUG = 7

export const LOG_KERN = 0
export const LOG_USER = 1

/** The level a record gets from /dev/kmsg writes without a <N> prefix (default_message_loglevel). */
export const MESSAGE_LOGLEVEL_DEFAULT = 4
export const CONSOLE_LOGLEVEL_DEFAULT = 7
export const CONSOLE_LOGLEVEL_MOTORMOUTH = 15

export interface LogRecord {
  readonly seq: number
  readonly tsUs: number
  readonly level: number
  readonly facility: number
  readonly text: string
}

export class Printk {
  private records: LogRecord[] = []
  private first = 0 // seq of records[0]
  private nextSeq = 0
  private readonly listeners = new Set<(r: LogRecord) => void>()
  /** Kernel variable console_loglevel (modules such as test_klp_state change it). */
  consoleLoglevel = CONSOLE_LOGLEVEL_DEFAULT
  private readonly onceKeys = new Set<string>()

  constructor (private readonly clock: Clock, readonly capacity = 200_000) {}

  /** Appends one record; the text is stored without its trailing newline. */
  log (level: number, text: string, facility = LOG_KERN): LogRecord {
    const rec: LogRecord = {
      seq: this.nextSeq++,
      tsUs: this.clock.nowUs(),
      level: level & 7,
      facility,
      text: text.endsWith('\n') ? text.slice(0, -1) : text,
    }
    this.records.push(rec)
    if (this.records.length > this.capacity) {
      const drop = this.records.length - this.capacity
      this.records.splice(0, drop)
      this.first += drop
    }
    for (const l of this.listeners) l(rec)
    return rec
  }

  /** printk_once: only the first call with this key logs. */
  logOnce (key: string, level: number, text: string): void {
    if (this.onceKeys.has(key)) return
    this.onceKeys.add(key)
    this.log(level, text)
  }

  /** A write(2) to /dev/kmsg: optional <N> prefix, default facility LOG_USER. */
  devkmsgWrite (data: string): void {
    let level = MESSAGE_LOGLEVEL_DEFAULT
    let facility = LOG_USER
    let text = data
    const m = /^<(\d+)>/.exec(text)
    if (m) {
      const prio = Number(m[1])
      level = prio & 7
      // user space may not log with the kernel facility
      facility = (prio >> 3) || LOG_USER
      text = text.slice(m[0].length)
    }
    this.log(level, text, facility)
  }

  get firstSeq (): number { return this.first }
  get endSeq (): number { return this.nextSeq }

  /** The record with this sequence number, or undefined if it was overwritten or not yet written. */
  get (seq: number): LogRecord | undefined {
    return this.records[seq - this.first]
  }

  all (): readonly LogRecord[] { return this.records }

  subscribe (listener: (r: LogRecord) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Empties the buffer (dmesg -C / syslog CLEAR): later readers start after it. */
  clear (): void {
    this.first = this.nextSeq
    this.records = []
  }
}

/** `[%5lu.%06lu] text` as dmesg prints a record. */
export function formatDmesgLine (r: LogRecord): string {
  const sec = Math.floor(r.tsUs / 1_000_000)
  const usec = r.tsUs % 1_000_000
  return `[${String(sec).padStart(5, ' ')}.${String(usec).padStart(6, '0')}] ${r.text}`
}

/** One /dev/kmsg read: `<prio>,<seq>,<usec>,<flags>;<escaped text>\n`. */
export function formatKmsgRecord (r: LogRecord): string {
  let body = ''
  for (const ch of Buffer.from(r.text, 'utf8')) {
    if (ch < 0x20 || ch >= 0x7f || ch === 0x5c) body += '\\x' + ch.toString(16).padStart(2, '0')
    else body += String.fromCharCode(ch)
  }
  return `${(r.facility << 3) | r.level},${r.seq},${r.tsUs},-;${body}\n`
}
