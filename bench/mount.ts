// How long `klpsim mount DIR` takes from process start to a servable mount,
// and where the time goes.
//
//   node dist/bench/mount.js            prints the figures as JSON
//   node dist/bench/mount.js --phases   (internal) times the startup phases in-process
import { ChildProcess, spawn } from 'child_process'
import { promises as fsp } from 'fs'
import * as os from 'os'
import * as path from 'path'
import { performance } from 'perf_hooks'

const RUNS = 7
const BIN = path.resolve(__dirname, '..', '..', 'bin', 'klpsim')

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

const round = (x: number) => Math.round(x * 10) / 10

function exitOf (child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

/** Spawn → the ready line → a first successful read of an attribute through the mount. */
async function mountOnce (dir: string): Promise<number> {
  const t0 = performance.now()
  const child = spawn(process.execPath, [BIN, 'mount', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr!.on('data', (d) => { err += String(d) })
  try {
    await new Promise<void>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`klpsim mount not ready after 20 s: ${err}`)), 20_000)
      child.stdout!.on('data', (d) => {
        out += String(d)
        if (out.includes('\n')) { clearTimeout(timer); resolve() }
      })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`klpsim mount exited with ${code}: ${err}`)) })
    })
    const release = await fsp.readFile(path.join(dir, 'sys/kernel/osrelease'), 'utf8')
    const t1 = performance.now()
    if (!/^\d+\.\d+/.test(release)) throw new Error(`unexpected osrelease ${JSON.stringify(release)}`)
    return t1 - t0
  } finally {
    child.kill('SIGTERM')
    const code = await exitOf(child)
    if (code !== 0) throw new Error(`klpsim mount exited with ${code} on SIGTERM: ${err}`)
  }
}

/** The same steps as `klpsim mount`, timed one by one in a fresh process. */
async function phases (dir: string): Promise<void> {
  const start = performance.now() // node's own start-up is before this (performance.timeOrigin)
  // what the CLI loads before it runs a command: itself and every command module
  require('../lib/cli/main')
  const commands = path.join(__dirname, '..', 'lib', 'cli', 'commands')
  for (const f of await fsp.readdir(commands)) if (f.endsWith('.js')) require(path.join(commands, f))
  const tRequire = performance.now()
  const { Daemon } = require('../lib/daemon') as typeof import('../lib/daemon')
  const d = new Daemon({ mountpoint: dir, control: false })
  const tBoot = performance.now()
  await d.start()
  const tMount = performance.now()
  await d.stop()
  process.stdout.write(JSON.stringify({ node: start, require: tRequire - start, boot: tBoot - tRequire, mount: tMount - tBoot }) + '\n')
  process.exit(0)
}

async function nodeStartup (): Promise<number> {
  const t0 = performance.now()
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' })
  await exitOf(child)
  return performance.now() - t0
}

export async function benchMount (): Promise<Record<string, number>> {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'klpsim-bench-mount-'))
  try {
    const ready: number[] = []
    const node: number[] = []
    const parts: Record<string, number[]> = { node: [], require: [], boot: [], mount: [] }
    for (let i = 0; i < RUNS; i++) {
      ready.push(await mountOnce(path.join(tmp, `mnt${i}`)))
      node.push(await nodeStartup())
      const dir = path.join(tmp, `phase${i}`)
      await fsp.mkdir(dir)
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, [__filename, '--phases', dir], { stdio: ['ignore', 'pipe', 'inherit'] })
        let s = ''
        child.stdout!.on('data', (d) => { s += String(d) })
        child.once('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`phases exited with ${code}`))))
      })
      const p = JSON.parse(out) as Record<string, number>
      for (const k of Object.keys(parts)) parts[k].push(p[k])
    }
    return {
      'fuse.mount_ready_ms': round(median(ready)),
      'fuse.mount_ready_ms_max': round(Math.max(...ready)),
      'fuse.mount_node_startup_ms': round(median(node)),
      'fuse.mount_phase_node_ms': round(median(parts.node)),
      'fuse.mount_phase_require_ms': round(median(parts.require)),
      'fuse.mount_phase_boot_ms': round(median(parts.boot)),
      'fuse.mount_phase_mount_ms': round(median(parts.mount)),
    }
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true }).catch(() => {})
  }
}

if (require.main === module) {
  if (process.argv[2] === '--phases') {
    phases(process.argv[3]).catch((err) => { console.error(err); process.exit(1) })
  } else {
    benchMount().then((r) => console.log(JSON.stringify(r, null, 2)), (err) => { console.error(err); process.exit(1) })
  }
}
