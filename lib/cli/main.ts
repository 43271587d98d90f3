// The klpsim command line. Every file in ./commands exports one yargs command
// module as `command`; klpsim invoked under a command's name (a symlink named
// insmod, rmmod, ...) runs that command with the arguments as given.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import yargs, { CommandModule } from 'yargs'
import { UsageError } from './sim-options'

function fail (msg: string, code = 1): never {
  process.stderr.write(`klpsim: ${msg}\n`)
  process.exit(code)
}

function loadCommands (): CommandModule[] {
  const dir = join(__dirname, 'commands')
  const out: CommandModule[] = []
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.js')) continue
    const mod = require(join(dir, f)) as { command?: CommandModule }
    if (mod.command) out.push(mod.command)
  }
  return out
}

function commandName (c: CommandModule): string {
  const spec = Array.isArray(c.command) ? c.command[0] : c.command
  return String(spec ?? '').split(' ')[0]
}

export async function main (argv: string[], invokedAs = 'klpsim'): Promise<void> {
  const commands = loadCommands()
  const tool = invokedAs.replace(/\.js$/, '')
  const byTool = tool !== 'klpsim' ? commands.find(c => commandName(c) === tool && (c as { toolName?: boolean }).toolName) : undefined
  if (byTool) argv = [tool, ...argv]
  try {
    let y = yargs(argv).scriptName('klpsim')
    for (const c of commands) y = y.command(c)
    await y
      .demandCommand(1, 'a command is required (see klpsim --help)')
      .strict()
      .fail((msg, err) => {
        if (err) throw err
        fail(msg, 2)
      })
      .help()
      .version(false)
      .parseAsync()
  } catch (err) {
    if (err instanceof UsageError) fail(err.message, 2)
    fail(err instanceof Error ? err.message : String(err))
  }
}
