// The simulated kernel: composes kallsyms, the dispatch table and ftrace, tasks,
// the module loader, printk and dynamic debug, procfs/sysfs/debugfs/tracefs and
// /dev/kmsg into one object. It knows nothing about livepatch; the livepatch core
// attaches to its hooks.
import { KDir } from '../kobject/node'
import { EFAULT, EINVAL } from '../kobject/errno'
import { Clock, RealClock } from './clock'
import { Ctx } from './context'
import { Dispatch, KernelOops } from './dispatch'
import { DynamicDebug } from './dyndbg'
import { Ftrace } from './ftrace'
import { formatSymbolOffset, Kallsyms, Ksym } from './kallsyms'
import { createDevKmsg } from './kmsg'
import { Kprobes } from './kprobes'
import { ModuleLoader } from './loader'
import { kvsprintf } from './printf'
import { KERN_EMERG, KERN_INFO, KERN_WARNING, Printk } from './printk'
import { Procfs } from './procfs'
import { Scheduler } from './sched'
import { createBuiltinModuleDirs } from './sysfs-module'
import { createTracefs, FunctionTracer } from './tracing'
import { Workqueues } from './workqueue'
import { bootTasks } from './boot-tasks'
import { buildDefaultVmlinux, buildExternalVmlinux, ExternalSymbol } from './image/build'
import type { Task } from './task'
import { BoolSyntax, kstrtoboolFor } from './kstrtox'
import { ScriptedTasks } from './scripted'

export type Arch = 'x86_64' | 'arm64'

export interface KernelOptions {
  clock?: Clock
  cpus?: number
  release?: string
  arch?: Arch
  cmdline?: string
  /** A real kernel's symbol set (from --kallsyms) instead of the default image. */
  symbols?: readonly ExternalSymbol[]
  /** Start init, kthreads and daemons (default true). */
  bootTasks?: boolean
  /** Start the workqueues' initial kworkers (default true); without them a worker starts when work is first queued. */
  bootWorkers?: boolean
  /** Simulated pids start above this number. */
  pidBase?: number
  /** The spellings kstrtobool accepts (depends on the kernel version simulated). */
  boolSyntax?: BoolSyntax
}

export const DEFAULT_RELEASE = '7.1.0-klpsim'

/** Taint flags in the kernel's order; the index is the bit in /proc/sys/kernel/tainted. */
export const TAINT_FLAGS = 'PFSRMBUDAWCIOELKXTNJ'

export class Kernel {
  readonly clock: Clock
  readonly printk: Printk
  readonly dyndbg = new DynamicDebug()
  readonly kallsyms = new Kallsyms()
  /** The symbols modules may link against (__ksymtab): subsystems export theirs at boot. */
  readonly exports = new Set<string>()
  readonly ftrace: Ftrace
  readonly dispatch: Dispatch
  readonly sched: Scheduler
  readonly modules: ModuleLoader
  readonly kprobes: Kprobes
  readonly workqueues: Workqueues
  readonly tracer: FunctionTracer
  readonly procfs: Procfs
  readonly scripted: ScriptedTasks

  /** The mount root: sys/, proc/, dev/. */
  readonly root = new KDir('', 0o755)
  readonly sys: KDir
  readonly sysKernel: KDir
  readonly sysModule: KDir
  readonly debugfs: KDir
  readonly tracefs: KDir
  readonly dev: KDir

  readonly release: string
  readonly arch: Arch
  readonly cmdline: string
  /** kstrtobool as this kernel version has it. */
  readonly kstrtobool: (s: string) => boolean | number
  taintMask = 0
  /** The user task standing for host processes that call into the kernel (FUSE requests). */
  readonly caller: Task
  private readonly fakeAddresses = new WeakMap<object, bigint>()
  private nextFake = 0xffff888100000000n

