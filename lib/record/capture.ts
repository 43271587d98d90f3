// `klpsim record`: a read-only capture of a kernel's livepatch state — the
// patches in /sys/kernel/livepatch, the livepatch and target modules in
// /sys/module, every task's patch_state and stack — and a timeline of it.
// Everything is read under a root (/ for the host, or a klpsim mount); nothing
// is ever written there.
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import {
  FixtureError, ModuleRole, parseStackFrame, RECORD_FORMAT, RecordedModule, RecordedObject, RecordedPatch,
  RecordedSymbol, RecordedTask, RecordFixture, Snapshot,
} from './format'

/** The file operations a capture uses: node's fs.promises, or an in-memory host for tests (memfs). */
export type CaptureFs = Pick<typeof fsp, 'readFile' | 'readdir' | 'opendir' | 'lstat'>

export interface CaptureOptions {
  /** The root to read under: / for this host, or a klpsim mount point. */
  root: string
  /** Where root is read from (default: this machine's file systems). */
  fs?: CaptureFs
  /** How long to keep taking snapshots (0: one snapshot). */
  durationMs: number
  intervalMs: number
  /** Stops the timeline early; what was captured so far is kept. */
  signal?: AbortSignal
  /** After every snapshot (progress reports). */
  onSnapshot?: (index: number, snap: Snapshot) => void
}

export class RecordError extends FixtureError {}

/** At most this many snapshots in one recording. */
export const MAX_SNAPSHOTS = 10_000
const PF_KTHREAD = 0x00200000
const READ_PARALLEL = 32
/** A distance to the next function larger than this is a gap, not a size. */
const MAX_FUNCTION_SIZE = 0x100000n

async function readText (io: CaptureFs, path: string): Promise<string | null> {
  try { return await io.readFile(path, 'utf8') } catch { return null }
}

/**
 * A directory's entries in the order the kernel lists them (readdir sorts them
 * by name; sysfs order is the order objects and functions were added in).
 */
async function entries (io: CaptureFs, dir: string): Promise<Array<{ name: string, dir: boolean }> | null> {
  const names: string[] = []
  try {
    const d = await io.opendir(dir)
    for await (const e of d) names.push(e.name)
  } catch {
    return null
  }
  const out: Array<{ name: string, dir: boolean }> = []
  for (const name of names) {
    try {
      out.push({ name, dir: (await io.lstat(join(dir, name))).isDirectory() })
    } catch { /* gone meanwhile */ }
  }
  return out
}

/** An attribute's value without its trailing newline, or null when it cannot be read (write-only, failing). */
async function attr (io: CaptureFs, path: string): Promise<string | null> {
  const v = await readText(io, path)
  return v === null ? null : v.replace(/\n$/, '')
}

async function mapLimit<T, R> (items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i])
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

async function readObject (io: CaptureFs, dir: string, name: string): Promise<RecordedObject> {
  const obj: RecordedObject = { name, attributes: {}, functions: [] }
  for (const e of (await entries(io, dir)) ?? []) {
    if (!e.dir) {
      obj.attributes[e.name] = await attr(io, join(dir, e.name))
      continue
    }
    const comma = e.name.lastIndexOf(',')
    const sympos = comma > 0 ? Number(e.name.slice(comma + 1)) : NaN
    if (comma > 0 && Number.isSafeInteger(sympos)) obj.functions.push({ name: e.name.slice(0, comma), sympos })
  }
  return obj
}

async function readPatches (io: CaptureFs, root: string): Promise<RecordedPatch[]> {
  const base = join(root, 'sys/kernel/livepatch')
  const list = await entries(io, base)
  if (list === null) throw new RecordError(`cannot read ${base}: not a kernel with livepatch support (CONFIG_LIVEPATCH), or ${root} is not the root of one`)
  const patches: RecordedPatch[] = []
  for (const p of list) {
    if (!p.dir) continue
    const dir = join(base, p.name)
    const patch: RecordedPatch = { name: p.name, attributes: {}, objects: [] }
    const inside = await entries(io, dir)
    if (inside === null) continue // freed meanwhile
    for (const e of inside) {
      if (e.dir) patch.objects.push(await readObject(io, join(dir, e.name), e.name))
      else patch.attributes[e.name] = await attr(io, join(dir, e.name))
    }
    patches.push(patch)
  }
  return patches
}

