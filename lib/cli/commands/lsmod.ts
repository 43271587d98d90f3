// lsmod: kmod's table of the simulated kernel's loaded modules.
import type { LsmodEntry } from '../../control/requests/lsmod'
import { call, MOUNT_OPTION, resolveInstance, runTool } from '../daemon-client'
import { getopt, lastValue } from '../getopt'
import { toolCommand } from '../tool'

/** kmod's lsmod output: the header, then `%-19s %8ld  %d` and the holders, comma-separated. */
export function formatLsmod (modules: readonly LsmodEntry[]): string {
  let out = 'Module                  Size  Used by\n'
  for (const m of modules) {
    // a missing refcnt file reads as kmod_module_get_refcnt's -ENOENT
    const used = m.refcnt ?? -2
    out += `${m.name.padEnd(19)} ${String(m.size).padStart(8)}  ${used}`
    m.holders.forEach((h, i) => { out += (i === 0 ? ' ' : ',') + h })
    out += '\n'
  }
  return out
}

export const command = toolCommand('lsmod', 'list the modules loaded in the simulated kernel (kmod lsmod)', (argv) => runTool(async () => {
  // kmod 30's lsmod takes no arguments; --mount is klpsim's
  const parsed = getopt(argv, { short: '', long: [MOUNT_OPTION] })
  if (!parsed.ok || parsed.operands.length) {
    process.stderr.write('Usage: lsmod\n')
    return 1
  }
  const inst = resolveInstance(lastValue(parsed.options, 'mount'))
  const { modules } = await call<{ modules: LsmodEntry[] }>('lsmod', inst, { type: 'lsmod' })
  process.stdout.write(formatLsmod(modules))
  return 0
}))
