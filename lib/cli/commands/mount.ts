import type { Argv, CommandModule } from 'yargs'
import { Daemon } from '../../daemon'
import { bootOptions, BootArgs, simulatorOptions } from '../sim-options'
import { defaultMountpoint } from '../instance'

interface MountArgs extends BootArgs { dir?: string, 'allow-other': boolean }

export const command: CommandModule<object, MountArgs> = {
  command: 'mount [dir]',
  describe: 'boot a simulated kernel and serve it through FUSE at DIR (default ./mountpoint), in the foreground',
  builder: (y: Argv) => bootOptions(y
    .positional('dir', { type: 'string', describe: 'mount point' })
    .option('allow-other', { type: 'boolean', default: false, describe: 'let other users access the mount (default: owner only)' })) as Argv<MountArgs>,
  handler: async (args) => {
    const daemon = new Daemon({ ...simulatorOptions(args), mountpoint: args.dir ?? defaultMountpoint(), allowOther: args['allow-other'] })
    await daemon.start()
    const k = daemon.sim.kernel
    process.stdout.write(`klpsim: ${k.release} (${daemon.sim.mode}) mounted at ${daemon.mountpoint}\n`)
    await new Promise<void>((resolve) => {
      let stopping = false
      const stop = (): void => {
        if (stopping) return
        stopping = true
        daemon.stop().then(resolve, (err) => {
          process.stderr.write(`klpsim: unmount failed: ${err instanceof Error ? err.message : err}\n`)
          process.exitCode = 1
          resolve()
        })
      }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      process.once('SIGHUP', stop)
    })
  },
}
