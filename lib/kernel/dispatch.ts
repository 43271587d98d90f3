// The function dispatch table: every simulated kernel function is called through
// here, like a call through an ftrace-instrumented call site. It keeps the calling
// task's stack frames, applies text patches and ftrace ops (livepatch redirection),
// and contains exceptions thrown by module code.
import type { Ctx } from './context'
import type { Ksym } from './kallsyms'
import type { Ftrace } from './ftrace'
import type { ModuleInstance } from './module'

/** Thrown out of simulated code after an oops was logged; syscall edges turn it into an errno. */
export class KernelOops extends Error {
  constructor (readonly error: unknown, readonly where: string) {
    super(`oops in ${where}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

export type OopsReporter = (ctx: Ctx, where: Ksym | string, error: unknown) => void

export class Dispatch {
  constructor (
    private readonly ftrace: Ftrace,
    private readonly resolve: (name: string) => Ksym | undefined,
    private readonly reportOops: OopsReporter,
  ) {}

  call (ctx: Ctx, fn: string | Ksym, args: readonly unknown[]): any {
    const found: Ksym | undefined = typeof fn === 'string' ? this.resolve(fn) : fn
    if (!found) throw new Error(`call of unknown kernel function '${String(fn)}'`)
    let sym: Ksym = found
    const stack = ctx.task.stack
    const caller = stack.length ? stack[stack.length - 1].sym : undefined
    // entry patching: a jump written over the first bytes, then the ftrace call site
    for (let hops = 0; hops < 8; hops++) {
      const jump: ((c: unknown) => Ksym | undefined) | undefined = sym.jump
      if (jump) {
        const next: Ksym | undefined = jump(ctx)
        if (next && next !== sym) { sym = next; continue }
      }
      const site = sym.site
      if (site === undefined) break
      const next: Ksym = this.ftrace.enter(ctx, site, caller)
      if (next === sym) break
      sym = next
    }
    const impl = sym.impl
    const frame = { sym, off: sym.callOff }
    stack.push(frame)
    const savedModule = ctx.module
    ctx.module = (sym.owner as ModuleInstance | undefined) ?? null
    let result: any
    try {
      result = impl === undefined ? 0 : impl(ctx, ...args)
    } catch (e) {
      const err = this.oops(ctx, sym, e)
      this.unwind(ctx, frame, savedModule)
      throw err
    }
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      const target = sym
      return (result as Promise<unknown>).then(
        v => { this.unwind(ctx, frame, savedModule); return v },
        e => { const err = this.oops(ctx, target, e); this.unwind(ctx, frame, savedModule); throw err },
      )
    }
    stack.pop()
    ctx.module = savedModule
    return result
  }

  private unwind (ctx: Ctx, frame: { sym: Ksym }, savedModule: ModuleInstance | null): void {
    const stack = ctx.task.stack
    const i = stack.lastIndexOf(frame as never)
    if (i >= 0) stack.length = i
    ctx.module = savedModule
  }

  private oops (ctx: Ctx, sym: Ksym, e: unknown): unknown {
    if (e instanceof KernelOops) return e
    // errors that are part of the simulation's control flow pass through untouched
    if (e !== null && typeof e === 'object' && (e as { klpsimPassThrough?: boolean }).klpsimPassThrough) return e
    this.reportOops(ctx, sym, e)
    return new KernelOops(e, sym.name)
  }
}
