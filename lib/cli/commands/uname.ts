import type { Argv, CommandModule } from 'yargs'
import { spawnSync } from 'node:child_process'
import { realpathSync } from 'node:fs'
import { delimiter, join } from 'node:path'

/** The real uname: the first one on PATH that is not klpsim itself. */
function realUname (): string {
  const self = realpathSync(process.argv[1])
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'uname')
    try { if (realpathSync(candidate) !== self) return candidate } catch {}
  }
  return '/bin/uname'
}

/**
 * uname for a sandbox: the kernel release is the simulated kernel's (what the
 * vermagic of klpsim's .ko files says); everything else is the host's.
 */
export const command: CommandModule & { toolName: boolean } = {
  command: 'uname',
  describe: 'uname with the simulated kernel release (-r, -a); other fields from the host',
  toolName: true,
  builder: (y: Argv) => y.strict(false).help(false).parserConfiguration({ 'unknown-options-as-args': true }),
  handler: (args) => {
    const argv = (args._ as Array<string | number>).slice(1).map(String)
    const release = process.env.KLPSIM_RELEASE
    const real = spawnSync(realUname(), argv, { encoding: 'utf8', argv0: 'uname' })
    if (real.error) {
      process.stderr.write(`uname: ${real.error.message}\n`)
      process.exitCode = 1
      return
    }
    process.stderr.write(real.stderr)
    let out = real.stdout
    if (release && real.status === 0) {
      const host = spawnSync(realUname(), ['-r'], { encoding: 'utf8' }).stdout.trim()
      if (host) out = out.split(host).join(release)
    }
    process.stdout.write(out)
    process.exitCode = real.status ?? 1
  },
}
