// transition.c: the per-task consistency model. Every task switches to the
// target state once its stack holds none of the functions being superseded;
// the transition completes when all tasks (and idle tasks) have switched.
import type { Ksym } from '../kernel/kallsyms'
import type { Frame, Task } from '../kernel/task'
import type { Timer } from '../kernel/clock'
import { createWork, WorkStruct } from '../kernel/workqueue'
import type { Livepatch } from './livepatch'
import { KlpFunc, KlpPatch, KLP_TRANSITION_IDLE, KLP_TRANSITION_PATCHED, KLP_TRANSITION_UNPATCHED } from './types'

/** MAX_STACK_ENTRIES: a longer stack cannot be saved reliably. */
export const MAX_STACK_ENTRIES = 100
/** Fake signals go out every SIGNALS_TIMEOUT unsuccessful attempts. */
export const SIGNALS_TIMEOUT = 15

const ERR_RUNNING = -16 // -EBUSY
const ERR_UNRELIABLE = -22 // -EINVAL
const ERR_BUSY_FUNC = -98 // -EADDRINUSE

export interface TransitionAttempt { atUs: number, remaining: number }

export class Transition {
  patch: KlpPatch | null = null
  target = KLP_TRANSITION_IDLE
  signalsCnt = 0
  /** The scheduler hook's static key. */
  private condReschedEnabled = false
  /** When the current transition started, and how its attempts went (status views). */
  startedUs = 0
  attempts: TransitionAttempt[] = []
  private readonly work: WorkStruct
  private workTimer: Timer | null = null
  /** When the delayed work runs next (µs of uptime), while it is pending. */
  nextAttemptUs: number | null = null
  private workQueued = false
  /** Busy ranges of the current attempt: function → bytes from its start that count. */
  private busy = new Map<Ksym, { size: number, func: KlpFunc }>()

  constructor (private readonly lp: Livepatch) {
    this.work = createWork('klp_transition_work_fn', this)
    const sched = lp.kernel.sched
    sched.hooks.fork.push((parent, child) => this.copyProcess(parent, child))
    sched.hooks.returnToUser.push((task) => this.updatePatchState(task))
    sched.hooks.idle.push((task) => this.updatePatchState(task))
    sched.hooks.schedule.push((task) => this.schedTrySwitch(task))
  }

  get targetName (): string { return this.target === KLP_TRANSITION_PATCHED ? 'patching' : 'unpatching' }

  private * everyTask (): Generator<Task> {
    yield * this.lp.kernel.sched.tasks()
  }

  private get idleTasks (): readonly Task[] { return this.lp.kernel.sched.idleTasks }

  /** klp_init_transition */
  init (patch: KlpPatch, state: number): void {
    const lp = this.lp
    if (this.target !== KLP_TRANSITION_IDLE) lp.warnOnce('klp_init_transition: a target state is already set')
    this.patch = patch
    this.target = state
    lp.debug.initTransition(patch.name, this.targetName)
    const initial = state === KLP_TRANSITION_PATCHED ? KLP_TRANSITION_UNPATCHED : KLP_TRANSITION_PATCHED
    for (const task of this.everyTask()) {
      if (task.patchState !== KLP_TRANSITION_IDLE) lp.warnOnce('klp_init_transition: task not idle')
      task.patchState = initial
    }
    for (const task of this.idleTasks) task.patchState = initial
    for (const func of patch.funcs()) func.transition = true
    this.startedUs = lp.kernel.clock.nowUs()
    this.attempts = []
  }

  /** klp_start_transition */
  start (): void {
    const lp = this.lp
    if (this.target === KLP_TRANSITION_IDLE || !this.patch) { lp.warnOnce('klp_start_transition: no target'); return }
    lp.pr_notice("'%s': starting %s transition", this.patch.name, this.targetName)
    for (const task of this.everyTask()) if (task.patchState !== this.target) task.patchPending = true
    for (const task of this.idleTasks) if (task.patchState !== this.target) task.patchPending = true
    this.condReschedEnabled = true
    this.signalsCnt = 0
  }

  /** Builds the busy ranges of klp_check_stack_func for every func of the patch's patched objects. */
  private buildBusyRanges (): void {
    this.busy = new Map()
    const patch = this.patch!
    for (const obj of patch.objs) {
      if (!obj.patched) continue
      for (const func of obj.funcs) {
        let start: Ksym | undefined
        let size = 0
        if (this.target === KLP_TRANSITION_UNPATCHED) {
          start = func.newFunc
          size = func.newSize
        } else {
          const ops = func.oldFunc ? this.lp.patchOps.findOps(func.oldFunc) : undefined
          if (!ops || ops.funcStack.length <= 1) {
            start = func.oldFunc
            size = func.oldSize
          } else {
            const prev = ops.funcStack[ops.funcStack.indexOf(func) + 1] ?? ops.funcStack[1]
            start = prev.newFunc
            size = prev.newSize
          }
        }
        if (start && !this.busy.has(start)) this.busy.set(start, { size, func })
      }
    }
  }