/** Stack order: the stack_order files (6.14+), else /proc/modules, which lists the newest module first. */
async function inStackOrder (io: CaptureFs, root: string, patches: RecordedPatch[]): Promise<{ patches: RecordedPatch[], from: RecordFixture['stackOrderFrom'] }> {
  const orders = patches.map(p => Number(p.attributes.stack_order))
  if (patches.length && orders.every(n => Number.isInteger(n) && n > 0)) {
    return { patches: [...patches].sort((a, b) => Number(a.attributes.stack_order) - Number(b.attributes.stack_order)), from: 'stack_order' }
  }
  const mods = ((await readText(io, join(root, 'proc/modules'))) ?? '').split('\n').map(l => l.split(' ')[0]).filter(Boolean)
  const age = (name: string): number => {
    const i = mods.indexOf(name)
    return i < 0 ? -1 : mods.length - i
  }
  const sorted = [...patches].sort((a, b) => {
    const x = age(a.name)
    const y = age(b.name)
    if (x < 0 || y < 0) return (x < 0 ? 1 : 0) - (y < 0 ? 1 : 0) || a.name.localeCompare(b.name)
    return x - y
  })
  return { patches: sorted, from: 'proc-modules' }
}

function parseStat (text: string): { state: string, ppid: number, kthread: boolean } | null {
  const close = text.lastIndexOf(')')
  if (close < 0) return null
  const f = text.slice(close + 2).trim().split(/\s+/)
  const flags = Number(f[6])
  if (!f[0] || !Number.isFinite(flags)) return null
  return { state: f[0], ppid: Number(f[1]), kthread: (flags & PF_KTHREAD) !== 0 }
}

async function readTask (io: CaptureFs, root: string, pid: number, tid: number): Promise<RecordedTask | null> {
  const dir = join(root, 'proc', String(pid), 'task', String(tid))
  const [comm, stat, ps, stack] = await Promise.all([
    readText(io, join(dir, 'comm')), readText(io, join(dir, 'stat')), readText(io, join(dir, 'patch_state')), readText(io, join(dir, 'stack')),
  ])
  if (comm === null) return null // exited meanwhile
  const st = stat === null ? null : parseStat(stat)
  const psNum = ps === null ? NaN : Number(ps.trim())
  return {
    pid,
    tid,
    comm: comm.replace(/\n$/, ''),
    state: st?.state ?? null,
    kthread: st ? st.kthread : null,
    ppid: st && Number.isInteger(st.ppid) ? st.ppid : null,
    patchState: psNum === -1 || psNum === 0 || psNum === 1 ? psNum : null,
    stack: stack === null ? null : stack.split('\n').map(l => l.replace(/^\[<[0-9a-fA-F]+>\]\s*/, '').trim()).filter(Boolean),
  }
}

async function readTasks (io: CaptureFs, root: string): Promise<RecordedTask[]> {
  let names: string[]
  try { names = await io.readdir(join(root, 'proc')) } catch { throw new RecordError(`cannot read ${join(root, 'proc')}`) }
  const pids = names.filter(n => /^[1-9]\d*$/.test(n)).map(Number).sort((a, b) => a - b)
  const ids: Array<[number, number]> = []
  await mapLimit(pids, READ_PARALLEL, async (pid) => {
    let tids: number[]
    try {
      tids = (await io.readdir(join(root, 'proc', String(pid), 'task'))).filter(n => /^\d+$/.test(n)).map(Number)
    } catch {
      tids = []
    }
    for (const tid of tids) ids.push([pid, tid])
  })
  ids.sort((a, b) => a[1] - b[1])
  const tasks = await mapLimit(ids, READ_PARALLEL, ([pid, tid]) => readTask(io, root, pid, tid))
  return tasks.filter((t): t is RecordedTask => t !== null)
}

