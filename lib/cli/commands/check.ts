import type { Argv, CommandModule } from 'yargs'
import { readFileSync, statSync } from 'node:fs'
import { UsageError } from '../sim-options'

interface CheckArgs { file: string, kallsyms: string, json: boolean, release?: string }

const MAX_MODULE = 256 * 1024 * 1024

export const command: CommandModule<object, CheckArgs> = {
  command: 'check <file>',
  describe: 'preflight a livepatch .ko against a target kernel\'s symbol table, without loading it',
  builder: (y: Argv) => y
    .positional('file', { type: 'string', demandOption: true, describe: 'the livepatch module (.ko)' })
    .option('kallsyms', { type: 'string', demandOption: true, describe: 'the target\'s /proc/kallsyms dump or System.map' })
    .option('release', { type: 'string', describe: 'the target\'s `uname -r`, checked against the module\'s vermagic' })
    .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' }) as Argv<CheckArgs>,
  handler: async (args) => {
    const { preflight, formatPreflight } = await import('../../preflight')
    const { parseKallsyms } = await import('../../elf/kallsyms-file')
    let data: Buffer
    try {
      if (statSync(args.file).size > MAX_MODULE) throw new UsageError(`${args.file}: larger than 256 MiB, not a kernel module`)
      data = readFileSync(args.file)
    } catch (e) {
      if (e instanceof UsageError) throw e
      throw new UsageError(`cannot read ${args.file}: ${(e as NodeJS.ErrnoException).code ?? e}`)
    }
    let symbols
    try {
      symbols = parseKallsyms(readFileSync(args.kallsyms))
    } catch (e) {
      throw new UsageError(`${args.kallsyms}: ${(e as NodeJS.ErrnoException).code ? `cannot read (${(e as NodeJS.ErrnoException).code})` : (e as Error).message}`)
    }
    const report = preflight(args.file, data, symbols, { release: args.release })
    const replacer = (_k: string, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)
    process.stdout.write(args.json ? JSON.stringify(report, replacer, 2) + '\n' : formatPreflight(report))
    process.exitCode = report.verdict === 'ok' ? 0 : 1
  },
}
