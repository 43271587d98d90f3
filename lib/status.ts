// `klpsim status`: the patch stack, which version of every patched function is
// live, and — during a transition — which tasks hold it and why.
import type { Simulator } from './simulator'
import { formatSymbolOffset } from './kernel/kallsyms'
import { KLP_TRANSITION_PATCHED } from './livepatch/types'
import { SIGNALS_TIMEOUT } from './livepatch/transition'
import type { Task } from './kernel/task'

export const STATUS_FORMAT = 'klpsim-status/1'

export interface StatusPatch {
  name: string
  stackOrder: number
  enabled: boolean
  transition: boolean
  replace: boolean
  forced: boolean
  objects: Array<{ name: string, loaded: boolean, patched: boolean, functions: Array<{ name: string, sympos: number, nop: boolean }> }>
}

export interface StatusFunction {
  object: string
  function: string
  sympos: number
  /** The version tasks that have switched run: the top of the function's stack. */
  live: { patch: string, nop: boolean }
  /** Every patch on the function's stack, newest first. */
  stack: string[]
  /** While the top entry is in transition: tasks still running the version below it. */
  previous: { patch: string | null, tasks: number[] } | null
}

export interface StatusTask {
  pid: number
  tgid: number
  comm: string
  kthread: boolean
  state: string
  /** Why it has not switched: sleeping in a superseded function, running, unreliable stack, or none left (switches at its next switch point). */
  reason: 'sleeping' | 'running' | 'unreliable' | 'none'
  frame: string | null
  function: string | null
  /** The patch whose version of that function is being replaced or removed. */
  patchedBy: string | null
}

export interface StatusTransition {
  patch: string
  target: 'patching' | 'unpatching'
  elapsedMs: number
  attempts: number
  nextAttemptInMs: number | null
  /** Fake signals go out when the attempt counter reaches a multiple of 15. */
  signalsInAttempts: number
  signalsInMs: number | null
  tasks: { total: number, switched: number, pending: number }
  pending: StatusTask[]
}

export interface StatusReport {
  format: typeof STATUS_FORMAT
  kernel: { release: string, mode: string, profile: string, clock: string, uptimeMs: number, tainted: number }
  patches: StatusPatch[]
  functions: StatusFunction[]
  transition: StatusTransition | null
}

function allTasks (sim: Simulator): Task[] {
  return [...sim.kernel.sched.tasks(), ...sim.kernel.sched.idleTasks]
}

export function buildStatus (sim: Simulator): StatusReport {
  const k = sim.kernel
  const lp = sim.livepatch
  const tr = lp.transition
  const now = k.clock.nowUs()
  const sm = lp.stopMachine
  // stop_machine mode lists every registered patch; the ftrace core the enabled ones
  const listed = sm ? sm.patches : lp.core.patches
  const patches: StatusPatch[] = listed.map((p, i) => ({
    name: p.name,
    stackOrder: i + 1,
    enabled: p.enabled,
    transition: tr.patch === p,
    replace: p.replace,
    forced: p.forced,
    objects: p.objs.map(o => ({
      name: o.displayName,
      loaded: o.loaded,
      patched: o.patched,
      functions: o.funcs.map(f => ({ name: f.oldName, sympos: f.oldSympos || 1, nop: f.nop })),
    })),
  }))

  const pendingTasks = tr.patch ? allTasks(sim).filter(t => t.patchPending) : []
  const functions: StatusFunction[] = []
  if (sm) {
    for (const node of sm.funcList.all()) {
      const top = node.top
      if (!top) continue
      functions.push({
        object: top.obj.displayName,
        function: top.oldName,
        sympos: top.oldSympos || 1,
        live: { patch: top.obj.patch.name, nop: false },
        stack: [...node.funcStack].reverse().map(f => f.obj.patch.name),
        previous: null,
      })
    }
  }
  for (const ops of lp.patchOps.ops.values()) {
    const top = ops.funcStack[0]
    if (!top) continue
    functions.push({
      object: top.obj.displayName,
      function: top.oldName,
      sympos: top.oldSympos || 1,
      live: { patch: top.obj.patch.name, nop: top.nop },
      stack: ops.funcStack.map(f => f.obj.patch.name),
      previous: top.transition
        ? { patch: ops.funcStack[1]?.obj.patch.name ?? null, tasks: pendingTasks.map(t => t.pid) }
        : null,
    })
  }
  functions.sort((a, b) => (a.object + a.function).localeCompare(b.object + b.function))

  let transition: StatusTransition | null = null
  if (tr.patch) {
    const tasks = allTasks(sim)
    const cnt = tr.signalsCnt
    const nextSignalAt = Math.max(SIGNALS_TIMEOUT, Math.ceil(cnt / SIGNALS_TIMEOUT) * SIGNALS_TIMEOUT)
    const signalsInAttempts = nextSignalAt - cnt + 1
    const nextAttemptInMs = tr.nextAttemptUs === null ? null : Math.max(0, (tr.nextAttemptUs - now) / 1000)
    transition = {
      patch: tr.patch.name,
      target: tr.target === KLP_TRANSITION_PATCHED ? 'patching' : 'unpatching',
      elapsedMs: (now - tr.startedUs) / 1000,
      attempts: tr.attempts.length,
      nextAttemptInMs,
      signalsInAttempts,
      signalsInMs: nextAttemptInMs === null ? null : nextAttemptInMs + (signalsInAttempts - 1) * 1000,
      tasks: { total: tasks.length, switched: tasks.length - pendingTasks.length, pending: pendingTasks.length },
      pending: pendingTasks.map(t => {
        const why = tr.explain(t)
        return {
          pid: t.pid,
          tgid: t.tgid,
          comm: t.comm,
          kthread: t.kthread,
          state: t.state,
          reason: why.reason === 'switched' ? 'none' : why.reason,
          frame: why.frame ? formatSymbolOffset(why.frame.sym, why.frame.off) : null,
          function: why.func?.oldName ?? null,
          patchedBy: why.func ? why.func.obj.patch.name : null,
        }
      }),
    }
  }

  return {
    format: STATUS_FORMAT,
    kernel: { release: k.release, mode: sim.mode, profile: lp.abi.profile, clock: k.clock.kind, uptimeMs: now / 1000, tainted: k.taintMask },
    patches,
    functions,
    transition,
  }
}