  constructor (opts: KernelOptions = {}) {
    this.clock = opts.clock ?? new RealClock()
    this.printk = new Printk(this.clock)
    this.release = opts.release ?? DEFAULT_RELEASE
    this.arch = opts.arch ?? 'x86_64'
    this.kstrtobool = kstrtoboolFor(opts.boolSyntax ?? 'mainline')
    this.cmdline = opts.cmdline ?? `BOOT_IMAGE=/boot/vmlinuz-${this.release} root=/dev/vda1 ro console=ttyS0,115200 quiet`
    if (/live patched/.test(this.cmdline)) throw new Error('the kernel command line may not contain "live patched"')

    let internalsAdded: string[] = []
    let vmlinux
    if (opts.symbols) {
      const ext = buildExternalVmlinux(opts.symbols)
      vmlinux = ext.table
      internalsAdded = ext.added
    } else {
      vmlinux = buildDefaultVmlinux()
    }
    for (const s of vmlinux.syms) this.kallsyms.vmlinux.add(s)
    this.ftrace = new Ftrace(() => this.allFunctions())
    this.dispatch = new Dispatch(this.ftrace, (name) => this.kallsyms.lookupName(name), (ctx, sym, e) => this.reportOops(ctx, sym, e))
    this.sched = new Scheduler(this, opts.cpus ?? 4, opts.pidBase ?? 0)
    this.modules = new ModuleLoader(this)
    this.kprobes = new Kprobes(this.ftrace, this.kallsyms, (msg) => this.printk.log(KERN_INFO, msg))
    this.dyndbg.warn = (msg) => this.printk.log(KERN_WARNING, `dynamic_debug: ${msg}`)

    // the filesystem roots
    this.sys = this.root.ensureDir('sys', 0o555)
    this.sys.kernfsRoot = true
    this.sys.onDuplicate = (path) => this.warnDuplicate(path)
    this.sysKernel = this.sys.ensureDir('kernel')
    this.sysModule = this.sys.ensureDir('module')
    this.debugfs = this.sysKernel.ensureDir('debug', 0o700)
    this.tracefs = this.sysKernel.ensureDir('tracing', 0o700)
    this.dev = this.root.ensureDir('dev')
    this.dev.add(createDevKmsg(this.printk))
    this.procfs = new Procfs(this, this.root.ensureDir('proc', 0o555))
    this.tracer = createTracefs(this, this.tracefs)
    this.createDebugfs()
    createBuiltinModuleDirs(this)
    this.sysKernel.addAttr('osrelease', 0o444, { show: () => `${this.release}\n` })

    this.workqueues = new Workqueues(this)
    this.scripted = new ScriptedTasks(this)
    this.bootMessages()
    if (internalsAdded.length) {
      this.printk.log(KERN_INFO, `klpsim: ${internalsAdded.length} functions the simulation runs are not in the symbol table; added as notrace: ${internalsAdded.join(' ')}`)
    }
    if (opts.symbols) this.loadResidentModules(opts.symbols)
    if (opts.bootTasks !== false) bootTasks(this)
    this.caller = this.sched.create({ comm: 'klpsim-caller', kthread: false, hidden: true })
    this.caller.origin = 'host'
    if (opts.bootWorkers !== false) this.workqueues.boot()
  }

  get vermagic (): string { return `${this.release} SMP preempt mod_unload modversions ` }
  get buildVersion (): string { return '#1 SMP PREEMPT_DYNAMIC Thu Jan  1 00:00:00 UTC 2026' }
  get linuxBanner (): string { return `Linux version ${this.release} (klpsim@localhost) (gcc (GCC) 14.2.0, GNU ld (GNU Binutils) 2.43) ${this.buildVersion}` }

  private bootMessages (): void {
    this.printk.log(5, this.linuxBanner)
    this.printk.log(KERN_INFO, `Command line: ${this.cmdline}`)
    this.printk.log(KERN_INFO, `smp: Brought up 1 node, ${this.sched.ncpus} CPUs`)
    this.printk.log(KERN_INFO, 'dynamic_debug:dynamic_debug_init: initialized')
    this.printk.log(KERN_INFO, 'ftrace: allocating function tracing entries')
  }

  /** Modules whose symbols the real symbol table lists: loaded since boot, code not simulated. */
  private loadResidentModules (symbols: readonly ExternalSymbol[]): void {
    const byModule = new Map<string, ExternalSymbol[]>()
    for (const s of symbols) {
      if (!s.module) continue
      const list = byModule.get(s.module)
      if (list) list.push(s)
      else byModule.set(s.module, [s])
    }
    for (const [name, syms] of byModule) this.modules.addResident(name, syms)
  }

