// Purpose-built modules for the stop_machine tests: the same definitions load
// in both modes (ctx.klp.patch is klp_enable_patch or klp_register_patch).
import { defineModule, ModuleDefinition } from '../../../lib/kernel/module'
import type { Ctx } from '../../../lib/kernel/context'
import type { Kernel } from '../../../lib/kernel/kernel'
import type { Frame, Task } from '../../../lib/kernel/task'
import { SeqFile } from '../../../lib/kernel/seqfile'
import { framesFromNames, park } from '../../../lib/kernel/parked'
import { Completion, createCompletion } from '../../../lib/kernel/image/functions'
import type { KlpPatchDesc } from '../../../lib/livepatch/types'

export interface FuncSpec {
  oldName: string
  oldSympos?: number
  force?: number
}

export interface ObjSpec {
  /** Target module; vmlinux when absent. */
  name?: string | null
  funcs: FuncSpec[]
}

export interface PatchOpts {
  replace?: boolean
  hooksLoad?: Array<(ctx: Ctx) => void>
  hooksUnload?: Array<(ctx: Ctx) => void>
  /** Extra module functions (e.g. a kthread body). */
  functions?: ModuleDefinition['functions']
  /** Runs after the patch call in init. */
  afterPatch?: (ctx: Ctx, ret: number) => number | Promise<number>
  exit?: ModuleDefinition['exit']
  state?: () => any
}

/** The replacement of `oldName`: a seq_file show prints "<module>: patched <oldName>", other code logs it. */
function replacement (oldName: string) {
  return (ctx: Ctx, arg: unknown): number => {
    const self = ctx.module!
    if (arg instanceof SeqFile) ctx.call('seq_printf', arg, '%s: patched %s\n', self.name, oldName)
    else self.pr_info('patched %s', oldName)
    return 0
  }
}

export function replacementName (oldName: string): string { return `new_${oldName}` }

/** A livepatch module replacing the given functions, each with its own new function. */
export function patchModule (name: string, objs: ObjSpec[], opts: PatchOpts = {}): ModuleDefinition {
  const functions: NonNullable<ModuleDefinition['functions']> = { ...(opts.functions ?? {}) }
  for (const o of objs) for (const f of o.funcs) functions[replacementName(f.oldName)] = replacement(f.oldName)
  const desc = (): KlpPatchDesc => ({
    replace: opts.replace,
    objs: objs.map((o, i) => ({
      name: o.name ?? null,
      funcs: o.funcs.map(f => ({ oldName: f.oldName, oldSympos: f.oldSympos, force: f.force, newFunc: replacementName(f.oldName) })),
      hooksLoad: i === 0 ? opts.hooksLoad : undefined,
      hooksUnload: i === 0 ? opts.hooksUnload : undefined,
    })),
  })
  return defineModule({
    name,
    livepatch: true,
    license: 'GPL',
    functions,
    state: opts.state,
    init: async (ctx) => {
      const ret = await ctx.klp.patch(desc())
      return opts.afterPatch ? opts.afterPatch(ctx, ret) : ret
    },
    exit: opts.exit ?? (() => {}),
  })
}

/** A livepatch of cmdline_proc_show: `cat /proc/cmdline` prints "<name>: patched cmdline_proc_show". */
export function cmdlinePatch (name: string, opts: PatchOpts & { force?: number } = {}): ModuleDefinition {
  return patchModule(name, [{ funcs: [{ oldName: 'cmdline_proc_show', force: opts.force }] }], opts)
}

export const patchedCmdline = (name: string): string => `${name}: patched cmdline_proc_show\n`

/** A patch of test_klp_callbacks_busy's busymod_work_func (where its worker sleeps). */
export function busyPatch (name: string, force?: number): ModuleDefinition {
  return patchModule(name, [{ name: 'test_klp_callbacks_busy', funcs: [{ oldName: 'busymod_work_func', force }] }])
}

/** A target module whose init sleeps, so it stays COMING for a while. */
export function slowTarget (name: string, ms: number): ModuleDefinition {
  return defineModule({
    name,
    license: 'GPL',
    functions: { [`${name}_fn`]: { impl: () => 0, size: 0x40 } },
    init: async (ctx) => { await ctx.msleep(ms); return 0 },
    exit: () => {},
  })
}

/** A target module with one function of the given size. */
export function sizedTarget (name: string, fn: string, size: number): ModuleDefinition {
  return defineModule({ name, license: 'GPL', functions: { [fn]: { impl: () => 0, size } }, exit: () => {} })
}

/**
 * A livepatch module that also starts a kernel thread sleeping in one of its
 * own functions until `release` completes it (a task inside the module's code).
 */
export function patchWithThread (name: string): ModuleDefinition<{ release: Completion, task: Task | null }> {
  async function holder (ctx: Ctx): Promise<void> {
    await ctx.call('wait_for_completion', ctx.module!.data.release)
  }
  return patchModule(name, [{ funcs: [{ oldName: 'version_proc_show' }] }], {
    functions: { [`${name}_holder`]: { impl: holder, size: 0x80 } },
    state: () => ({ release: createCompletion(), task: null }),
    afterPatch: (ctx, ret) => {
      const self = ctx.module!
      if (!ret) self.data.task = ctx.kernel.sched.kthreadRun(self.symbol(`${name}_holder`)!, null, `${name}_thread`)
      return ret
    },
    exit: (ctx) => { ctx.call('complete', ctx.module.data.release) },
  })
}

/** A user task asleep with the given frames (innermost first, FUNC or FUNC+0xOFF); wake it to let it leave. */
export function parkedTask (k: Kernel, comm: string, frames: Array<string | Frame>): Task {
  const task = k.sched.create({ comm, kthread: false, parent: k.sched.find(k.sched.pidBase + 1) })
  park(k, task, { frames: frames.map(f => typeof f === 'string' ? framesFromNames(k, [f])[0] : f), state: 'S' })
  return task
}

/** Frames of a task preempted `off` bytes into `fn`, on its way through a read(2). */
export function preemptedIn (fn: string, off: number): string[] {
  return [`${fn}+0x${off.toString(16)}`, 'seq_read_iter', 'vfs_read', 'ksys_read', '__x64_sys_read', 'do_syscall_64', 'entry_SYSCALL_64_after_hwframe']
}
