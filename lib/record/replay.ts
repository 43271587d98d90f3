// `klpsim mount --replay FIXTURE`: boots a simulated kernel into the state a
// recording shows, through the engine: the symbols the recording names, the
// recorded modules (resident, code not simulated), a synthetic livepatch module
// per recorded patch loaded in stack order, the recorded tasks with their pids,
// comms and stacks, and a transition in progress started in its direction so
// that the tasks recorded as pending hold it. Then the timeline: at the recorded
// times, tasks move to the stacks the recording shows next, and the transition
// switches them on its next attempt, as it did on the recorded host.
import { readFile } from 'node:fs/promises'
import type { Simulator, SimulatorOptions } from '../simulator'
import { KERN_INFO } from '../kernel/printk'
import type { Task } from '../kernel/task'
import { imageOf } from '../module-image'
import { PROFILE_NAMES } from '../livepatch/abi'
import { KLP_TRANSITION_PATCHED, KLP_TRANSITION_UNPATCHED } from '../livepatch/types'
import { FixtureError, parseStackFrame, RecordedModule, RecordedTask, RecordFixture, Snapshot, validateFixture } from './format'
import { ensureVmlinuxSymbols, residentSymbols, symbolNeeds } from './symbols'
import { patchlessModule, planPatch } from './synthetic'
import { ReplayedTasks } from './replay-tasks'
import type { ModuleDefinition } from '../kernel/module'

export class ReplayError extends Error {}

/** The largest fixture read (a busy host's long timeline). */
export const MAX_FIXTURE_BYTES = 512 * 1024 * 1024

export async function readFixture (path: string): Promise<RecordFixture> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    throw new FixtureError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
  }
  if (text.length > MAX_FIXTURE_BYTES) throw new FixtureError(`${path}: larger than ${MAX_FIXTURE_BYTES >> 20} MiB`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    throw new FixtureError(`${path} is not JSON: ${(e as Error).message}`)
  }
  try {
    return validateFixture(value)
  } catch (e) {
    throw new FixtureError(`${path}: ${(e as Error).message}`)
  }
}

/**
 * The kernel profile whose ABI the recorded files show: the signal attribute
 * (4.19), replace or stack_order (7.1), an object's patched file (6.1), none of
 * them (5.10); without patches, the release number decides.
 */
export function inferProfile (fx: RecordFixture): string {
  const patches = fx.snapshots.flatMap(s => s.patches)
  const has = (a: string): boolean => patches.some(p => a in p.attributes)
  if (patches.length) {
    if (has('signal')) return '4.19'
    if (has('stack_order') || has('replace')) return '7.1'
    if (patches.some(p => p.objects.some(o => 'patched' in o.attributes))) return '6.1'
    return '5.10'
  }
  const m = /^(\d+)\.(\d+)/.exec(fx.kernel.release ?? '')
  if (!m) return '7.1'
  const v = Number(m[1]) * 1000 + Number(m[2])
  if (v >= 6011) return '7.1'
  if (v >= 6001) return '6.1'
  if (v >= 5001) return '5.10'
  return '4.19'
}

/** What the kernel is booted with to replay: the recorded release and CPUs, pids above the recorded ones, no boot tasks. */
export function replayBootOptions (fx: RecordFixture, profile?: string): Partial<SimulatorOptions> {
  let maxPid = 0
  for (const s of fx.snapshots) for (const t of s.tasks) maxPid = Math.max(maxPid, t.tid, t.pid)
  const chosen = profile ?? inferProfile(fx)
  if (!PROFILE_NAMES.includes(chosen)) throw new FixtureError(`unknown kernel profile '${chosen}'`)
  return {
    ...(fx.kernel.release ? { release: fx.kernel.release } : {}),
    ...(fx.kernel.cpus ? { cpus: fx.kernel.cpus } : {}),
    profile: chosen,
    pidBase: maxPid,
    bootTasks: false,
    bootWorkers: false,
  }
}

