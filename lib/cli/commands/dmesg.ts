// dmesg: util-linux dmesg over the simulated kernel's log.
import type { DmesgRecord, DmesgReply } from '../../control/requests/dmesg'
import { RequestAborted } from '../../control/client'
import { call, Instance, MOUNT_OPTION, resolveInstance, runTool } from '../daemon-client'
import { getopt, has, lastValue } from '../getopt'
import { toolCommand } from '../tool'

const USAGE = `
Usage:
 dmesg [options]

Display or control the (simulated) kernel ring buffer.

Options:
 -C, --clear                 clear the kernel ring buffer
 -c, --read-clear            read and clear all messages
 -k, --kernel                display kernel messages
 -l, --level <list>          restrict output to defined levels
 -r, --raw                   print the raw message buffer
 -t, --notime                don't show any timestamp with messages
 -u, --userspace             display userspace messages
 -w, --follow                wait for new messages
 -W, --follow-new            wait and print only new messages
 -x, --decode                decode facility and level to readable string
     --mount <dir>           the klpsim instance (default $KLPSIM_MOUNT, else ./mountpoint)

 -h, --help                  display this help
 -V, --version               display version
`

const LEVELS = ['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug']
const FACILITIES = ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'res0', 'res1', 'res2', 'res3',
  'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7']

export interface DmesgFormat {
  notime: boolean
  raw: boolean
  decode: boolean
}

/** One record as util-linux prints it: `[%5ld.%06ld] text` unless told otherwise. */
export function formatRecord (r: DmesgRecord, f: DmesgFormat): string {
  const sec = Math.floor(r.ts / 1_000_000)
  const usec = r.ts % 1_000_000
  let out = ''
  if (f.raw) out += `<${(r.facility << 3) | r.level}>`
  else if (f.decode) out += `${(FACILITIES[r.facility] ?? String(r.facility)).padEnd(6)}:${(LEVELS[r.level] ?? String(r.level)).padEnd(6)}: `
  if (!f.notime) out += `[${String(sec).padStart(5)}.${String(usec).padStart(6, '0')}] `
  return out + r.text + '\n'
}

interface Filter { levels: Set<number> | null, kernelOnly: boolean, userOnly: boolean }

function selected (r: DmesgRecord, f: Filter): boolean {
  if (f.levels && !f.levels.has(r.level)) return false
  if (f.kernelOnly && r.facility !== 0) return false
  if (f.userOnly && r.facility === 0) return false
  return true
}

/** Writes, resolving false once stdout is gone (a closed pipe ends dmesg -w quietly). */
function write (text: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (text === '') return resolve(true)
    process.stdout.write(text, (err) => resolve(!err))
  })
}

/** Prints new records as they come, until SIGINT/SIGTERM or a closed stdout. */
async function follow (inst: Instance, from: number, fmt: DmesgFormat, filter: Filter, stop: AbortSignal): Promise<number> {
  let next = from
  try {
    while (!stop.aborted) {
      const reply = await call<DmesgReply>('dmesg', inst, { type: 'dmesg', after: next, waitMs: 10_000 }, { signal: stop })
      next = reply.next
      if (!await write(reply.records.filter(r => selected(r, filter)).map(r => formatRecord(r, fmt)).join(''))) break
    }
  } catch (e) {
    if (!(e instanceof RequestAborted)) throw e
  }
  return 0
}

/** From here on, an interrupt ends dmesg -w quietly with status 0. */
function interruptible (): { signal: AbortSignal, release: () => void } {
  const stop = new AbortController()
  const onSignal = (): void => stop.abort()
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.stdout.once('error', onSignal)
  return {
    signal: stop.signal,
    release: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}

export const command = toolCommand('dmesg', 'print or control the simulated kernel log (util-linux dmesg)', (argv) => runTool(async () => {
  const parsed = getopt(argv, {
    short: 'CckLl:rtuwWxhV',
    long: [
      { name: 'clear', arg: 'none', key: 'C' },
      { name: 'read-clear', arg: 'none', key: 'c' },
      { name: 'kernel', arg: 'none', key: 'k' },
      { name: 'level', arg: 'required', key: 'l' },
      { name: 'raw', arg: 'none', key: 'r' },
      { name: 'notime', arg: 'none', key: 't' },
      { name: 'userspace', arg: 'none', key: 'u' },
      { name: 'follow', arg: 'none', key: 'w' },
      { name: 'follow-new', arg: 'none', key: 'W' },
      { name: 'decode', arg: 'none', key: 'x' },
      { name: 'color', arg: 'optional', key: 'L' },
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'version', arg: 'none', key: 'V' },
      MOUNT_OPTION,
    ],
  })
  if (!parsed.ok) {
    process.stderr.write(`dmesg: ${parsed.error}\nTry 'dmesg --help' for more information.\n`)
    return 1
  }
  const o = parsed.options
  if (has(o, 'h')) { process.stdout.write(USAGE); return 0 }
  if (has(o, 'V')) { process.stdout.write('dmesg from util-linux 2.38.1 (klpsim)\n'); return 0 }
  if (parsed.operands.length) {
    process.stderr.write(`dmesg: bad usage\nTry 'dmesg --help' for more information.\n`)
    return 1
  }
  let levels: Set<number> | null = null
  const levelArg = lastValue(o, 'l')
  if (levelArg !== undefined) {
    levels = new Set()
    for (const name of levelArg.split(',')) {
      const i = LEVELS.indexOf(name)
      if (i < 0) {
        process.stderr.write(`dmesg: unknown level '${name}'\n`)
        return 1
      }
      levels.add(i)
    }
  }
  const fmt: DmesgFormat = { notime: has(o, 't'), raw: has(o, 'r'), decode: has(o, 'x') }
  const filter: Filter = { levels, kernelOnly: has(o, 'k'), userOnly: has(o, 'u') }
  const inst = resolveInstance(lastValue(o, 'mount'))

  if (has(o, 'C')) {
    await call('dmesg', inst, { type: 'dmesg', read: false, clear: true })
    return 0
  }
  if (!has(o, 'w') && !has(o, 'W')) {
    const reply = await call<DmesgReply>('dmesg', inst, { type: 'dmesg', clear: has(o, 'c') })
    await write(reply.records.filter(r => selected(r, filter)).map(r => formatRecord(r, fmt)).join(''))
    return 0
  }
  const stop = interruptible()
  try {
    if (has(o, 'W')) {
      const now = await call<DmesgReply>('dmesg', inst, { type: 'dmesg', after: Number.MAX_SAFE_INTEGER }, { signal: stop.signal })
      return await follow(inst, now.next, fmt, filter, stop.signal)
    }
    const reply = await call<DmesgReply>('dmesg', inst, { type: 'dmesg', clear: has(o, 'c') }, { signal: stop.signal })
    if (!await write(reply.records.filter(r => selected(r, filter)).map(r => formatRecord(r, fmt)).join(''))) return 0
    return await follow(inst, reply.next, fmt, filter, stop.signal)
  } catch (e) {
    if (e instanceof RequestAborted) return 0
    throw e
  } finally {
    stop.release()
  }
}))
