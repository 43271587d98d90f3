import type { Argv, CommandModule } from 'yargs'
import { writeFile } from 'node:fs/promises'
import { basename } from 'node:path'

interface BuildArgs { source: string, output?: string, release?: string }

export const command: CommandModule<object, BuildArgs> = {
  command: 'build <source>',
  describe: 'build a module written against the klpsim module API (.ts or .js, with its relative imports) into a .ko',
  builder: (y: Argv) => y
    .positional('source', { type: 'string', demandOption: true, describe: 'the module source: its default export is defineModule({...})' })
    .option('output', { alias: 'o', type: 'string', describe: 'the .ko to write (default: <module name>.ko)' })
    .option('release', { type: 'string', describe: 'the kernel release to build for (vermagic; default: $KLPSIM_RELEASE, else the simulated kernel\'s)' }) as Argv<BuildArgs>,
  handler: async (args) => {
    const { buildModuleKo } = await import('../module-build')
    // a BuildError's message is the one line to print (klpsim: ..., exit 1)
    const built = buildModuleKo(args.source, args.release ?? (process.env.KLPSIM_RELEASE || undefined))
    const out = args.output ?? `${built.def.name}.ko`
    const fileName = basename(out).replace(/\.ko$/, '').replace(/-/g, '_')
    if (fileName !== built.def.name) {
      process.stderr.write(`klpsim: warning: ${out} holds module '${built.def.name}'; insmod does not mind, but kpatch and modprobe find modules by file name\n`)
    }
    try {
      await writeFile(out, built.ko)
    } catch (e) {
      throw new Error(`cannot write ${out}: ${(e as NodeJS.ErrnoException).code ?? e}`)
    }
  },
}