export interface ReplaySummary {
  release: string
  profile: string
  patches: string[]
  /** The transition reproduced, if one was in progress. */
  transition: { patch: string, target: 'patching' | 'unpatching', pending: number } | null
  residentModules: string[]
  tasks: number
  /** Later snapshots, applied at their recorded times. */
  timeline: number
  timelineMs: number
  /** What could not be reproduced, one line each. */
  notes: string[]
}

/** Where the recorded modules' functions go: below the module area the loader allocates from. */
const RESIDENT_BASE = 0xffffffffa0000000n
const RESIDENT_STRIDE = 0x200000n

export async function replay (sim: Simulator, fx: RecordFixture): Promise<ReplaySummary> {
  const k = sim.kernel
  const lp = sim.livepatch
  if (sim.mode !== 'ftrace') throw new ReplayError('replay reproduces the ftrace livepatch core; --mode stop-machine is not supported with --replay')
  const first = fx.snapshots[0]
  const notes: string[] = []
  const patches = first.patches
  const patchNames = new Set(patches.map(p => p.name))
  const recordedModules = new Map(first.modules.map(m => [m.name, m]))
  k.printk.log(KERN_INFO, `klpsim: replaying a recording of ${fx.kernel.release ?? 'an unknown kernel'} taken ${fx.recordedAt}: ${patches.length} patch(es), ${first.tasks.length} task(s), ${fx.snapshots.length - 1} later snapshot(s)`)

  // --- symbols and the modules whose code is not simulated --------------------------
  const needs = symbolNeeds(fx)
  ensureVmlinuxSymbols(k, needs.get('vmlinux'))
  const livepatchModules = new Set([...patchNames, ...first.modules.filter(m => m.role === 'livepatch').map(m => m.name)])
  const residents: string[] = []
  const stackModules = new Set<string>()
  for (const s of fx.snapshots) for (const t of s.tasks) for (const l of t.stack ?? []) { const f = parseStackFrame(l); if (f?.module) stackModules.add(f.module) }
  const loadedTargets = new Set<string>()
  for (const p of patches) {
    for (const o of p.objects) {
      if (o.name === 'vmlinux') continue
      if (o.attributes.patched === '1' || recordedModules.has(o.name)) loadedTargets.add(o.name)
    }
  }
  for (const m of first.modules) if (m.role !== 'livepatch') loadedTargets.add(m.name)
  for (const m of stackModules) loadedTargets.add(m)
  for (const name of [...loadedTargets].sort()) {
    if (livepatchModules.has(name)) continue
    if (k.modules.find(name) || k.sysModule.lookup(name) || !/^[\w-]{1,55}$/.test(name)) {
      notes.push(`module ${name}: the simulated kernel has a /sys/module/${name} of its own; not replayed`)
      continue
    }
    const base = RESIDENT_BASE + BigInt(residents.length) * RESIDENT_STRIDE
    k.modules.addResident(name, residentSymbols(needs.get(name) ?? new Map(), base))
    residents.push(name)
  }

  // --- the livepatch modules, completed patches first -----------------------------------
  const trans = patches.find(p => p.attributes.transition === '1') ?? null
  if (patches.filter(p => p.attributes.transition === '1').length > 1) notes.push('several patches were recorded in transition; only the first is reproduced as one')
  const target = trans && trans.attributes.enabled === '0' ? KLP_TRANSITION_UNPATCHED : KLP_TRANSITION_PATCHED
  const plans = patches.map((p, i) => planPatch(p, patches.slice(0, i), needs.get(p.name), recordedModules.get(p.name)?.taint ?? null))
  const load = async (def: ModuleDefinition): Promise<void> => {
    const mark = k.printk.endSeq
    const ret = await sim.insmod(imageOf(def, k.vermagic), [], 'klpsim-replay')
    if (ret !== 0) {
      const why = k.printk.all().filter(r => r.seq >= mark && /livepatch|klpsim/.test(r.text)).map(r => r.text).slice(-3).join('; ')
      throw new ReplayError(`the replayed ${def.livepatch ? 'livepatch' : 'module'} ${def.name} failed to load (${ret})${why ? `: ${why}` : ''}`)
    }
  }
  const disable = async (name: string): Promise<void> => {
    try {
      await sim.fs.writeFile(`/sys/kernel/livepatch/${name}/enabled`, '0')
    } catch (e) {
      throw new ReplayError(`disabling the replayed patch ${name} failed: ${(e as Error).message}`)
    }
  }
  const loaded: string[] = []
  const patchingLater = trans && target === KLP_TRANSITION_PATCHED ? trans : null
  for (const [i, p] of patches.entries()) {
    if (p === patchingLater) break
    if (p.attributes.enabled === '0' && p !== trans && !lp.abi.registerModel) {
      notes.push(`patch ${p.name} was recorded disabled outside a transition (a moment before it was freed); its module is replayed without a patch`)
      await load(patchlessModule(recordedModules.get(p.name) ?? { name: p.name, role: 'livepatch', refcnt: null, initstate: null, taint: null, coresize: null, holders: null }, needs.get(p.name)))
      continue
    }
    await load(plans[i].def)
    loaded.push(p.name)
    if (p.attributes.enabled === '0' && p !== trans) await disable(p.name)
  }
  for (const m of first.modules) {
    if (m.role === 'livepatch' && !patchNames.has(m.name) && !k.modules.find(m.name)) await load(patchlessModule(m, needs.get(m.name)))
  }

  // --- the tasks, then the transition they hold ------------------------------------------
  const replayed = new ReplayedTasks(k)
  const later: RecordedTask[] = []
  const pendingRecorded = new Set<Task>()
  const runningRecorded = new Set<Task>()
  const initial = target === KLP_TRANSITION_PATCHED ? KLP_TRANSITION_UNPATCHED : KLP_TRANSITION_PATCHED
  for (const rec of [...first.tasks].sort((a, b) => a.tid - b.tid)) {
    if (!replayed.resolvable(rec.stack)) { later.push(rec); continue }
    const task = replayed.create(rec)
    if (!task) { notes.push(`task ${rec.comm} (${rec.tid}) recorded twice; kept once`); continue }
    if (trans && rec.patchState === initial) {
      // held on a CPU until the transition has started; then only the running ones and those with no blocking frame stay there
      task.onCpu = true
      pendingRecorded.add(task)
      if (rec.state === 'R') runningRecorded.add(task)
    }
  }
  let transition: ReplaySummary['transition'] = null
  if (trans) {
    const i = patches.indexOf(trans)
    if (target === KLP_TRANSITION_PATCHED) {
      await load(plans[i].def)
      loaded.push(trans.name)
      for (const p of patches.slice(i + 1)) notes.push(`patch ${p.name} follows the patch in transition in stack order; not replayed`)
    } else {
      await disable(trans.name)
    }
    const tr = lp.transition
    for (const task of pendingRecorded) {
      if (!task.patchPending || runningRecorded.has(task)) continue
      task.onCpu = false
      const why = tr.explain(task).reason
      if (why !== 'sleeping' && why !== 'unreliable') task.onCpu = true
    }
    for (const rec of later) {
      const task = replayed.create(rec)
      if (task && rec.patchState === target && task.patchPending) tr.trySwitchTask(task)
    }
    const stillPending = replayed.all().filter(t => t.patchPending)
    const disagree = replayed.all().filter(t => t.patchPending !== pendingRecorded.has(t))
    if (disagree.length) notes.push(`${disagree.length} task(s) switched differently than recorded: ${disagree.slice(0, 5).map(t => `${t.comm} (${t.pid})`).join(', ')}`)
    transition = { patch: trans.name, target: target === KLP_TRANSITION_PATCHED ? 'patching' : 'unpatching', pending: stillPending.length }
    notes.push('the transition restarts at replay: its elapsed time, attempt count and fake-signal countdown start from zero')
  } else {
    for (const rec of later) replayed.create(rec)
  }
  if (replayed.unresolvedFrames) notes.push(`${replayed.unresolvedFrames} stack frame(s) without a symbol were left out`)

  // --- module and kernel attributes as recorded --------------------------------------
  applyModuleAttributes(sim, first.modules)
  if (fx.kernel.tainted !== null) k.taintMask = fx.kernel.tainted

  // --- the timeline ---------------------------------------------------------------------
  const t0 = first.uptimeMs ?? null
  let lastMs = 0
  for (const snap of fx.snapshots.slice(1)) {
    const at = snap.uptimeMs !== null && t0 !== null ? snap.uptimeMs - t0 : snap.atMs - first.atMs
    const dueMs = Math.max(0, at)
    lastMs = Math.max(lastMs, dueMs)
    k.clock.setTimer(dueMs, () => applySnapshot(sim, replayed, snap, target))
  }
  const patchChanges = timelinePatchChanges(fx)
  if (patchChanges) notes.push(`${patchChanges} change(s) of the patches themselves in the timeline (loaded, removed, enabled written) are not replayed; the tasks' are`)

  return {
    release: k.release,
    profile: lp.abi.profile,
    patches: loaded,
    transition,
    residentModules: residents,
    tasks: replayed.all().length,
    timeline: fx.snapshots.length - 1,
    timelineMs: lastMs,
    notes,
  }
}

