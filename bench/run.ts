// npm run bench: runs every benchmark module present, merges their figures,
// writes bench/results.json with the machine they came from, and prints a
// table of each figure against its target.
//
//   node dist/bench/run.js [--only NAME,...] [--strict]
// --strict exits 1 when a target is missed.
import { existsSync, promises as fsp, readdirSync } from 'fs'
import * as os from 'os'
import * as path from 'path'

type Results = Record<string, number>
type BenchFn = () => Promise<Results>

/** The modules and their entry points, in the order they run (cheap and in-process first). */
const KNOWN: { name: string, fn: string }[] = [
  { name: 'elf', fn: 'benchElf' },
  { name: 'engine', fn: 'benchEngine' },
  { name: 'fuse', fn: 'benchFuse' },
  { name: 'mount', fn: 'benchMount' },
]

interface Target { text: string, met: (v: number, all: Results) => boolean | undefined }

const below = (limit: number, unit: string): Target => ({ text: `< ${limit} ${unit}`, met: (v) => v < limit })

/** Targets from the issues; a relative one is undefined when its reference is missing. */
const TARGETS: Record<string, Target> = {
  'elf.resolve_10k_ms': below(100, 'ms'),
  'engine.transition_ms': below(200, 'ms'),
  'engine.patched_call_ns': below(1000, 'ns'),
  'fuse.read_p50_us': {
    text: '≤ 2 × C libfuse',
    met: (v, all) => (all['fuse.read_p50_us_c_libfuse'] === undefined ? undefined : v <= 2 * all['fuse.read_p50_us_c_libfuse']),
  },
  'fuse.mount_ready_ms': below(500, 'ms'),
  'suite.selftests_s': below(60, 's'),
  'suite.run_startup_ms': below(1000, 'ms'),
}

function machine (): Record<string, string | number> {
  const cpus = os.cpus()
  return {
    hostname: os.hostname(),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memory_bytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()} ${os.version()}`,
    arch: os.arch(),
    node: process.version,
  }
}

/** Known modules first, then any other bench/*.js exporting a bench* function. */
function modules (only: string[] | null): { name: string, fn: string, file: string }[] {
  const found: { name: string, fn: string, file: string }[] = []
  const names = new Set<string>()
  for (const k of KNOWN) {
    names.add(k.name)
    found.push({ ...k, file: path.join(__dirname, `${k.name}.js`) })
  }
  for (const f of readdirSync(__dirname).sort()) {
    const name = f.replace(/\.js$/, '')
    if (!f.endsWith('.js') || name === 'run' || names.has(name)) continue
    found.push({ name, fn: '', file: path.join(__dirname, f) })
  }
  return only ? found.filter((m) => only.includes(m.name)) : found
}

function loadBench (file: string, fn: string): BenchFn | null {
  const mod = require(file) as Record<string, unknown>
  if (fn && typeof mod[fn] === 'function') return mod[fn] as BenchFn
  const any = Object.entries(mod).find(([k, v]) => /^bench[A-Z]/.test(k) && typeof v === 'function')
  return any ? any[1] as BenchFn : null
}

function format (v: number): string {
  return String(Math.round(v * 100) / 100)
}

function table (results: Results): { text: string, missed: string[] } {
  const rows: string[][] = [['key', 'value', 'target', 'result']]
  const missed: string[] = []
  for (const key of Object.keys(results).sort()) {
    const target = TARGETS[key]
    const met = target?.met(results[key], results)
    if (met === false) missed.push(key)
    rows.push([key, format(results[key]), target?.text ?? '', met === undefined ? '' : met ? 'pass' : 'FAIL'])
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)))
  const text = rows.map((r, i) => {
    const line = r.map((cell, c) => (c === 1 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd()
    return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line
  }).join('\n')
  return { text, missed }
}

async function main (): Promise<void> {
  const args = process.argv.slice(2)
  const onlyAt = args.indexOf('--only')
  const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? '').split(',').filter(Boolean) : null
  const strict = args.includes('--strict')
  const results: Results = {}
  const skipped: string[] = []
  const failed: Record<string, string> = {}
  for (const m of modules(only)) {
    if (!existsSync(m.file)) {
      console.log(`bench/${m.name}.ts is not present: skipped`)
      skipped.push(m.name)
      continue
    }
    let fn: BenchFn | null
    try {
      fn = loadBench(m.file, m.fn)
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err)
      console.log(`bench/${m.name}.ts cannot be loaded: ${msg.split('\n')[0]}`)
      failed[m.name] = msg.split('\n')[0]
      continue
    }
    if (!fn) {
      console.log(`bench/${m.name}.ts exports no bench function: skipped`)
      skipped.push(m.name)
      continue
    }
    process.stdout.write(`running bench/${m.name} ... `)
    const t0 = Date.now()
    try {
      const r = await fn()
      Object.assign(results, r)
      console.log(`${Object.keys(r).length} figures in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err)
      console.log(`failed: ${msg}`)
      failed[m.name] = msg.split('\n')[0]
    }
  }
  const out = {
    date: new Date().toISOString(),
    machine: machine(),
    results: Object.fromEntries(Object.keys(results).sort().map((k) => [k, results[k]])),
    ...(skipped.length ? { skipped } : {}),
    ...(Object.keys(failed).length ? { failed } : {}),
  }
  const file = path.resolve(__dirname, '..', '..', 'bench', 'results.json')
  await fsp.writeFile(file, JSON.stringify(out, null, 2) + '\n')
  const { text, missed } = table(results)
  console.log(`\n${text}\n`)
  const m = out.machine
  console.log(`${m.cpu}, ${m.cores} cores, ${(Number(m.memory_bytes) / 2 ** 30).toFixed(1)} GiB, ${os.release()}, node ${m.node}`)
  console.log(`written to ${path.relative(process.cwd(), file) || file}`)
  if (missed.length) console.log(`targets missed: ${missed.join(', ')}`)
  if (Object.keys(failed).length || (strict && missed.length)) process.exitCode = 1
}

main().then(() => process.exit(), (err) => { console.error(err); process.exit(1) })