  private createDebugfs (): void {
    const dd = this.debugfs.ensureDir('dynamic_debug')
    dd.addAttr('control', 0o644, { show: () => this.dyndbg.show(), store: (s) => this.dyndbg.write(s) }, 'seq')
    const kp = this.debugfs.ensureDir('kprobes')
    kp.addAttr('enabled', 0o600, {
      show: () => (this.kprobes.enabled ? '1\n' : '0\n'),
      store: (s) => {
        const b = this.kstrtobool(s)
        if (typeof b === 'number') return -EINVAL
        this.kprobes.setEnabled(b)
        return 0
      },
    }, 'seq')
    kp.addAttr('list', 0o444, {
      show: () => this.kprobes.list().map(p => `${p.sym ? p.sym.addr.toString(16).padStart(16, '0') : '0000000000000000'}  k  ${p.symbolName}+0x${p.offset.toString(16)}${p.armed ? '    [FTRACE]' : '    [DISABLED][FTRACE]'}\n`).join(''),
    }, 'seq')
  }

  /** Every text symbol of vmlinux and the loaded modules. */
  * allFunctions (): Generator<Ksym> {
    for (const s of this.kallsyms.vmlinux.syms) if (s.isText) yield s
    for (const t of this.kallsyms.moduleTables()) for (const s of t.syms) if (s.isText) yield s
  }

  hasTaint (letter: string): boolean {
    return (this.taintMask & (1 << TAINT_FLAGS.indexOf(letter))) !== 0
  }

  addTaint (letter: string): void {
    const bit = TAINT_FLAGS.indexOf(letter)
    if (bit >= 0) this.taintMask |= 1 << bit
  }

  /** print_tainted(): "G" or the flags, e.g. "G           OE K". */
  taintString (): string {
    if (!this.taintMask) return 'G'
    let out = this.hasTaint('P') ? 'P' : 'G'
    for (let i = 1; i < TAINT_FLAGS.length; i++) out += this.taintMask & (1 << i) ? TAINT_FLAGS[i] : ' '
    return out.trimEnd()
  }

  /** The kernel's printf with %p extensions (%pS, %ps, %px, %p, %pGg). */
  format (fmt: string, args: readonly unknown[]): string {
    return kvsprintf(fmt, args, (spec, v) => this.formatPointer(spec, v))
  }

  /** A stable kernel-looking address for a JS object passed where C passes a pointer. */
  addressOf (v: unknown): bigint {
    if (v === null || v === undefined) return 0n
    if (typeof v === 'bigint') return v
    if (typeof v === 'number') return BigInt(v)
    if (v instanceof Ksym) return v.addr
    if (typeof v === 'object' || typeof v === 'function') {
      let a = this.fakeAddresses.get(v as object)
      if (a === undefined) {
        a = this.nextFake
        this.nextFake += 0x40n
        this.fakeAddresses.set(v as object, a)
      }
      return a
    }
    return 0n
  }

  private formatPointer (spec: string, v: unknown): string | undefined {
    if (spec === 'pS' || spec === 'ps' || spec === 'pB') {
      const addr = this.addressOf(v)
      const hit = this.kallsyms.lookupAddress(addr)
      if (!hit) return `0x${addr.toString(16)}`
      return spec === 'ps' ? hit.sym.name : formatSymbolOffset(hit.sym, hit.offset)
    }
    if (spec === 'px') return this.addressOf(v).toString(16).padStart(16, '0')
    if (spec === 'pGg') return typeof v === 'string' ? v : `0x${Number(v).toString(16)}`
    // plain %p prints a hashed value
    const a = this.addressOf(v)
    if (a === 0n) return '0000000000000000'
    const h = Number((a * 0x9e3779b97f4a7c15n >> 32n) & 0xffffffffn)
    return h.toString(16).padStart(16, '0')
  }