function applyModuleAttributes (sim: Simulator, modules: readonly RecordedModule[]): void {
  const loader = sim.kernel.modules
  for (const m of modules) {
    const mod = loader.find(m.name)
    if (!mod) continue
    if (m.taint !== null) mod.taints = m.taint
    if (m.refcnt !== null && /^\d+$/.test(m.refcnt)) mod.refcnt = Number(m.refcnt)
    if (m.coresize !== null && /^\d+$/.test(m.coresize)) mod.coresize = Number(m.coresize)
    for (const h of m.holders ?? []) if (loader.find(h)) mod.holders.add(h)
  }
}

/**
 * A later snapshot: tasks appear, move to new stacks, exit. Those recorded as
 * switched leave the CPU (the next attempt switches them, as the host's did);
 * those still pending stay on a CPU only while recorded running, otherwise
 * their new stack decides, by the transition's own rules.
 */
function applySnapshot (sim: Simulator, replayed: ReplayedTasks, snap: Snapshot, target: number): void {
  const tr = sim.livepatch.transition
  try {
    for (const tid of snap.exited) replayed.exit(tid)
    for (const rec of snap.tasks) {
      const task = replayed.update(rec)
      if (!task || !task.patchPending || rec.patchState === null) continue
      // -1: the recorded transition was over by then, this task had switched too
      const switched = rec.patchState === target || rec.patchState === -1
      task.onCpu = !switched && rec.state === 'R'
      // a user task seen switched though its stack still blocks went through user space
      if (switched && !task.kthread && tr.explain(task).reason !== 'none') sim.kernel.scripted.wake(String(task.pid))
    }
  } catch (e) {
    sim.kernel.reportInternalError('replay timeline', e)
  }
}

