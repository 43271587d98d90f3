// A harness that drives the in-process engine the way the kernel selftests'
// functions.sh drives a machine: the same log lines, the same polling (on the
// virtual clock), and the same filtering of the kernel log in check_result.
import { Simulator, SimulatorOptions } from '../../lib/simulator'
import { settle, VirtualClock } from '../../lib/kernel/clock'
import { formatDmesgLine, LogRecord } from '../../lib/kernel/printk'
import { insmodErrorLine } from '../../lib/cli/kmod-text'
import { FsViewError } from '../../lib/kobject/view'

const KLP = '/sys/kernel/livepatch'

export class SelftestError extends Error {}

export class Harness {
  readonly clock = new VirtualClock()
  readonly sim: Simulator
  private canary: LogRecord | undefined

  constructor (opts: SimulatorOptions = {}) {
    this.sim = new Simulator({ ...opts, clock: this.clock })
  }

  get fs () { return this.sim.fs }
  get kernel () { return this.sim.kernel }

  /** Runs an operation while simulated time moves on, as it would for a real shell. */
  async withClock<T> (p: Promise<T>, stepMs = 10, limitMs = 120_000): Promise<T> {
    let done = false
    p.then(() => { done = true }, () => { done = true })
    await settle()
    for (let t = 0; !done; t += stepMs) {
      if (t > limitMs) throw new SelftestError('operation did not finish within the time limit')
      await this.clock.advance(stepMs)
    }
    return p
  }

  /** echo "msg" > /dev/kmsg */
  log (msg: string): void { this.kernel.printk.devkmsgWrite(msg + '\n') }

  /** loop_until: tries every 0.1 s, 601 times at most. */
  async loopUntil (cond: () => boolean | Promise<boolean>): Promise<boolean> {
    for (let i = 0; i <= 600; i++) {
      if (await cond()) return true
      await this.clock.advance(100)
    }
    return false
  }

  die (msg: string): never {
    this.log(`ERROR: ${msg}`)
    throw new SelftestError(msg)
  }

  exists (path: string): boolean { return this.fs.existsSync(path) }

  async cat (path: string): Promise<string> {
    return (await this.fs.readFile(path)).replace(/\n+$/, '')
  }

  async write (path: string, value: string): Promise<void> {
    await this.withClock(this.fs.writeFile(path, value + '\n'))
  }

  /** setup_config: dynamic debug for kernel/livepatch except klp_try_switch_task, ftrace_enabled=1. */
  async setup (): Promise<void> {
    await this.fs.writeFile('/sys/kernel/debug/dynamic_debug/control', 'file kernel/livepatch/* +p\nfunc klp_try_switch_task -p\n')
    await this.setFtraceEnabled(1)
  }

  /** set_ftrace_enabled [--fail] V */
  async setFtraceEnabled (v: number, fail = false): Promise<void> {
    let err = ''
    try {
      await this.fs.writeFile('/proc/sys/kernel/ftrace_enabled', `${v}\n`)
    } catch (e) {
      err = `sysctl: setting key "kernel.ftrace_enabled": ${(e as FsViewError).message.startsWith('EBUSY') ? 'Device or resource busy' : (e as Error).message}`
    }
    const now = Number(await this.cat('/proc/sys/kernel/ftrace_enabled'))
    if (now !== v) {
      if (fail) { this.log(`livepatch: ${err}`); return }
      throw new SelftestError(`failed to set kernel.ftrace_enabled = ${v}`)
    }
    this.log(`livepatch: kernel.ftrace_enabled = ${now}`)
  }

  startTest (name: string): void {
    this.log(`livepatch kselftest timestamp: ${new Date(this.clock.nowUs() / 1000).toISOString()}`)
    const recs = this.kernel.printk.all()
    this.canary = recs[recs.length - 1]
    this.log(`===== TEST: ${name} =====`)
  }

  /** The lines check_result compares: after the canary, livepatch:/test_klp only, no taint notices, no timestamps. */
  result (): string {
    const lines = this.kernel.printk.all().map(formatDmesgLine)
    const start = lines.indexOf(formatDmesgLine(this.canary!))
    return lines.slice(start + 1)
      .filter(l => l.includes('livepatch:') || l.includes('test_klp'))
      .filter(l => !/(tainting|taints) kernel/.test(l))
      .map(l => l.replace(/^\[[ \d.]*\] /, '').replace(/^\[ *[TC]\d+\] /, ''))
      .join('\n')
  }

  private insLine (m: string, args: string[]): string {
    return `% insmod test_modules/${m}.ko ${args.join(' ')}`.replace(/ $/, '')
  }

  private async insmod (m: string, args: string[]): Promise<number> {
    const image = this.sim.builtinImage(m)
    if (!image) this.die(`Can't find "test_modules/${m}.ko", try "make"`)
    return this.withClock(this.sim.insmod(image, args))
  }

  async loadMod (m: string, ...args: string[]): Promise<void> {
    this.log(this.insLine(m, args))
    const rc = await this.insmod(m, args)
    if (rc) this.die(insmodErrorLine(`test_modules/${m}.ko`, rc))
    if (!await this.loopUntil(() => this.exists(`/sys/module/${m}`))) this.die(`failed to load module ${m}`)
  }