async function readModule (io: CaptureFs, root: string, name: string, role: ModuleRole): Promise<RecordedModule | null> {
  const dir = join(root, 'sys/module', name)
  const [refcnt, initstate, taint, coresize] = await Promise.all([attr(io, join(dir, 'refcnt')), attr(io, join(dir, 'initstate')), attr(io, join(dir, 'taint')), attr(io, join(dir, 'coresize'))])
  let holders: string[] | null
  try { holders = (await io.readdir(join(dir, 'holders'))).sort() } catch { holders = null }
  // a built-in "module" (parameters only) has none of these: nothing to replay
  if (refcnt === null && initstate === null && taint === null) return null
  return { name, role, refcnt, initstate, taint, coresize, holders }
}

async function readModules (io: CaptureFs, root: string, patches: RecordedPatch[], tasks: RecordedTask[]): Promise<RecordedModule[]> {
  const roles = new Map<string, ModuleRole>()
  const want = (name: string, role: ModuleRole): void => {
    const order: ModuleRole[] = ['livepatch', 'target', 'stack']
    const had = roles.get(name)
    if (!had || order.indexOf(role) < order.indexOf(had)) roles.set(name, role)
  }
  for (const p of patches) want(p.name, 'livepatch')
  const all = (await io.readdir(join(root, 'sys/module')).catch(() => [] as string[])).sort()
  await mapLimit(all, READ_PARALLEL, async (m) => {
    const taint = await attr(io, join(root, 'sys/module', m, 'taint'))
    if (taint?.includes('K')) want(m, 'livepatch')
  })
  for (const p of patches) for (const o of p.objects) if (o.name !== 'vmlinux') want(o.name, 'target')
  for (const t of tasks) for (const line of t.stack ?? []) {
    const f = parseStackFrame(line)
    if (f?.module) want(f.module, 'stack')
  }
  const names = [...roles.keys()].sort()
  const mods = await mapLimit(names, READ_PARALLEL, (n) => readModule(io, root, n, roles.get(n)!))
  return mods.filter((m): m is RecordedModule => m !== null)
}

interface KallsymsEntry { addr: bigint, type: string, name: string, object: string }

async function readKallsyms (io: CaptureFs, root: string): Promise<KallsymsEntry[]> {
  const text = await readText(io, join(root, 'proc/kallsyms'))
  if (text === null) return []
  const out: KallsymsEntry[] = []
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]+) (\S) (\S+)(?:\s+\[(\S+)\])?/.exec(line)
    if (m) out.push({ addr: BigInt('0x' + m[1]), type: m[2], name: m[3], object: m[4] ?? 'vmlinux' })
  }
  return out
}

/** The symbols a replay needs, with sizes from the distance to the next symbol when addresses are shown. */
function selectSymbols (all: KallsymsEntry[], snapshots: Snapshot[]): RecordedSymbol[] {
  const patched = new Set<string>()
  const wholeModules = new Set<string>()
  for (const s of snapshots) {
    for (const p of s.patches) {
      wholeModules.add(p.name)
      for (const o of p.objects) {
        if (o.name !== 'vmlinux') wholeModules.add(o.name)
        for (const f of o.functions) patched.add(`${o.name}\0${f.name}`)
      }
    }
    for (const m of s.modules) if (m.role !== 'stack') wholeModules.add(m.name)
  }
  const sizeOf = new Map<KallsymsEntry, number>()
  if (all.some(e => e.addr !== 0n)) {
    // a function ends where the next function of its object starts; the last one's end is unknown
    const text = all.filter(e => /^[tTwW]$/.test(e.type)).sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0))
    for (let i = 0; i < text.length; i++) {
      let j = i + 1
      while (j < text.length && text[j].addr === text[i].addr) j++
      if (j < text.length && text[j].object === text[i].object && text[j].addr - text[i].addr <= MAX_FUNCTION_SIZE) sizeOf.set(text[i], Number(text[j].addr - text[i].addr))
    }
  }
  const out: RecordedSymbol[] = []
  for (const e of all) {
    if (!/^[tTwW]$/.test(e.type)) continue
    if (!wholeModules.has(e.object) && !patched.has(`${e.object}\0${e.name}`)) continue
    out.push({ object: e.object, name: e.name, type: e.type, size: sizeOf.get(e) ?? null })
  }
  return out
}

