// The recording format (klpsim-record/1): what `klpsim record` captures of a
// host's livepatch state, as pretty-printed JSON, and the checks a fixture
// passes before `klpsim mount --replay` uses it.

export const RECORD_FORMAT = 'klpsim-record/1'

/** One function directory of a patch object: `<name>,<sympos>`. */
export interface RecordedFunction { name: string, sympos: number }

export interface RecordedObject {
  /** vmlinux or a module name. */
  name: string
  /** The object's attribute files (patched on 6.1+): value, or null when present but unreadable. */
  attributes: Record<string, string | null>
  functions: RecordedFunction[]
}

export interface RecordedPatch {
  /** The patch's directory name: its module's name. */
  name: string
  /** enabled, transition, replace, stack_order, force, signal... as found: value, or null when present but unreadable (write-only). */
  attributes: Record<string, string | null>
  objects: RecordedObject[]
}

export type ModuleRole = 'livepatch' | 'target' | 'stack'

export interface RecordedModule {
  name: string
  /** livepatch: listed in /sys/kernel/livepatch or tainted K; target: an object of a patch; stack: named in a task's stack. */
  role: ModuleRole
  refcnt: string | null
  initstate: string | null
  taint: string | null
  /** Bytes of the module's core section (/sys/module/<m>/coresize). */
  coresize: string | null
  /** The entries of holders/, or null when it is missing. */
  holders: string[] | null
}

export interface RecordedTask {
  /** The thread group id (/proc/<pid>). */
  pid: number
  /** The thread's id (/proc/<pid>/task/<tid>). */
  tid: number
  comm: string
  /** The state letter of /proc/<tid>/stat (S, D, R, I, ...). */
  state: string | null
  /** PF_KTHREAD in /proc/<tid>/stat's flags. */
  kthread: boolean | null
  ppid: number | null
  /** /proc/<pid>/task/<tid>/patch_state: -1, 0 or 1; null when missing. */
  patchState: number | null
  /** /proc/<pid>/task/<tid>/stack without the `[<0>] ` prefixes, innermost first; null when unreadable. */
  stack: string[] | null
}

export interface Snapshot {
  /** Milliseconds since the recording started (wall clock). */
  atMs: number
  /** The kernel's uptime (/proc/uptime) at this snapshot, in ms; null when unreadable. */
  uptimeMs: number | null
  /** In stack order. */
  patches: RecordedPatch[]
  modules: RecordedModule[]
  /** The first snapshot: every task; later ones: the tasks that appeared or changed since the previous snapshot. */
  tasks: RecordedTask[]
  /** Thread ids gone since the previous snapshot. */
  exited: number[]
}

/** A text symbol of /proc/kallsyms the replay needs: every occurrence of a patched function, the livepatch and target modules' functions. */
export interface RecordedSymbol {
  /** vmlinux or a module name. */
  object: string
  name: string
  type: string
  /** Bytes to the next symbol, when kallsyms shows addresses (root); else null. */
  size: number | null
}

export interface RecordFixture {
  format: typeof RECORD_FORMAT
  recorder: string
  /** ISO 8601 time the recording started. */
  recordedAt: string
  /** The root the files were read under (/ for the host). */
  root: string
  kernel: {
    release: string | null
    /** /proc/sys/kernel/tainted */
    tainted: number | null
    /** Online CPUs, when the root shows them. */
    cpus: number | null
  }
  /** How the patches were put in stack order: their stack_order files, or /proc/modules (newest first) on kernels without them. */
  stackOrderFrom: 'stack_order' | 'proc-modules'
  intervalMs: number
  durationMs: number
  symbols: RecordedSymbol[]
  snapshots: Snapshot[]
}

export class FixtureError extends Error {}

/** A frame of /proc/<pid>/stack: `func+0xoff/0xsize [module]`. */
export interface StackFrame { name: string, off: number, size: number, module: string | null }

const FRAME = /^(?:\[<[0-9a-fA-F]+>\]\s+)?([^\s+]+)\+0x([0-9a-fA-F]+)\/0x([0-9a-fA-F]+)(?:\s+\[([^\]\s]+)\])?\s*$/

/** Parses one stack line (with or without its `[<0>] ` prefix); null for lines without a symbol. */
export function parseStackFrame (line: string): StackFrame | null {
  const m = FRAME.exec(line.trim())
  if (!m) return null
  return { name: m[1], off: parseInt(m[2], 16), size: parseInt(m[3], 16), module: m[4] ?? null }
}

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function need (cond: boolean, where: string, what: string): void {
  if (!cond) throw new FixtureError(`${where}: ${what}`)
}

const attrMap = (v: unknown, where: string): void => {
  need(isObject(v), where, 'must be an object of attribute values')
  for (const [k, x] of Object.entries(v as object)) need(x === null || typeof x === 'string', `${where}.${k}`, 'must be a string or null')
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v)
const nullable = (v: unknown, test: (x: unknown) => boolean): boolean => v === null || test(v)

