// `klpsim run -- CMD`: CMD runs in a private mount namespace in which the simulated
// kernel is the system (/sys/kernel, /sys/module, /proc, /dev/kmsg, module tools
// on PATH), served by a daemon that stays in the original namespace.
import { spawn } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readlinkSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Daemon } from '../daemon'
import { childStdio } from '../fuse'
import { RealClock } from '../kernel/clock'
import type { SimulatorOptions } from '../simulator'
import { installOverlays } from './overlay'
import { checkSandboxHost } from './preflight'

/** The tools a sandboxed command finds on PATH: klpsim's front ends under the tools' names. */
export const SANDBOX_TOOLS = ['insmod', 'rmmod', 'modprobe', 'modinfo', 'lsmod', 'dmesg', 'sysctl', 'uname', 'klpsim']

const SETUP = `set -e
R="$KLPSIM_RUN"
mount -t proc -o nosuid,nodev,noexec proc "$R/realproc"
mount -t sysfs -o nosuid,nodev,noexec sysfs "$R/realsys" 2>/dev/null || mount --bind /sys "$R/realsys"
mount --bind "$R/root/proc" /proc
mount --bind "$R/root/sys/kernel" /sys/kernel
mount --bind "$R/root/sys/module" /sys/module
mount --bind "$R/root/dev/kmsg" /dev/kmsg
if [ -d /lib/modules ]; then
  mount -t tmpfs -o mode=0755 klpsim-modules /lib/modules
  mkdir -p "/lib/modules/$KLPSIM_RELEASE/build"
else
  export KDIR="\${KDIR:-$R/build}"
fi
unset KLPSIM_RUN
set +e
exec "$@"
`

export interface RunOptions {
  command: string
  args: string[]
  sim: SimulatorOptions
  /** Where the per-run directories go (default /run/klpsim). */
  runBase?: string
  /** Called after boot, before the daemon serves the mount (e.g. a replay). */
  prepare?: (daemon: Daemon) => Promise<void>
  /** Called once the daemon serves the mount, before CMD starts. */
  onReady?: (daemon: Daemon) => void
}

function hostPidMax (): number {
  try { return Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()) || 4194304 } catch { return 4194304 }
}

function mountNs (pid: number | 'self'): string | null {
  try { return readlinkSync(`/proc/${pid}/ns/mnt`) } catch { return null }
}

/** Every process still inside the sandbox's mount namespace. */
function processesIn (ns: string): number[] {
  const out: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    if (mountNs(Number(name)) === ns) out.push(Number(name))
  }
  return out
}

/** Runs CMD in the sandbox; resolves to its exit status (128+N when a signal N ended it). */
export async function runSandbox (opts: RunOptions): Promise<number> {
  checkSandboxHost()
  const base = opts.runBase ?? '/run/klpsim'
  mkdirSync(base, { recursive: true, mode: 0o700 })
  const run = mkdtempSync(join(base, 'run-'))
  chmodSync(run, 0o700)
  for (const d of ['root', 'realproc', 'realsys', 'bin', 'build']) mkdirSync(join(run, d))
  const klpsimBin = resolve(__dirname, '..', '..', '..', 'bin', 'klpsim')
  for (const tool of SANDBOX_TOOLS) symlinkSync(klpsimBin, join(run, 'bin', tool))

  // simulated pids start above every pid the host can hand out (and above a replay's recorded ones)
  const daemon = new Daemon({ ...opts.sim, pidBase: Math.max(opts.sim.pidBase ?? 0, hostPidMax()), mountpoint: join(run, 'root'), control: join(run, 'control.sock') })
  installOverlays(daemon.sim.kernel, { realProc: join(run, 'realproc'), realSys: join(run, 'realsys') })
  try {
    await opts.prepare?.(daemon)
    await daemon.start()
    opts.onReady?.(daemon)
    const env = {
      ...process.env,
      PATH: `${join(run, 'bin')}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      KLPSIM_RUN: run,
      KLPSIM_CONTROL: join(run, 'control.sock'),
      KLPSIM_RELEASE: daemon.sim.kernel.release,
      KLPSIM_MOUNT: '/',
    }
    // the command must not inherit the daemon's /dev/fuse: holding it, a process
    // would keep the mount hanging (unkillable) if the daemon died
    const child = spawn('unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', SETUP, 'klpsim-run', opts.command, ...opts.args], { stdio: childStdio('inherit'), env })
    const forward = (sig: NodeJS.Signals) => () => { if (child.pid) try { process.kill(child.pid, sig) } catch {} }
    const handlers: Array<[NodeJS.Signals, () => void]> = (['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as NodeJS.Signals[]).map(s => [s, forward(s)])
    for (const [s, h] of handlers) process.on(s, h)
    const own = mountNs('self')
    let ns: string | null = null
    const watch = setInterval(() => {
      const n = child.pid ? mountNs(child.pid) : null
      if (n && n !== own) { ns = n; clearInterval(watch) }
    }, 2)
    const status = await new Promise<number>((resolveStatus) => {
      child.once('error', (e) => {
        process.stderr.write(`klpsim run: cannot start unshare: ${e.message}\n`)
        resolveStatus(126)
      })
      child.once('exit', (code, signal) => {
        resolveStatus(code ?? 128 + (signal ? (require('node:os').constants.signals[signal] as number) : 0))
      })
    })
    clearInterval(watch)
    for (const [s, h] of handlers) process.off(s, h)
    // nothing outlives CMD inside the namespace
    if (ns) for (const pid of processesIn(ns)) try { process.kill(pid, 'SIGKILL') } catch {}
    return status
  } finally {
    await daemon.stop().catch((e) => process.stderr.write(`klpsim run: unmount failed: ${(e as Error).message}\n`))
    // the machine goes with CMD: its pending timers (a worker sleeping in a
    // loop, a transition retrying) must not keep this process alive
    const clock = daemon.sim.kernel.clock
    if (clock instanceof RealClock) clock.stopAll()
    rmSync(run, { recursive: true, force: true })
  }
}