const REASON: Record<string, string> = {
  sleeping: 'sleeps in',
  running: 'is running on a CPU',
  unreliable: 'has an unreliable stack',
  none: 'holds nothing patched: switches at its next switch point',
}

export function formatTaskLine (t: StatusTask): string {
  const who = `${t.comm} (pid ${t.pid})`
  if (t.reason === 'sleeping') return `${who} sleeps in ${t.frame} — patched by ${t.patchedBy}`
  return `${who} ${REASON[t.reason]}`
}

/** A progress bar of switched tasks. */
export function progressBar (done: number, total: number, width = 40): string {
  const n = total ? Math.round((done / total) * width) : width
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}] ${done}/${total} tasks switched`
}

export function formatStatus (r: StatusReport): string {
  const out: string[] = []
  out.push(`kernel ${r.kernel.release} (${r.kernel.mode} mode, profile ${r.kernel.profile}, ${r.kernel.clock} clock), uptime ${(r.kernel.uptimeMs / 1000).toFixed(1)} s`)
  out.push('')
  if (!r.patches.length) out.push('no livepatch is enabled')
  else {
    out.push('patches (stack order):')
    for (const p of r.patches) {
      const flags = [p.enabled ? 'enabled' : 'disabled', p.transition ? 'in transition' : '', p.replace ? 'replace' : '', p.forced ? 'forced' : ''].filter(Boolean).join(', ')
      out.push(`  ${String(p.stackOrder).padStart(2)}  ${p.name.padEnd(28)} ${flags}`)
    }
  }
  if (r.functions.length) {
    out.push('')
    out.push('patched functions (live version):')
    for (const f of r.functions) {
      const name = `${f.object}:${f.function},${f.sympos}`
      let line = `  ${name.padEnd(44)} ${f.live.nop ? `original code (nop of ${f.live.patch})` : f.live.patch}`
      if (f.stack.length > 1) line += `   [stack: ${f.stack.join(' > ')}]`
      if (f.previous) line += `; ${f.previous.tasks.length} task(s) still run ${f.previous.patch ?? 'the original'}`
      out.push(line)
    }
  }
  const t = r.transition
  if (t) {
    out.push('')
    const signals = t.signalsInMs === null ? '' : `, fake signals in ${(t.signalsInMs / 1000).toFixed(1)} s`
    out.push(`transition: ${t.patch} ${t.target}, running for ${(t.elapsedMs / 1000).toFixed(1)} s, ${t.attempts} attempt(s)${signals}`)
    out.push(`  ${progressBar(t.tasks.switched, t.tasks.total)}`)
    for (const p of t.pending) out.push(`  ${formatTaskLine(p)}`)
  }
  return out.join('\n') + '\n'
}
