import type { Argv, CommandModule } from 'yargs'
import { resolve } from 'node:path'
import { isMountPoint, lazyUnmount } from '../../fuse'
import { defaultMountpoint } from '../instance'
import { UsageError } from '../sim-options'

export const command: CommandModule<object, { dir?: string }> = {
  command: 'umount [dir]',
  describe: 'unmount a klpsim mount (also one left behind by a killed daemon)',
  builder: (y: Argv) => y.positional('dir', { type: 'string', describe: 'mount point (default ./mountpoint)' }) as Argv<{ dir?: string }>,
  handler: async (args) => {
    const dir = resolve(args.dir ?? defaultMountpoint())
    if (!await isMountPoint(dir)) throw new UsageError(`${dir} is not mounted`)
    await lazyUnmount(dir)
  },
}
