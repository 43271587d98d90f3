// rmmod NAME...: kmod's rmmod against the simulated kernel. Like kmod it reads
// the module's sysfs state first (initstate, holders/, refcnt) and refuses a
// module in use before calling delete_module().
import { stat } from 'node:fs/promises'
import type { ModuleStateReply } from '../../control/requests/module'
import { call, Instance, MOUNT_OPTION, resolveInstance, runTool } from '../daemon-client'
import { getopt, has, lastValue } from '../getopt'
import { libkmodHoldersErrorLine, modnameOf, rmmodErrorLines, rmmodText } from '../kmod-text'
import { toolCommand } from '../tool'

const USAGE = `Usage:
\trmmod [options] modulename ...
Options:
\t-f, --force       forces a module unload (the simulated kernel has no
\t                  forced module removal: the kernel's checks still apply)
\t-s, --syslog      print to syslog, not stderr
\t-v, --verbose     enables more messages
\t-V, --version     show version
\t-h, --help        show this help
\t    --mount DIR   the klpsim instance (default $KLPSIM_MOUNT, else ./mountpoint)
`

/** kmod 30's check_module_inuse(): the lines it prints, and whether it refuses to go on. */
export function inUseCheck (name: string, st: ModuleStateReply): { lines: string[], refuse: boolean } {
  if (!st.present) return { lines: [rmmodText.notLoaded(name)], refuse: true }
  const lines: string[] = []
  if (st.holders === null) lines.push(libkmodHoldersErrorLine('rmmod', name))
  else if (st.holders.length) return { lines: [rmmodText.inUseBy(name, st.holders)], refuse: true }
  if (st.refcnt === null) return { lines: [...lines, rmmodText.unloadingUnsupported()], refuse: true }
  if (st.refcnt > 0) return { lines: [...lines, rmmodText.inUse(name)], refuse: true }
  return { lines, refuse: false }
}

/** Removes one module as kmod's rmmod does; returns the lines to print and whether it failed. */
export async function rmmodOne (inst: Instance, arg: string, force: boolean): Promise<{ lines: string[], failed: boolean }> {
  let isPath = false
  try { await stat(arg); isPath = true } catch { isPath = false }
  const name = modnameOf(arg, isPath)
  if (!force) {
    const st = await call<ModuleStateReply>('rmmod', inst, { type: 'module', name })
    const check = inUseCheck(name, st)
    if (check.refuse) return { lines: check.lines, failed: true }
    if (check.lines.length) process.stderr.write(check.lines.map(l => l + '\n').join(''))
  }
  const { ret } = await call<{ ret: number }>('rmmod', inst, { type: 'rmmod', name })
  if (ret < 0) return { lines: rmmodErrorLines(name, -ret, arg), failed: true }
  return { lines: [], failed: false }
}

export const command = toolCommand('rmmod', 'unload a module from the simulated kernel (kmod rmmod)', (argv) => runTool(async () => {
  const parsed = getopt(argv, {
    short: 'fsvVwh',
    long: [
      { name: 'force', arg: 'none', key: 'f' },
      { name: 'syslog', arg: 'none', key: 's' },
      { name: 'verbose', arg: 'none', key: 'v' },
      { name: 'version', arg: 'none', key: 'V' },
      { name: 'wait', arg: 'none', key: 'w' },
      { name: 'help', arg: 'none', key: 'h' },
      MOUNT_OPTION,
    ],
  })
  if (!parsed.ok) {
    process.stderr.write(`rmmod: ${parsed.error}\n`)
    return 1
  }
  if (has(parsed.options, 'h')) { process.stdout.write(USAGE); return 0 }
  if (has(parsed.options, 'V')) { process.stdout.write('kmod version 30 (klpsim rmmod)\n'); return 0 }
  if (parsed.operands.length === 0) {
    process.stderr.write(rmmodText.missingName() + '\n')
    return 1
  }
  const inst = resolveInstance(lastValue(parsed.options, 'mount'))
  let failures = 0
  for (const arg of parsed.operands) {
    const r = await rmmodOne(inst, arg, has(parsed.options, 'f'))
    if (r.lines.length) process.stderr.write(r.lines.map(l => l + '\n').join(''))
    if (r.failed) failures++
  }
  return failures ? 1 : 0
}))