  async loadLpNowait (m: string, ...args: string[]): Promise<void> {
    await this.loadMod(m, ...args)
    if (!await this.loopUntil(() => this.exists(`${KLP}/${m}`))) this.die(`failed to load module ${m} (sysfs)`)
  }

  async loadLp (m: string, ...args: string[]): Promise<void> {
    await this.loadLpNowait(m, ...args)
    if (!await this.loopUntil(async () => (await this.cat(`${KLP}/${m}/transition`)) === '0')) this.die('failed to complete transition')
  }

  async loadFailingMod (m: string, ...args: string[]): Promise<void> {
    this.log(this.insLine(m, args))
    const rc = await this.insmod(m, args)
    if (!rc) this.die(`${m} unexpectedly loaded`)
    this.log(insmodErrorLine(`test_modules/${m}.ko`, rc))
  }

  async unloadMod (m: string): Promise<void> {
    const refcntZero = async () => this.exists(`/sys/module/${m}/refcnt`) && (await this.cat(`/sys/module/${m}/refcnt`)) === '0'
    if (!await this.loopUntil(refcntZero)) this.die(`failed to unload module ${m} (refcnt)`)
    this.log(`% rmmod ${m}`)
    const rc = await this.withClock(this.sim.rmmod(m))
    if (rc) this.die(`rmmod ${m} failed: ${rc}`)
    if (!await this.loopUntil(() => !this.exists(`/sys/module/${m}`))) this.die(`failed to unload module ${m} (/sys/module)`)
  }

  unloadLp (m: string): Promise<void> { return this.unloadMod(m) }

  async disableLp (m: string): Promise<void> {
    this.log(`% echo 0 > ${KLP}/${m}/enabled`)
    await this.write(`${KLP}/${m}/enabled`, '0')
    if (!await this.loopUntil(() => !this.exists(`${KLP}/${m}`))) this.die(`failed to disable livepatch ${m}`)
  }

  async setPrePatchRet (m: string, v: number): Promise<void> {
    this.log(`% echo ${v} > /sys/module/${m}/parameters/pre_patch_ret`)
    await this.write(`/sys/module/${m}/parameters/pre_patch_ret`, String(v))
    if (!await this.loopUntil(async () => (await this.cat(`/sys/module/${m}/parameters/pre_patch_ret`)) === String(v))) {
      this.die(`failed to set pre_patch_ret parameter for ${m} module`)
    }
  }

  /** Engine errors logged while the test ran (must stay empty). */
  get internalErrors (): string[] { return this.kernel.internalErrors }
}

// --- the notation of selftests-behaviour.md §3 --------------------------------------

export const INS = (m: string, ...args: string[]) => `% insmod test_modules/${m}.ko${args.length ? ' ' + args.join(' ') : ''}`
export const RM = (m: string) => `% rmmod ${m}`
export const OFF = (p: string) => `% echo 0 > /sys/kernel/livepatch/${p}/enabled`
export const EN = (p: string) => `livepatch: enabling patch '${p}'`
export const INIT = (p: string, d: string) => `livepatch: '${p}': initializing ${d} transition`
export const START = (p: string, d: string) => `livepatch: '${p}': starting ${d} transition`
export const COMPL = (p: string, d: string) => `livepatch: '${p}': completing ${d} transition`
export const DONE = (p: string, d: string) => `livepatch: '${p}': ${d} complete`
export const APPLY = (p: string, m: string) => `livepatch: applying patch '${p}' to loading module '${m}'`
export const REVERT = (p: string, m: string) => `livepatch: reverting patch '${p}' on unloading module '${m}'`
export const CANCEL = (p: string) => `livepatch: '${p}': canceling patching transition, going to unpatch`
export const REVERSE = (p: string) => `livepatch: '${p}': reversing transition from patching to unpatching`
export const FAILEN = (p: string) => `livepatch: failed to enable patch '${p}'`
export const INSERR = (m: string, text: string) => `insmod: ERROR: could not insert module test_modules/${m}.ko: ${text}`
const STATE: Record<string, string> = {
  LIVE: '[MODULE_STATE_LIVE] Normal state',
  COMING: '[MODULE_STATE_COMING] Full formed, running module_init',
  GOING: '[MODULE_STATE_GOING] Going away',
}
/** CB p kind vmlinux | CB p kind m STATE */
export const CB = (p: string, kind: string, obj = 'vmlinux', state?: string) =>
  obj === 'vmlinux' ? `${p}: ${kind}_callback: vmlinux` : `${p}: ${kind}_callback: ${obj} -> ${STATE[state!]}`

export function PATCH (p: string, pre: string[] = [], post: string[] = []): string[] {
  return [EN(p), INIT(p, 'patching'), ...pre, START(p, 'patching'), COMPL(p, 'patching'), ...post, DONE(p, 'patching')]
}

export function UNPATCH (p: string, pre: string[] = [], post: string[] = []): string[] {
  return [INIT(p, 'unpatching'), ...pre, START(p, 'unpatching'), COMPL(p, 'unpatching'), ...post, DONE(p, 'unpatching')]
}

export const lines = (...parts: Array<string | string[]>): string => parts.flat().join('\n')