/** Checks a parsed fixture; the error names the first field that is wrong. */
export function validateFixture (value: unknown): RecordFixture {
  need(isObject(value), 'fixture', 'is not a JSON object')
  const fx = value as Record<string, unknown>
  need(fx.format === RECORD_FORMAT, 'format', `is ${JSON.stringify(fx.format)}, not "${RECORD_FORMAT}" (not a klpsim recording, or from an incompatible version)`)
  need(isObject(fx.kernel), 'kernel', 'missing')
  const k = fx.kernel as Record<string, unknown>
  need(nullable(k.release, x => typeof x === 'string' && /^[\w.+~-]{1,64}$/.test(x as string)), 'kernel.release', 'must be a kernel release string or null')
  need(nullable(k.tainted, x => isInt(x) && (x as number) >= 0), 'kernel.tainted', 'must be a number or null')
  need(nullable(k.cpus, x => isInt(x) && (x as number) >= 1 && (x as number) <= 64), 'kernel.cpus', 'must be 1..64 or null')
  need(Array.isArray(fx.symbols), 'symbols', 'must be an array')
  ;(fx.symbols as unknown[]).forEach((s, i) => {
    const w = `symbols[${i}]`
    need(isObject(s), w, 'must be an object')
    const o = s as Record<string, unknown>
    need(typeof o.object === 'string' && typeof o.name === 'string' && typeof o.type === 'string', w, 'needs object, name and type')
    need(nullable(o.size, x => isInt(x) && (x as number) >= 0), `${w}.size`, 'must be a byte count or null')
  })
  need(Array.isArray(fx.snapshots) && (fx.snapshots as unknown[]).length > 0, 'snapshots', 'must be a non-empty array')
  ;(fx.snapshots as unknown[]).forEach((s, i) => {
    const w = `snapshots[${i}]`
    need(isObject(s), w, 'must be an object')
    const snap = s as Record<string, unknown>
    need(typeof snap.atMs === 'number' && snap.atMs >= 0, `${w}.atMs`, 'must be a time in ms')
    need(nullable(snap.uptimeMs, x => typeof x === 'number' && x >= 0), `${w}.uptimeMs`, 'must be a time in ms or null')
    need(Array.isArray(snap.patches), `${w}.patches`, 'must be an array')
    ;(snap.patches as unknown[]).forEach((p, j) => {
      const pw = `${w}.patches[${j}]`
      need(isObject(p) && typeof p.name === 'string' && p.name !== '', pw, 'needs a name')
      const patch = p as Record<string, unknown>
      attrMap(patch.attributes, `${pw}.attributes`)
      need(Array.isArray(patch.objects), `${pw}.objects`, 'must be an array')
      ;(patch.objects as unknown[]).forEach((o, n) => {
        const ow = `${pw}.objects[${n}]`
        need(isObject(o) && typeof o.name === 'string' && o.name !== '', ow, 'needs a name')
        attrMap((o as Record<string, unknown>).attributes, `${ow}.attributes`)
        const funcs = (o as Record<string, unknown>).functions
        need(Array.isArray(funcs), `${ow}.functions`, 'must be an array')
        ;(funcs as unknown[]).forEach((f, m) => need(isObject(f) && typeof f.name === 'string' && f.name !== '' && isInt(f.sympos) && (f.sympos as number) >= 0, `${ow}.functions[${m}]`, 'needs a name and a sympos'))
      })
    })
    need(Array.isArray(snap.modules), `${w}.modules`, 'must be an array')
    ;(snap.modules as unknown[]).forEach((m, j) => {
      need(isObject(m) && typeof m.name === 'string' && /^[\w-]{1,55}$/.test(m.name as string), `${w}.modules[${j}]`, 'needs a module name')
      const mod = m as Record<string, unknown>
      need(mod.role === 'livepatch' || mod.role === 'target' || mod.role === 'stack', `${w}.modules[${j}].role`, 'must be livepatch, target or stack')
      if (mod.coresize === undefined) mod.coresize = null
      for (const f of ['refcnt', 'initstate', 'taint', 'coresize']) need(nullable(mod[f], x => typeof x === 'string'), `${w}.modules[${j}].${f}`, 'must be a string or null')
      need(nullable(mod.holders, x => Array.isArray(x) && x.every(h => typeof h === 'string')), `${w}.modules[${j}].holders`, 'must be an array of names or null')
    })
    need(Array.isArray(snap.tasks), `${w}.tasks`, 'must be an array')
    ;(snap.tasks as unknown[]).forEach((t, j) => {
      const tw = `${w}.tasks[${j}]`
      need(isObject(t), tw, 'must be an object')
      const task = t as Record<string, unknown>
      need(isInt(task.pid) && (task.pid as number) > 0 && isInt(task.tid) && (task.tid as number) > 0 && (task.tid as number) < 2 ** 30, tw, 'needs a pid and a tid')
      need(typeof task.comm === 'string', `${tw}.comm`, 'must be a string')
      need(nullable(task.state, x => typeof x === 'string'), `${tw}.state`, 'must be a string or null')
      need(nullable(task.kthread, x => typeof x === 'boolean'), `${tw}.kthread`, 'must be true, false or null')
      need(nullable(task.ppid, isInt), `${tw}.ppid`, 'must be a number or null')
      need(nullable(task.patchState, x => x === -1 || x === 0 || x === 1), `${tw}.patchState`, 'must be -1, 0, 1 or null')
      need(nullable(task.stack, x => Array.isArray(x) && x.every(l => typeof l === 'string')), `${tw}.stack`, 'must be an array of frames or null')
    })
    need(Array.isArray(snap.exited) && (snap.exited as unknown[]).every(isInt), `${w}.exited`, 'must be an array of thread ids')
  })
  return value as RecordFixture
}
