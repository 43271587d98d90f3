// FUSE latency: open+read+close (and open+write+close) of a real attribute
// of the simulated kernel through a klpsim mount (the Daemon that `klpsim
// mount` runs, with livepatch-sample loaded), against a minimal C libfuse
// file system serving a file at the same path depth with the same options,
// and tmpfs. The measuring program is C (bench/c/latency.c), so node is only
// the file system daemon, in its own process.
//
//   node dist/bench/fuse.js                     prints the figures as JSON
//   node dist/bench/fuse.js --serve DIR [SPIN]  (internal) the daemon
import { ChildProcess, execFile, spawn } from 'child_process'
import { accessSync, promises as fsp } from 'fs'
import * as os from 'os'
import * as path from 'path'
import { bundledLibfuse, isMountPoint, mountTree } from '../lib/fuse'
import { Daemon } from '../lib/daemon'
import { Simulator } from '../lib/simulator'

/** DIR/sys/kernel/livepatch/<p>/enabled: what the selftests read most. */
const PATCH = 'livepatch_sample'
const ATTR = `sys/kernel/livepatch/${PATCH}/enabled`
/** A store with no effect: writing 0 to force returns at once (kernel-semantics §8.2). */
const WRITE_ATTR = `sys/kernel/livepatch/${PATCH}/force`
const ITERATIONS = 2000
const WARMUP = 200
const ROUNDS = 3
/** The options our mount uses that matter for latency, for the C reference. */
const C_OPTIONS = 'fsname=minifs,direct_io,entry_timeout=0,negative_timeout=0,attr_timeout=0,nonempty'

interface Latency { p50: number, p99: number }

function sh (cmd: string, args: string[], opts: { timeout?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: opts.timeout ?? 120000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`))
      else resolve(String(stdout))
    })
  })
}

function sourceDir (): string {
  // dist/bench/fuse.js -> bench/c; bench/fuse.ts (ts-node) -> bench/c
  for (const dir of [path.resolve(__dirname, '..', '..', 'bench', 'c'), path.resolve(__dirname, 'c')]) {
    try {
      accessSync(path.join(dir, 'latency.c'))
      return dir
    } catch { /* next */ }
  }
  throw new Error('bench/c sources not found')
}

async function compile (tmp: string): Promise<{ latency: string, minifs: string }> {
  const src = sourceDir()
  const { lib, include } = bundledLibfuse()
  // the library's soname is libfuse.so.2 but the file is libfuse.so
  const libDir = path.join(tmp, 'lib')
  await fsp.mkdir(libDir)
  await fsp.symlink(lib, path.join(libDir, 'libfuse.so.2'))
  const latency = path.join(tmp, 'latency')
  const minifs = path.join(tmp, 'minifs')
  await sh('gcc', ['-O2', '-Wall', '-o', latency, path.join(src, 'latency.c')])
  await sh('gcc', ['-O2', '-Wall', '-D_FILE_OFFSET_BITS=64', `-I${include}`, '-o', minifs, path.join(src, 'minifs.c'),
    `-L${libDir}`, '-l:libfuse.so.2', `-Wl,-rpath,${libDir}`, '-lpthread'])
  return { latency, minifs }
}

async function measure (latency: string, mode: 'read' | 'write', file: string): Promise<Latency> {
  const args = [mode, file, String(ITERATIONS), String(WARMUP)]
  if (mode === 'write') args.push('0')
  const [p50, p99] = (await sh(latency, args)).trim().split(/\s+/).map(Number)
  return { p50, p99 }
}

async function waitMounted (dir: string, child: ChildProcess, what: string, file?: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`)
    if (await isMountPoint(dir)) {
      if (!file) return
      // the daemon's own setup (a module to load) may still be under way
      const ok = await fsp.access(path.join(dir, file)).then(() => true, () => false)
      if (ok) return
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`${what} did not mount ${dir}`)
}

