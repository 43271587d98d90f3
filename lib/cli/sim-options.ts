// The options every command that boots a simulated kernel accepts (mount, run),
// and their translation into SimulatorOptions.
import type { Argv } from 'yargs'
import { RealClock, VirtualClock } from '../kernel/clock'
import type { SimulatorOptions } from '../simulator'
import { readKallsymsFile } from '../kernel/image/kallsyms-file'
import { PROFILE_NAMES } from '../livepatch/abi'

export interface BootArgs {
  cpus: number
  clock: string
  kallsyms?: string
  kernel?: string
  mode?: string
  arch?: string
  'livepatch-stack'?: string
}

export function bootOptions<T> (y: Argv<T>): Argv<T & BootArgs> {
  return y
    .option('cpus', { type: 'number', default: 4, describe: 'number of simulated CPUs' })
    .option('clock', { type: 'string', default: 'real', describe: 'kernel time: real, virtual (moves only on `klpsim clock`), or scaled:N (N times faster)' })
    .option('kallsyms', { type: 'string', describe: 'boot with the symbol table of a real kernel (a /proc/kallsyms dump or System.map)' })
    .option('kernel', { type: 'string', describe: `kernel profile whose livepatch ABI scripts see: ${PROFILE_NAMES.join(', ')} (default 7.1)` })
    .option('mode', { type: 'string', describe: 'livepatch implementation: ftrace (upstream, default) or stop-machine (openEuler CONFIG_LIVEPATCH_WO_FTRACE)' })
    .option('arch', { type: 'string', describe: 'simulated architecture: x86_64 (default) or arm64 (stop-machine mode rewrites 5 or 16 entry bytes)' })
    .option('livepatch-stack', { type: 'string', describe: 'stop-machine mode: CONFIG_LIVEPATCH_STACK, enable/disable in load order (on, default) or off' }) as Argv<T & BootArgs>
}

/** One-line usage errors for boot options. */
export class UsageError extends Error {}

export function parseClock (spec: string): SimulatorOptions['clock'] {
  if (spec === 'real') return new RealClock()
  if (spec === 'virtual') return new VirtualClock()
  const m = /^scaled:(\d+(?:\.\d+)?)$/.exec(spec)
  if (m && Number(m[1]) > 0) return new RealClock(Number(m[1]))
  throw new UsageError(`invalid --clock '${spec}' (use real, virtual or scaled:N)`)
}

export function simulatorOptions (args: BootArgs): SimulatorOptions {
  if (!Number.isInteger(args.cpus) || args.cpus < 1 || args.cpus > 64) throw new UsageError(`invalid --cpus ${args.cpus} (1..64)`)
  let symbols: SimulatorOptions['symbols']
  if (args.kallsyms !== undefined) {
    try {
      symbols = readKallsymsFile(args.kallsyms)
    } catch (e) {
      throw new UsageError(`--kallsyms: ${(e as Error).message}`)
    }
  }
  const profile = args.kernel ?? '7.1'
  if (!PROFILE_NAMES.includes(profile)) throw new UsageError(`invalid --kernel '${profile}' (known profiles: ${PROFILE_NAMES.join(', ')}; the stop_machine variant is --mode stop-machine)`)
  return { cpus: args.cpus, clock: parseClock(args.clock), symbols, profile, ...livepatchOptions(args) }
}

/** --mode, --arch and --livepatch-stack. */
export function livepatchOptions (args: Pick<BootArgs, 'mode' | 'arch' | 'livepatch-stack'>): Pick<SimulatorOptions, 'mode' | 'arch' | 'stopMachine'> {
  const mode = args.mode ?? 'ftrace'
  if (mode !== 'ftrace' && mode !== 'stop-machine') throw new UsageError(`invalid --mode '${mode}' (use ftrace or stop-machine)`)
  const arch = args.arch ?? 'x86_64'
  if (arch !== 'x86_64' && arch !== 'arm64') throw new UsageError(`invalid --arch '${arch}' (use x86_64 or arm64)`)
  const stack = args['livepatch-stack']
  if (stack !== undefined && stack !== 'on' && stack !== 'off') throw new UsageError(`invalid --livepatch-stack '${stack}' (use on or off)`)
  if (stack !== undefined && mode !== 'stop-machine') throw new UsageError('--livepatch-stack applies to --mode stop-machine only')
  return { mode, arch, stopMachine: { stack: stack !== 'off' } }
}
