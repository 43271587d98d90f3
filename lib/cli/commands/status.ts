// klpsim status [--json] [--watch [--interval DURATION]]: the patch stack, which
// version of every patched function is live, and the transition with the tasks
// that hold it and why.
import type { Argv, CommandModule } from 'yargs'
import { RequestAborted } from '../../control/client'
import { formatStatus, StatusReport } from '../../status'
import { UsageError } from '../sim-options'
import { durationArg, mountOption, MountArg, out, withInstance, worldRequest } from '../world-client'

interface StatusArgs extends MountArg { json: boolean, watch: boolean, interval?: string }

/** ANSI: cursor home, then clear the screen. */
const REDRAW = '\x1b[H\x1b[2J'

function render (report: StatusReport, json: boolean, watching: boolean): string {
  if (!json) return formatStatus(report)
  // one report per line while watching (a JSON stream); pretty otherwise
  return watching ? JSON.stringify(report) + '\n' : JSON.stringify(report, null, 2) + '\n'
}

/** Resolves after ms, or at once when stopped. */
function pause (ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (stop.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      stop.removeEventListener('abort', done)
      resolve()
    }
    stop.addEventListener('abort', done)
  })
}

export const command: CommandModule<object, StatusArgs> = {
  command: 'status',
  describe: 'the livepatch status: patch stack, live version of every patched function, the transition and the tasks holding it',
  builder: (y: Argv) => mountOption(y
    .option('json', { type: 'boolean', default: false, describe: 'the report as JSON (format klpsim-status/1; one line per report with --watch)' })
    .option('watch', { type: 'boolean', default: false, describe: 'redraw the report until interrupted' })
    .option('interval', { type: 'string', describe: 'with --watch: time between reports (default 1s)' })) as Argv<StatusArgs>,
  handler: (args) => withInstance('status', args, async (inst) => {
    if (args.interval !== undefined && !args.watch) throw new UsageError('--interval goes with --watch')
    const intervalMs = args.interval === undefined ? 1000 : durationArg(args.interval, '--interval')
    if (intervalMs < 10) throw new UsageError(`--interval '${args.interval}' is too short (at least 10ms)`)
    const fetch = async (signal?: AbortSignal): Promise<StatusReport> =>
      (await worldRequest<{ report: StatusReport }>('status', inst, { type: 'status' }, { signal })).report
    if (!args.watch) {
      await out(render(await fetch(), args.json, false))
      return
    }
    const stop = new AbortController()
    const onSignal = (): void => stop.abort()
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    process.stdout.once('error', onSignal)
    const tty = process.stdout.isTTY === true && !args.json
    try {
      while (!stop.signal.aborted) {
        const report = await fetch(stop.signal)
        const text = render(report, args.json, true)
        const frame = tty
          ? `${REDRAW}klpsim status of ${inst.mountpoint}, every ${intervalMs / 1000} s (Ctrl-C to stop)\n\n${text}`
          : (args.json ? text : text + '\n')
        if (!await out(frame)) break
        await pause(intervalMs, stop.signal)
      }
    } catch (e) {
      if (!(e instanceof RequestAborted)) throw e
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }),
}