async function stop (child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

/** Runs the benchmark; everything lives in a temp dir and is unmounted at the end. */
export async function benchFuse (): Promise<Record<string, number>> {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'klpsim-bench-fuse-'))
  const mnts = { js: path.join(tmp, 'js'), jsNoSpin: path.join(tmp, 'js-nospin'), c: path.join(tmp, 'c'), tmpfs: path.join(tmp, 'tmpfs') }
  let daemon: ChildProcess | undefined
  let daemonNoSpin: ChildProcess | undefined
  let minifs: ChildProcess | undefined
  let tmpfsMounted = false
  try {
    for (const d of Object.values(mnts)) await fsp.mkdir(d)
    const bin = await compile(tmp)

    // (a) a klpsim mount, served by a separate node process
    daemon = spawn(process.execPath, [__filename, '--serve', mnts.js], { stdio: ['ignore', 'ignore', 'inherit'] })
    await waitMounted(mnts.js, daemon, 'klpsim daemon', ATTR)
    // the same tree without the polling window (spinMicros: 0)
    daemonNoSpin = spawn(process.execPath, [__filename, '--serve', mnts.jsNoSpin, '0'], { stdio: ['ignore', 'ignore', 'inherit'] })
    await waitMounted(mnts.jsNoSpin, daemonNoSpin, 'klpsim daemon', ATTR)
    // (b) the C reference
    minifs = spawn(bin.minifs, [mnts.c, ATTR, '-f', '-o', C_OPTIONS], { stdio: ['ignore', 'ignore', 'inherit'] })
    await waitMounted(mnts.c, minifs, 'minifs')
    // (c) tmpfs (a fresh one if we may mount, else the temp dir's file system)
    try {
      await sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'klpsim-bench', mnts.tmpfs])
      tmpfsMounted = true
    } catch { /* not root: measure whatever the temp dir is on */ }
    await fsp.mkdir(path.join(mnts.tmpfs, path.dirname(ATTR)), { recursive: true })
    await fsp.writeFile(path.join(mnts.tmpfs, ATTR), '0\n')

    const js: Latency[] = []
    const jsNoSpin: Latency[] = []
    const jsWrite: Latency[] = []
    const c: Latency[] = []
    const cWrite: Latency[] = []
    const tmpfs: Latency[] = []
    // interleaved rounds, so drifting machine load hits all the same way
    for (let round = 0; round < ROUNDS; round++) {
      js.push(await measure(bin.latency, 'read', path.join(mnts.js, ATTR)))
      jsNoSpin.push(await measure(bin.latency, 'read', path.join(mnts.jsNoSpin, ATTR)))
      c.push(await measure(bin.latency, 'read', path.join(mnts.c, ATTR)))
      tmpfs.push(await measure(bin.latency, 'read', path.join(mnts.tmpfs, ATTR)))
      jsWrite.push(await measure(bin.latency, 'write', path.join(mnts.js, WRITE_ATTR)))
      cWrite.push(await measure(bin.latency, 'write', path.join(mnts.c, ATTR)))
    }
    const out: Record<string, number> = {
      'fuse.read_p50_us': median(js.map((l) => l.p50)),
      'fuse.read_p99_us': median(js.map((l) => l.p99)),
      'fuse.write_p50_us': median(jsWrite.map((l) => l.p50)),
      'fuse.read_p50_us_nospin': median(jsNoSpin.map((l) => l.p50)),
      'fuse.read_p99_us_nospin': median(jsNoSpin.map((l) => l.p99)),
      'fuse.read_p50_us_c_libfuse': median(c.map((l) => l.p50)),
      'fuse.read_p99_us_c_libfuse': median(c.map((l) => l.p99)),
      'fuse.write_p50_us_c_libfuse': median(cWrite.map((l) => l.p50)),
      'fuse.read_p50_us_tmpfs': median(tmpfs.map((l) => l.p50)),
    }
    out['fuse.read_p50_ratio_vs_c_libfuse'] = Math.round(out['fuse.read_p50_us'] / out['fuse.read_p50_us_c_libfuse'] * 100) / 100
    return out
  } finally {
    await stop(daemon)
    await stop(daemonNoSpin)
    await stop(minifs)
    for (const d of [mnts.js, mnts.jsNoSpin, mnts.c]) {
      if (await isMountPoint(d).catch(() => false)) await sh('umount', ['-l', '-c', d]).catch(() => {})
    }
    if (tmpfsMounted) await sh('umount', ['-l', mnts.tmpfs]).catch(() => {})
    await fsp.rm(tmp, { recursive: true, force: true }).catch(() => {})
  }
}

/**
 * The daemon: the simulated kernel with livepatch-sample loaded, mounted as
 * `klpsim mount` does (spinMicros given: the same tree mounted directly with
 * that polling window).
 */
async function serve (dir: string, spinMicros?: number): Promise<void> {
  let sim: Simulator
  let unmount: () => Promise<void>
  if (spinMicros === undefined) {
    const daemon = new Daemon({ mountpoint: dir, control: false })
    await daemon.start()
    sim = daemon.sim
    unmount = () => daemon.stop()
  } else {
    sim = new Simulator()
    const mount = await mountTree(sim.kernel.root, dir, { spinMicros })
    unmount = () => mount.unmount()
  }
  const rc = await sim.insmod(sim.builtinImage(PATCH)!)
  if (rc !== 0) throw new Error(`insmod ${PATCH}: ${rc}`)
  const quit = () => { unmount().then(() => process.exit(0), (err) => { console.error(String(err)); process.exit(1) }) }
  process.once('SIGTERM', quit)
  process.once('SIGINT', quit)
}

if (require.main === module) {
  if (process.argv[2] === '--serve') {
    serve(process.argv[3], process.argv[4] === undefined ? undefined : Number(process.argv[4])).catch((err) => { console.error(String(err)); process.exit(1) })
  } else {
    benchFuse().then((r) => console.log(JSON.stringify(r, null, 2)), (err) => { console.error(err); process.exit(1) })
  }
}
