import type { Argv, CommandModule } from 'yargs'
import { Daemon } from '../../daemon'
import { RealClock } from '../../kernel/clock'
import { bootOptions, BootArgs, simulatorOptions } from '../sim-options'
import { defaultMountpoint } from '../instance'
import { prepareReplay, REPLAY_DESCRIPTION } from '../replay-option'

interface MountArgs extends BootArgs { dir?: string, 'allow-other': boolean, replay?: string }

export const command: CommandModule<object, MountArgs> = {
  command: 'mount [dir]',
  describe: 'boot a simulated kernel and serve it through FUSE at DIR (default ./mountpoint), in the foreground',
  builder: (y: Argv) => bootOptions(y
    .positional('dir', { type: 'string', describe: 'mount point' })
    .option('allow-other', { type: 'boolean', default: false, describe: 'let other users access the mount (default: owner only)' })
    .option('replay', { type: 'string', describe: REPLAY_DESCRIPTION })) as Argv<MountArgs>,
  handler: async (args) => {
    const simOpts = simulatorOptions(args)
    const replay = args.replay === undefined ? undefined : await prepareReplay(args.replay, args)
    const daemon = new Daemon({ ...simOpts, ...replay?.boot, mountpoint: args.dir ?? defaultMountpoint(), allowOther: args['allow-other'] })
    if (replay) process.stdout.write(await replay.apply(daemon.sim))
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
      // `klpsim umount DIR` (or umount -l) from elsewhere ends the daemon too
      void daemon.unmounted().then(stop)
    })
    // the machine goes with its mount: pending timers (a worker polling in a
    // loop, a replay's timeline) must not keep this process alive
    if (k.clock instanceof RealClock) k.clock.stopAll()
  },
}
