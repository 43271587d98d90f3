import type { Argv, CommandModule } from 'yargs'
import { bootOptions, BootArgs, simulatorOptions, UsageError } from '../sim-options'

interface RunArgs extends BootArgs { '--'?: Array<string | number>, _: Array<string | number> }

export const command: CommandModule<object, RunArgs> = {
  command: 'run',
  describe: 'run a command in a private mount namespace where the simulated kernel is the system: klpsim run [options] -- CMD [ARGS]',
  builder: (y: Argv) => bootOptions(y.parserConfiguration({ 'populate--': true, 'unknown-options-as-args': false }) as Argv)
    .usage('klpsim run [--mode ftrace|stop-machine] [--kernel PROFILE] [--clock ...] [--kallsyms FILE] -- CMD [ARGS]') as Argv<RunArgs>,
  handler: async (args) => {
    const argv = (args['--'] ?? []).map(String)
    const extra = args._.slice(1).map(String)
    const cmd = [...extra, ...argv]
    if (cmd.length === 0) throw new UsageError('klpsim run: no command given (klpsim run [options] -- CMD [ARGS])')
    const { runSandbox } = await import('../../sandbox/run')
    const { SandboxUnavailable } = await import('../../sandbox/preflight')
    try {
      const status = await runSandbox({ command: cmd[0], args: cmd.slice(1), sim: simulatorOptions(args) })
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
