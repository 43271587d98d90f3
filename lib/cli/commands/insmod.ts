// insmod FILE.ko [param=value ...]: kmod's insmod against the simulated kernel.
// Prints nothing on success and returns after the module's init finished.
import { call, Instance, MOUNT_OPTION, resolveInstance, runTool } from '../daemon-client'
import { getopt, has, lastValue } from '../getopt'
import { insmodErrorLine, insmodLoadErrorLine } from '../kmod-text'
import { readModuleFileFrom } from '../module-file-io'
import { toolCommand } from '../tool'
import type { InsmodReply } from '../../control/requests/insmod'

const USAGE = `Usage:
\tinsmod [options] filename [args]
Options:
\t-V, --version     show version
\t-h, --help        show this help
\t    --mount DIR   the klpsim instance (default $KLPSIM_MOUNT, else ./mountpoint)
`

/** Loads a module file through the daemon; 0 or -errno, or a kmod line already printed. */
export async function insmodFile (inst: Instance, path: string, args: string[], tool = 'insmod'): Promise<{ ret: number, name?: string } | { loadErrno: number }> {
  const file = await readModuleFileFrom(path)
  if ('stage' in file) {
    if (file.stage === 'open') return { loadErrno: file.errno }
    return { ret: -file.errno }
  }
  const reply = await call<InsmodReply>(tool, inst, { type: 'insmod', ko: file.data.toString('base64'), args, comm: tool })
  return { ret: reply.ret, name: reply.name }
}

export const command = toolCommand('insmod', 'load a module file into the simulated kernel (kmod insmod)', (argv) => runTool(async () => {
  const parsed = getopt(argv, {
    short: 'psfVh',
    long: [
      { name: 'force', arg: 'none', key: 'f' },
      { name: 'syslog', arg: 'none', key: 's' },
      { name: 'version', arg: 'none', key: 'V' },
      { name: 'help', arg: 'none', key: 'h' },
      MOUNT_OPTION,
    ],
  })
  if (!parsed.ok) {
    process.stderr.write(`insmod: ${parsed.error}\n`)
    return 1
  }
  if (has(parsed.options, 'h')) { process.stdout.write(USAGE); return 0 }
  if (has(parsed.options, 'V')) { process.stdout.write('kmod version 30 (klpsim insmod)\n'); return 0 }
  const [path, ...args] = parsed.operands
  if (path === undefined) {
    process.stderr.write('insmod: ERROR: missing filename.\n')
    return 1
  }
  const inst = resolveInstance(lastValue(parsed.options, 'mount'))
  const r = await insmodFile(inst, path, args)
  if ('loadErrno' in r) {
    process.stderr.write(insmodLoadErrorLine(path, r.loadErrno) + '\n')
    return 1
  }
  if (r.ret < 0) {
    process.stderr.write(insmodErrorLine(path, -r.ret) + '\n')
    return 1
  }
  return 0
}))
