// Helpers for FUSE tests. The mounts are served by this (the ava worker)
// process, so the mount is only ever accessed through asynchronous child
// processes: a synchronous call here would make the JS thread wait on itself.
import test, { ExecutionContext } from 'ava'
import { ChildProcess, spawn } from 'child_process'
import { promises as fsp } from 'fs'
import * as os from 'os'
import * as path from 'path'
import { KDir } from '../../../lib/kobject'
import { Background, background, Result, run } from '../../helpers/child'
import { FuseMount, MountOptions, childStdio, fuseUnavailableReason, isMountPoint, mountTree } from '../../../lib/fuse'

export const fuseMissing = fuseUnavailableReason()

/**
 * Registers a test that needs FUSE, or, when FUSE is unavailable, a passing
 * placeholder whose title and log say why it did not run.
 */
export function fuseTest (title: string, fn: (t: ExecutionContext) => Promise<void>): void {
  if (fuseMissing === null) {
    test(title, fn)
  } else {
    test(`${title} (skipped: ${fuseMissing})`, (t) => {
      t.log(`not run: ${fuseMissing}`)
      t.pass()
    })
  }
}

export type { Result } from '../../helpers/child'

/** Runs a shell script in a child process (never blocks this process). */
export function sh (script: string, opts: { timeoutMs?: number, cwd?: string } = {}): Promise<Result> {
  return run('sh', ['-c', script], { cwd: opts.cwd, timeoutMs: opts.timeoutMs ?? 20000 })
}

/** Like sh, through bash (for its "write error:" messages). */
export function bash (script: string, opts: { timeoutMs?: number, cwd?: string } = {}): Promise<Result> {
  return sh(`exec bash -c ${quote(script)}`, opts)
}

export function quote (s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/** A fresh directory under the temp dir, removed at teardown (after any unmount). */
export async function tempDir (t: ExecutionContext, prefix = 'klpsim-fuse-test-'): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix))
  t.teardown(async () => {
    if (await isMountPoint(dir).catch(() => false)) await sh(`umount -l -c ${quote(dir)}`)
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => {})
  })
  return dir
}

/** Mounts root on a fresh temp dir; unmounted at teardown even if the test fails. */
export async function mountTemp (t: ExecutionContext, root: KDir, opts: MountOptions = {}): Promise<{ mount: FuseMount, dir: string, errors: string[] }> {
  const dir = await tempDir(t)
  const errors: string[] = []
  const mount = await mountTree(root, dir, {
    onError: (err, op, p) => errors.push(`${op} ${p}: ${err instanceof Error ? err.message : String(err)}`),
    ...opts,
  })
  t.teardown(() => mount.unmount())
  return { mount, dir: mount.mountpoint, errors }
}

/** Lines of /proc/mounts that mention a path. */
export async function mountsOf (dir: string): Promise<string[]> {
  const text = await fsp.readFile('/proc/mounts', 'utf8')
  return text.split('\n').filter((l) => l.split(' ')[1] === dir)
}

export function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Starts the daemon helper (a tree mounted by another node process). */
export async function startDaemon (t: ExecutionContext, dir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(__dirname, 'daemon.js'), dir], { stdio: childStdio(['pipe', 'pipe', 'pipe']) })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
  })
  let stderr = ''
  child.stderr!.on('data', (d) => { stderr += String(d) })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`daemon did not get ready: ${stderr}`)), 15000)
    child.stdout!.on('data', (d) => {
      out += String(d)
      if (out.includes('ready\n')) { clearTimeout(timer); resolve() }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`daemon exited (${code}): ${stderr}`)) })
  })
  return child
}

export function exitOf (child: ChildProcess): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
}

export type Running = Background

/** Starts a shell script in the background (killed at teardown); stdin is a pipe, so a script can wait for the test with `read x`. */
export function spawnSh (t: ExecutionContext, script: string, shell = 'sh'): Running {
  return background(t, shell, ['-c', script], { waitTimeoutMs: 10_000 })
}
