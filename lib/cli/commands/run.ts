import { existsSync } from 'node:fs'
import type { Argv, CommandModule } from 'yargs'
import { bootOptions, BootArgs, simulatorOptions, UsageError } from '../sim-options'
import { prepareReplay, REPLAY_DESCRIPTION } from '../replay-option'

interface RunArgs extends BootArgs { replay?: string, '--'?: Array<string | number>, _: Array<string | number> }

export const command: CommandModule<object, RunArgs> = {
  command: 'run',
  describe: 'run a command in a private mount namespace where the simulated kernel is the system: klpsim run [options] -- CMD [ARGS]',
  builder: (y: Argv) => bootOptions(y.parserConfiguration({ 'populate--': true, 'unknown-options-as-args': false }) as Argv)
    .option('replay', { type: 'string', describe: REPLAY_DESCRIPTION })
    .usage('klpsim run [--mode ftrace|stop-machine] [--kernel PROFILE] [--clock ...] [--kallsyms FILE] [--replay FIXTURE] -- CMD [ARGS]') as Argv<RunArgs>,
  handler: async (args) => {
    const argv = (args['--'] ?? []).map(String)
    const extra = args._.slice(1).map(String)
    const cmd = [...extra, ...argv]
    if (cmd.length === 0) throw new UsageError('klpsim run: no command given (klpsim run [options] -- CMD [ARGS])')
    const simOpts = simulatorOptions(args)
    const replay = args.replay === undefined ? undefined : await prepareReplay(args.replay, args)
    const { runSandbox } = await import('../../sandbox/run')
    const { SandboxUnavailable } = await import('../../sandbox/preflight')
    try {
      const status = await runSandbox({
        command: cmd[0],
        args: cmd.slice(1),
        sim: { ...simOpts, ...replay?.boot },
        // CMD's stdout is its own: what was replayed goes to stderr
        prepare: replay && (async (daemon) => {
          process.stderr.write(await replay.apply(daemon.sim) + shadowedPidsNote(replay.recordedPids))
        }),
      })
      process.exitCode = status
    } catch (e) {
      if (e instanceof SandboxUnavailable) {
        process.stderr.write(`klpsim: ${e.message}\n`)
        process.exitCode = e.exitCode
        return
      }
      throw e
    }
  },
}

/** The sandbox shares the host's pids: a recorded pid that is also a live host process is shown as the recorded task. */
function shadowedPidsNote (pids: number[]): string {
  const live = pids.filter(pid => existsSync(`/proc/${pid}`))
  if (live.length === 0) return ''
  const shown = live.length > 8 ? `${live.slice(0, 8).join(', ')} and ${live.length - 8} more` : live.join(', ')
  return `klpsim: note: recorded pid(s) ${shown} are live processes on this host too; inside the sandbox /proc/<pid> shows the recorded task\n`
}