  /**
   * Runs body as a system call of a host process (a FUSE request): the caller task
   * enters through route, and passes the return-to-user switch point on the way out.
   * A module oops on the way becomes -EFAULT.
   */
  callerSyscall<T> (route: readonly string[], body: (ctx: Ctx) => T | Promise<T>): T | number | Promise<T | number> {
    let task = this.caller
    let temporary = false
    if (task.stack.length) {
      task = this.sched.create({ comm: 'klpsim-caller', kthread: false, parent: this.caller, hidden: true })
      task.origin = 'host'
      temporary = true
    }
    return this.runSyscall(task, route, body, temporary)
  }

  /** Runs body on task entering the kernel through route (outermost function first). */
  runSyscall<T> (task: Task, route: readonly string[], body: (ctx: Ctx) => T | Promise<T>, exitAfter = false): T | number | Promise<T | number> {
    const done = (): void => {
      this.sched.returnToUser(task)
      if (exitAfter) this.sched.exit(task)
    }
    const fail = (e: unknown): number => {
      done()
      if (e instanceof KernelOops) return -EFAULT
      throw e
    }
    let r: unknown
    try {
      r = task.ctx.call(route[0], { route, i: 1, body })
    } catch (e) {
      return fail(e)
    }
    if (r instanceof Promise) return r.then(v => { done(); return v as T }, fail)
    done()
    return r as T
  }

  /** A module or kernel exception caught at a call boundary, logged like an oops. */
  reportOops (ctx: Ctx, where: Ksym | string, e: unknown): void {
    this.addTaint('D')
    const task = ctx.task
    const msg = e instanceof Error ? e.message : String(e)
    const lines = [
      `Oops: exception in simulated code: ${msg} [#1] PREEMPT SMP`,
      `CPU: ${task.cpu} UID: 0 PID: ${task.pid} Comm: ${task.comm} Tainted: ${this.taintString()} ${this.release} ${this.buildVersion.split(' ')[0]}`,
      `RIP: 0010:${typeof where === 'string' ? where : formatSymbolOffset(where, Math.min(where.callOff, Math.max(0, where.size - 1)))}`,
      'Call Trace:',
      ' <TASK>',
      ...task.framesInnermostFirst().slice(1).map(f => ` ${formatSymbolOffset(f.sym, f.off)}`),
      ' </TASK>',
      '---[ end trace 0000000000000000 ]---',
    ]
    for (const l of lines) this.printk.log(KERN_EMERG, l)
  }

  /** WARN(): the cut-here block with the caller's location and stack. */
  warn (task: Task, file: string, line: number, where: Ksym | string, message?: string): void {
    this.addTaint('W')
    this.printk.log(KERN_WARNING, '------------[ cut here ]------------')
    if (message) this.printk.log(KERN_WARNING, message)
    const at = typeof where === 'string' ? where : formatSymbolOffset(where, where.callOff)
    this.printk.log(KERN_WARNING, `WARNING: CPU: ${task.cpu} PID: ${task.pid} at ${file}:${line} ${at}`)
    const mods = this.modules.list().map(m => `${m.name}${m.taints ? `(${m.taints})` : ''}`).join(' ')
    this.printk.log(KERN_WARNING, `Modules linked in: ${mods}`)
    this.printk.log(KERN_WARNING, `CPU: ${task.cpu} UID: 0 PID: ${task.pid} Comm: ${task.comm} Tainted: ${this.taintString()} ${this.release}`)
    this.printk.log(KERN_WARNING, 'Call Trace:')
    this.printk.log(KERN_WARNING, ' <TASK>')
    for (const f of task.framesInnermostFirst()) this.printk.log(KERN_WARNING, ` ${formatSymbolOffset(f.sym, f.off)}`)
    this.printk.log(KERN_WARNING, ' </TASK>')
    this.printk.log(KERN_WARNING, '---[ end trace 0000000000000000 ]---')
  }

  private warnDuplicate (path: string): void {
    this.printk.log(3, `sysfs: cannot create duplicate filename '${path}'`)
  }

  /** A bug in the simulator itself: logged, never fatal to the daemon. */
  reportInternalError (where: string, e: unknown): void {
    const msg = e instanceof Error ? (e.stack ?? e.message) : String(e)
    this.printk.log(3, `klpsim: internal error in ${where}: ${msg.split('\n')[0]}`)
    this.internalErrors.push(`${where}: ${msg}`)
  }

  readonly internalErrors: string[] = []
}