  /** klp_check_stack: 0, or the error and the func whose range a frame lies in. */
  private checkStack (task: Task): { err: number, func?: KlpFunc } {
    const stack = task.stack
    if (task.unreliable || stack.length > MAX_STACK_ENTRIES) return { err: ERR_UNRELIABLE }
    const busy = this.busy
    if (busy.size === 0) return { err: 0 }
    // functions in list order, as klp_check_stack walks objects and funcs
    let hit: KlpFunc | undefined
    for (let i = 0; i < stack.length; i++) {
      const f = stack[i]
      const b = busy.get(f.sym)
      if (b !== undefined && f.off < b.size) {
        if (!hit || this.funcOrder(b.func) < this.funcOrder(hit)) hit = b.func
      }
    }
    return hit ? { err: ERR_BUSY_FUNC, func: hit } : { err: 0 }
  }

  /**
   * Why a task has not switched yet, by the rules klp_try_switch_task applies: the
   * innermost frame inside a superseded function, or the task being on a CPU or
   * having an unreliable stack. For status views; changes nothing.
   */
  explain (task: Task): { reason: 'switched' | 'running' | 'unreliable' | 'sleeping' | 'none', frame?: Frame, func?: KlpFunc } {
    if (!this.patch || task.patchState === this.target) return { reason: 'switched' }
    if (task.onCpu) return { reason: 'running' }
    if (task.unreliable || task.stack.length > MAX_STACK_ENTRIES) return { reason: 'unreliable' }
    this.buildBusyRanges()
    for (let i = task.stack.length - 1; i >= 0; i--) {
      const f = task.stack[i]
      const b = this.busy.get(f.sym)
      if (b !== undefined && f.off < b.size) return { reason: 'sleeping', frame: f, func: b.func }
    }
    return { reason: 'none' }
  }

  private funcOrder (func: KlpFunc): number {
    let i = 0
    for (const f of this.patch!.funcs()) { if (f === func) return i; i++ }
    return i
  }

  /** klp_try_switch_task */
  trySwitchTask (task: Task): boolean {
    if (task.patchState === this.target) return true
    let err: number
    let func: KlpFunc | undefined
    if (task.onCpu) {
      err = ERR_RUNNING
    } else {
      ({ err, func } = this.checkStack(task))
      if (!err) {
        task.patchPending = false
        task.patchState = this.target
      }
    }
    const dbg = this.lp.debug
    switch (err) {
      case 0: break
      case ERR_RUNNING: dbg.switchRunning(task.comm, task.pid); break
      case ERR_UNRELIABLE: dbg.switchUnreliable(task.comm, task.pid); break
      case ERR_BUSY_FUNC: dbg.switchSleeping(task.comm, task.pid, func!.oldName); break
      default: dbg.switchUnknown(err, task.comm, task.pid)
    }
    return err === 0
  }

  /** klp_try_complete_transition */
  tryComplete (): void {
    const lp = this.lp
    if (this.target === KLP_TRANSITION_IDLE || !this.patch) { lp.warnOnce('klp_try_complete_transition: no transition'); return }
    this.buildBusyRanges()
    let complete = true
    let remaining = 0
    for (const task of this.everyTask()) {
      if (!this.trySwitchTask(task)) { complete = false; remaining++ }
    }
    for (const idle of this.idleTasks) {
      if (!this.trySwitchTask(idle)) {
        complete = false
        remaining++
        lp.kernel.sched.kickIdle(idle.cpu)
      }
    }
    this.attempts.push({ atUs: lp.kernel.clock.nowUs(), remaining })
    if (!complete) {
      if (this.signalsCnt && !(this.signalsCnt % SIGNALS_TIMEOUT)) this.sendSignals()
      this.signalsCnt++
      this.scheduleWork()
      return
    }
    this.condReschedEnabled = false
    const patch = this.patch
    this.complete()
    // ≤5.0 kept disabled patches registered
    if (lp.abi.registerModel) return
    if (!patch.enabled) lp.core.freePatchAsync(patch)
    else if (patch.replace) lp.core.freeReplacedPatchesAsync(patch)
  }

  /** schedule_delayed_work(&klp_transition_work, round_jiffies_relative(HZ)) */
  private scheduleWork (): void {
    if (this.workTimer || this.workQueued) return
    const clock = this.lp.kernel.clock
    const nowMs = clock.nowUs() / 1000
    let due = Math.round((nowMs + 1000) / 1000) * 1000
    if (due <= nowMs) due = nowMs + 1000
    this.nextAttemptUs = Math.round(due * 1000)
    this.workTimer = clock.setTimer(due - nowMs, () => {
      this.workTimer = null
      this.nextAttemptUs = null
      this.workQueued = true
      this.lp.kernel.workqueues.queueWork(this.work)
    })
  }

  /** klp_transition_work_fn, run by a kworker. */
  workFn (): void {
    this.workQueued = false
    if (this.patch) this.tryComplete()
  }

