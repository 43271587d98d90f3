import type { Argv, CommandModule } from 'yargs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

interface ExportArgs { dir: string, release?: string }

const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export <dir>',
  describe: 'write a .ko for every module klpsim ships (livepatch-sample.ko, test_klp_*.ko), named as upstream builds them',
  builder: (y: Argv) => y
    .positional('dir', { type: 'string', demandOption: true, describe: 'directory to write into (created if missing)' })
    .option('release', { type: 'string', describe: 'the kernel release to build for (vermagic; default: $KLPSIM_RELEASE, else the simulated kernel\'s)' }) as Argv<ExportArgs>,
  handler: async (args) => {
    const { BUILTIN_MODULES } = await import('../../modules')
    const { builtinKo } = await import('../../module-file')
    try {
      await mkdir(args.dir, { recursive: true })
      for (const m of BUILTIN_MODULES) await writeFile(join(args.dir, m.file), builtinKo(m, args.release ?? (process.env.KLPSIM_RELEASE || undefined)))
    } catch (e) {
      throw new Error(`cannot write into ${args.dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
  },
}

const listCommand: CommandModule = {
  command: 'list',
  describe: 'list the modules klpsim ships: file name, module name, livepatch or not, description',
  handler: async () => {
    const { BUILTIN_MODULES } = await import('../../modules')
    for (const m of BUILTIN_MODULES) {
      process.stdout.write(`${m.file.padEnd(30)} ${m.def.name.padEnd(28)} ${m.def.livepatch ? 'livepatch' : 'module   '} ${m.def.description ?? ''}`.trimEnd() + '\n')
    }
  },
}

export const command: CommandModule = {
  command: 'modules <command>',
  describe: 'the modules klpsim ships (the livepatch sample and the selftest modules)',
  builder: (y: Argv) => y.command(exportCommand).command(listCommand).demandCommand(1),
  handler: () => {},
}
