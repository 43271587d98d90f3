// One simulated machine: the kernel, its livepatch core, the built-in modules,
// and entry points that act like the commands a user runs (insmod, rmmod).
import { Kernel, KernelOptions } from './kernel/kernel'
import { Livepatch } from './livepatch/livepatch'
import type { StopMachineOptions } from './livepatch/stopmachine/core'
import { FsView } from './kobject/view'
import type { ModuleImage } from './kernel/loader'
import { builtinSource, findBuiltin } from './modules'
import { imageOf } from './module-image'
import type { Task } from './kernel/task'
import type { BoolSyntax } from './kernel/kstrtox'
import { Faults } from './faults'

export type LivepatchMode = 'ftrace' | 'stop-machine'

export interface SimulatorOptions extends KernelOptions {
  mode?: LivepatchMode
  /** Kernel ABI profile: 7.1 (default), 6.1, 5.10, 4.19. */
  profile?: string
  /** stop-machine mode's kernel configuration (LIVEPATCH_STACK, RESTRICT_KPROBE, PREEMPTION). */
  stopMachine?: StopMachineOptions
}

const INSMOD_ROUTE = ['entry_SYSCALL_64_after_hwframe', 'do_syscall_64', '__x64_sys_finit_module', 'idempotent_init_module', 'init_module_from_file', 'load_module']
const RMMOD_ROUTE = ['entry_SYSCALL_64_after_hwframe', 'do_syscall_64', '__x64_sys_delete_module']

/** kstrtobool's spellings on the kernel a profile and mode stand for. */
function boolSyntaxOf (opts: SimulatorOptions): BoolSyntax {
  if (opts.mode === 'stop-machine') return 'no-ed'
  switch (opts.profile ?? '7.1') {
    case '7.1': return 'mainline'
    case '6.1': return 'no-ed'
    default: return 'legacy'
  }
}

export class Simulator {
  readonly kernel: Kernel
  readonly livepatch: Livepatch
  /** The in-process, fs-like view of the mounted tree. */
  readonly fs: FsView
  readonly mode: LivepatchMode
  /** Fault injection (`klpsim fault`). */
  readonly faults: Faults

  constructor (opts: SimulatorOptions = {}) {
    this.kernel = new Kernel({ boolSyntax: boolSyntaxOf(opts), ...opts })
    this.mode = opts.mode ?? 'ftrace'
    this.livepatch = new Livepatch(this.kernel, { profile: opts.profile, mode: this.mode, stopMachine: opts.stopMachine })
    this.fs = new FsView(this.kernel.root)
    this.faults = new Faults(this)
  }

  /** The image of a built-in module by name or file name (livepatch-sample.ko). */
  builtinImage (name: string): ModuleImage | undefined {
    const b = findBuiltin(name)
    return b ? imageOf(b.def, this.kernel.vermagic, builtinSource(b)) : undefined
  }

  /** A user task that enters the kernel for one system call, then exits. */
  private commandTask (comm: string): Task {
    return this.kernel.sched.create({ comm, kthread: false, parent: this.kernel.caller })
  }

  /** finit_module(): 0 or -errno, after the module's init finished. */
  async insmod (image: ModuleImage, args: readonly string[] = [], comm = 'insmod'): Promise<number> {
    const task = this.commandTask(comm)
    const r = await this.kernel.runSyscall(task, INSMOD_ROUTE, (ctx) => this.kernel.modules.load(image, args, ctx), true)
    return r as number
  }

  /** delete_module(name, O_NONBLOCK): 0 or -errno. */
  async rmmod (name: string, comm = 'rmmod'): Promise<number> {
    const task = this.commandTask(comm)
    const r = await this.kernel.runSyscall(task, RMMOD_ROUTE, (ctx) => this.kernel.modules.unload(name, ctx), true)
    return r as number
  }
}