/**
 * Changes of the patches in the timeline that the engine does not make by
 * itself: a patch appearing, or a patch's enabled file changing (a write). A
 * transition completing, nops going and freed patches leaving follow from the
 * tasks and are reproduced.
 */
function timelinePatchChanges (fx: RecordFixture): number {
  let n = 0
  for (let i = 1; i < fx.snapshots.length; i++) {
    const before = new Map(fx.snapshots[i - 1].patches.map(p => [p.name, p.attributes.enabled]))
    for (const p of fx.snapshots[i].patches) {
      if (!before.has(p.name) || before.get(p.name) !== p.attributes.enabled) n++
    }
  }
  return n
}

/** The lines `klpsim mount --replay` prints before it mounts. */
export function replayReport (path: string, s: ReplaySummary): string {
  const what = [
    `${s.patches.length} patch(es)`,
    `${s.tasks} task(s)`,
    `${s.residentModules.length} resident module(s)`,
  ]
  const lines = [`klpsim: replaying ${path} (${s.release}, profile ${s.profile}): ${what.join(', ')}`]
  if (s.transition) lines.push(`klpsim: ${s.transition.patch} ${s.transition.target}, ${s.transition.pending} task(s) pending`)
  if (s.timeline) lines.push(`klpsim: timeline of ${s.timeline} snapshot(s) over ${(s.timelineMs / 1000).toFixed(1)} s of kernel time`)
  for (const n of s.notes) lines.push(`klpsim: note: ${n}`)
  return lines.join('\n') + '\n'
}