async function readCpus (io: CaptureFs, root: string): Promise<number | null> {
  const online = await readText(io, join(root, 'sys/devices/system/cpu/online'))
  if (online === null) return null
  let n = 0
  for (const part of online.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part)
    if (!m) return null
    n += m[2] === undefined ? 1 : Number(m[2]) - Number(m[1]) + 1
  }
  return n >= 1 && n <= 64 ? n : null
}

async function takeSnapshot (io: CaptureFs, root: string, atMs: number): Promise<Snapshot & { stackOrderFrom: RecordFixture['stackOrderFrom'] }> {
  const uptime = await readText(io, join(root, 'proc/uptime'))
  const uptimeSec = uptime === null ? NaN : Number(uptime.trim().split(/\s+/)[0])
  const { patches, from } = await inStackOrder(io, root, await readPatches(io, root))
  const tasks = await readTasks(io, root)
  const modules = await readModules(io, root, patches, tasks)
  return { atMs, uptimeMs: Number.isFinite(uptimeSec) ? Math.round(uptimeSec * 1000) : null, patches, modules, tasks, exited: [], stackOrderFrom: from }
}

/** Later snapshots keep only the tasks that appeared or changed, and the ids of those gone. */
function delta (prev: Map<number, string>, snap: Snapshot): Snapshot {
  const now = new Map(snap.tasks.map(t => [t.tid, JSON.stringify(t)]))
  return {
    ...snap,
    tasks: snap.tasks.filter(t => prev.get(t.tid) !== now.get(t.tid)),
    exited: [...prev.keys()].filter(tid => !now.has(tid)),
  }
}

function waitUntil (t: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const ms = t - performance.now()
    if (ms <= 0 || signal?.aborted) return resolve()
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done)
  })
}

/** klpsim and its version (from the package, two levels above dist/lib). */
function recorderName (): string {
  try {
    return `klpsim ${(require(join(__dirname, '..', '..', '..', 'package.json')) as { version: string }).version}`
  } catch {
    return 'klpsim'
  }
}

export async function capture (opts: CaptureOptions): Promise<RecordFixture> {
  const root = opts.root
  const io = opts.fs ?? fsp
  const recordedAt = new Date().toISOString()
  const [release, tainted, cpus, kallsyms] = await Promise.all([
    readText(io, join(root, 'proc/sys/kernel/osrelease')),
    readText(io, join(root, 'proc/sys/kernel/tainted')),
    readCpus(io, root),
    readKallsyms(io, root),
  ])
  const t0 = performance.now()
  const snapshots: Snapshot[] = []
  let previous = new Map<number, string>()
  let stackOrderFrom: RecordFixture['stackOrderFrom'] = 'stack_order'
  for (let i = 0; i < MAX_SNAPSHOTS; i++) {
    const due = i * opts.intervalMs
    if (i > 0 && (due > opts.durationMs || opts.signal?.aborted)) break
    await waitUntil(t0 + due, opts.signal)
    if (i > 0 && opts.signal?.aborted) break
    const { stackOrderFrom: from, ...full } = await takeSnapshot(io, root, Math.round(performance.now() - t0))
    if (i === 0) stackOrderFrom = from
    const snap = i === 0 ? full : delta(previous, full)
    previous = new Map(full.tasks.map(t => [t.tid, JSON.stringify(t)]))
    snapshots.push(snap)
    opts.onSnapshot?.(i, snap)
  }
  const taintNum = tainted === null ? NaN : Number(tainted.trim())
  return {
    format: RECORD_FORMAT,
    recorder: recorderName(),
    recordedAt,
    root,
    kernel: {
      release: release === null ? null : release.trim(),
      tainted: Number.isSafeInteger(taintNum) && taintNum >= 0 ? taintNum : null,
      cpus,
    },
    stackOrderFrom,
    intervalMs: opts.intervalMs,
    durationMs: opts.durationMs,
    symbols: selectSymbols(kallsyms, snapshots),
    snapshots,
  }
}
