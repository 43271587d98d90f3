// Tasks that sleep with a given set of frames: the boot-time population and the
// tasks users script (`klpsim task add`). A fake signal makes a user task leave
// the kernel (passing the return-to-user switch point) and restart its system call;
// a wakeup lets it return through its frames.
import type { Kernel } from './kernel'
import type { Frame, Task, TaskState } from './task'

export interface ParkOptions {
  /** Frames innermost first. */
  frames: Frame[]
  state: TaskState
}

export function park (k: Kernel, task: Task, opts: ParkOptions): void {
  const loop = async (): Promise<void> => {
    for (;;) {
      k.sched.parkWithFrames(task, opts.frames, opts.state)
      const reason = await task.sleepUntilWoken(opts.state)
      if (reason === 'exit' || task.exited) return
      if (reason === 'signal' && task.ignoresSignals) continue
      if (task.kthread) {
        if (reason === 'signal') continue
        // a woken kernel thread returns from its thread function and exits
        task.stack.length = 0
        k.sched.exit(task)
        return
      }
      // user task: back to user space through the return-to-user switch point
      task.stack.length = 0
      k.sched.returnToUser(task)
      if (reason === 'signal') continue // the interrupted system call restarts
      task.state = 'S'
      return
    }
  }
  loop().catch(e => k.reportInternalError(`task ${task.comm}`, e))
}

/**
 * Frames from function names (innermost first), each at its usual call offset, or
 * name+0xOFF. With skipMissing, names the symbol table lacks are left out.
 */
export function framesFromNames (k: Kernel, names: readonly string[], skipMissing = false): Frame[] {
  const known = skipMissing ? names.filter(n => k.kallsyms.lookupName(n.split('+')[0].trim())) : names
  return known.map(spec => {
    const m = /^([^+]+)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(spec.trim())
    if (!m) throw new Error(`bad frame '${spec}' (use FUNC or FUNC+0xOFF)`)
    const sym = k.kallsyms.lookupName(m[1])
    if (!sym) throw new Error(`unknown function '${m[1]}'`)
    const off = m[2] !== undefined ? Number(m[2]) : sym.callOff
    if (sym.size > 0 && off >= sym.size) throw new Error(`offset 0x${off.toString(16)} is outside ${sym.name} (size 0x${sym.size.toString(16)})`)
    return { sym, off }
  })
}