  /** Time until the delayed work fires, or null. */
  get workPending (): boolean { return this.workTimer !== null || this.workQueued }

  /** klp_complete_transition */
  complete (): void {
    const lp = this.lp
    const patch = this.patch!
    lp.debug.completeTransition(patch.name, this.targetName)
    if (patch.replace && this.target === KLP_TRANSITION_PATCHED) {
      lp.core.unpatchReplacedPatches(patch)
      lp.core.discardNops(patch)
    }
    if (this.target === KLP_TRANSITION_UNPATCHED) lp.patchOps.unpatchObjects(patch)
    for (const func of patch.funcs()) func.transition = false
    for (const task of this.everyTask()) {
      if (task.patchPending) lp.warnOnce('klp_complete_transition: task still pending')
      task.patchPending = false
      task.patchState = KLP_TRANSITION_IDLE
    }
    for (const task of this.idleTasks) {
      task.patchPending = false
      task.patchState = KLP_TRANSITION_IDLE
    }
    for (const obj of patch.objs) {
      if (!obj.loaded) continue
      if (this.target === KLP_TRANSITION_PATCHED) lp.core.postPatchCallback(obj)
      else if (this.target === KLP_TRANSITION_UNPATCHED) lp.core.postUnpatchCallback(obj)
    }
    lp.pr_notice("'%s': %s complete", patch.name, this.targetName)
    if (lp.abi.registerModel && this.target === KLP_TRANSITION_UNPATCHED) lp.core.transitionUnpatched(patch)
    this.target = KLP_TRANSITION_IDLE
    this.patch = null
  }

  /** klp_cancel_transition: used when enabling fails between init and start. */
  cancel (): void {
    const lp = this.lp
    if (this.target !== KLP_TRANSITION_PATCHED) { lp.warnOnce('klp_cancel_transition: not patching'); return }
    lp.debug.cancelTransition(this.patch!.name)
    this.target = KLP_TRANSITION_UNPATCHED
    this.complete()
  }

  /** klp_reverse_transition: writing the opposite value to `enabled` mid-transition. */
  reverse (): void {
    const lp = this.lp
    const patch = this.patch!
    lp.debug.reverseTransition(patch.name, this.target === KLP_TRANSITION_PATCHED ? 'patching to unpatching' : 'unpatching to patching')
    for (const task of this.everyTask()) task.patchPending = false
    for (const task of this.idleTasks) task.patchPending = false
    patch.enabled = !patch.enabled
    this.target = this.target === KLP_TRANSITION_PATCHED ? KLP_TRANSITION_UNPATCHED : KLP_TRANSITION_PATCHED
    this.start()
  }

  /** klp_update_patch_state: the switch point of a task leaving the kernel or an idle CPU. */
  updatePatchState (task: Task): void {
    if (task.patchPending) {
      task.patchPending = false
      task.patchState = this.target
    }
  }

  /** klp_copy_process: a forked task starts in its parent's state. */
  private copyProcess (parent: Task | undefined, child: Task): void {
    if (parent) {
      child.patchState = parent.patchState
      child.patchPending = parent.patchPending
    } else {
      child.patchState = this.target === KLP_TRANSITION_IDLE ? KLP_TRANSITION_IDLE : this.target
      child.patchPending = false
    }
  }

  /** __klp_sched_try_switch: a task going to sleep checks its own stack. */
  private schedTrySwitch (task: Task): void {
    if (!this.condReschedEnabled || !task.patchPending || !this.patch) return
    this.buildBusyRanges()
    this.trySwitchTask(task)
  }

  /** klp_force_transition */
  force (): void {
    const lp = this.lp
    lp.pr_warn('forcing remaining tasks to the patched state')
    for (const task of this.everyTask()) this.updatePatchState(task)
    for (const task of this.idleTasks) this.updatePatchState(task)
    const patch = this.patch!
    if (lp.abi.registerModel) lp.core.everForced = true
    if (this.target === KLP_TRANSITION_UNPATCHED) patch.forced = true
    else if (patch.replace) for (const p of lp.core.patches) if (p !== patch) p.forced = true
  }

  /** The 4.15–5.0 `signal` attribute: signal the remaining tasks now. */
  signalNow (): void {
    this.lp.pr_notice('signaling remaining tasks')
    this.signalTasks()
  }

  /** klp_send_signals */
  private sendSignals (): void {
    if (this.signalsCnt === SIGNALS_TIMEOUT) this.lp.pr_notice('signaling remaining tasks')
    this.signalTasks()
  }

  private signalTasks (): void {
    for (const task of this.everyTask()) {
      if (!task.patchPending || task.ignoresSignals) continue
      if (task.kthread) task.wake('signal', ['S'])
      else if (!task.wake('signal', ['S']) && task.onCpu && task.stack.length === 0) {
        // TIF_NOTIFY_SIGNAL: a task running in user space takes the signal path at once
        this.updatePatchState(task)
      }
    }
  }
}
