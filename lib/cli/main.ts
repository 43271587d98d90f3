// The klpsim command line. Every file in ./commands exports one yargs command
// module as `command`, named like the file; klpsim invoked under a command's
// name (a symlink named insmod, rmmod, ...) runs that command with the
// arguments as given. Only the command being run is loaded: the module tools
// start many times per script.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import yargs, { CommandModule } from 'yargs'
import { UsageError } from './sim-options'

type Command = CommandModule & { toolName?: boolean }

const COMMANDS = join(__dirname, 'commands')

function fail (msg: string, code = 1): never {
  process.stderr.write(`klpsim: ${msg}\n`)
  process.exit(code)
}

function load (file: string): Command | undefined {
  return (require(join(COMMANDS, file)) as { command?: Command }).command
}

function loadAll (): Command[] {
  const out: Command[] = []
  for (const f of readdirSync(COMMANDS).sort()) {
    if (!f.endsWith('.js')) continue
    const c = load(f)
    if (c) out.push(c)
  }
  return out
}

/** The command a file name stands for, when it exists. */
function loadNamed (name: string | undefined): Command | undefined {
  if (!name || !/^[a-z][a-z-]*$/.test(name) || !existsSync(join(COMMANDS, `${name}.js`))) return undefined
  return load(`${name}.js`)
}

export async function main (argv: string[], invokedAs = 'klpsim'): Promise<void> {
  const tool = invokedAs.replace(/\.js$/, '')
  let commands: Command[]
  const asTool = tool !== 'klpsim' ? loadNamed(tool) : undefined
  if (asTool?.toolName) {
    argv = [tool, ...argv]
    commands = [asTool]
  } else {
    const named = loadNamed(argv[0])
    commands = named ? [named] : loadAll()
  }
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
