// A yargs command that hands its arguments over untouched, for the front ends
// that parse their command line the way the real tool does (lib/cli/getopt.ts)
// and also run when klpsim is invoked under the tool's own name.
import type { Argv, CommandModule } from 'yargs'

export interface ToolCommand extends CommandModule<object, { _: Array<string | number> }> {
  toolName: true
}

/**
 * The raw arguments after the command word. With halt-at-non-option, yargs
 * leaves the command word in `_` twice (once from the top-level parse, once
 * from the command's own parse), then every argument as typed.
 */
export function rawArgs (underscore: ReadonlyArray<string | number>, name: string): string[] {
  const all = underscore.map(String)
  let skip = 0
  while (skip < 2 && all[skip] === name) skip++
  return all.slice(skip)
}

export function toolCommand (name: string, describe: string, run: (args: string[]) => Promise<number>): ToolCommand {
  return {
    command: name,
    describe,
    toolName: true,
    builder: (y: Argv) => y
      .strict(false)
      .help(false)
      .parserConfiguration({
        'halt-at-non-option': true,
        'unknown-options-as-args': true,
        'parse-numbers': false,
        'parse-positional-numbers': false,
        'boolean-negation': false,
        'camel-case-expansion': false,
        'dot-notation': false,
        'short-option-groups': false,
      }) as Argv<{ _: Array<string | number> }>,
    handler: async (argv) => {
      process.exitCode = await run(rawArgs(argv._, name))
    },
  }
}
