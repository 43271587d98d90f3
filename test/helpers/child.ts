// Child processes for tests whose process serves FUSE mounts: never a
// synchronous call (the JS thread would wait on itself), and no inherited
// /dev/fuse descriptors (childStdio), so that a child left behind by a killed
// worker cannot keep a mount alive and hang on it forever.
import type { ExecutionContext } from 'ava'
import { ChildProcess, spawn } from 'child_process'
import * as os from 'os'
import { childStdio } from '../../lib/fuse'

export interface Result { code: number, stdout: string, stderr: string }

/** A process's exit as a shell reports it: the code, or 128+N for signal N. */
export function statusOf (code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? (signal ? 128 + os.constants.signals[signal] : -1)
}

/** Runs a program to completion, killed after timeoutMs (default 30 s). */
export function run (file: string, args: string[], opts: { cwd?: string, timeoutMs?: number, env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: childStdio(['ignore', 'pipe', 'pipe']) })
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (d) => { stdout += String(d) })
    child.stderr!.on('data', (d) => { stderr += String(d) })
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000)
    child.once('error', (err) => { clearTimeout(timer); resolve({ code: 127, stdout, stderr: stderr + String(err) }) })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: statusOf(code, signal), stdout, stderr })
    })
  })
}

/** A background child process (killed at teardown). */
export interface Background {
  child: ChildProcess
  stdout (): string
  stderr (): string
  /** Resolves when stdout matches (within timeoutMs, by default the one background() was given). */
  waitFor (re: RegExp, timeoutMs?: number): Promise<void>
  done: Promise<Result>
}

/** Starts a program with piped stdio (stdin stays open for the test); killed at teardown. */
export function background (t: ExecutionContext, file: string, args: string[], opts: { cwd?: string, env?: NodeJS.ProcessEnv, waitTimeoutMs?: number } = {}): Background {
  const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: childStdio(['pipe', 'pipe', 'pipe']) })
  let out = ''
  let err = ''
  const listeners: (() => void)[] = []
  child.stdout!.on('data', (d) => { out += String(d); for (const l of listeners) l() })
  child.stderr!.on('data', (d) => { err += String(d) })
  const done = new Promise<Result>((resolve) => {
    child.once('close', (code, signal) => resolve({ code: statusOf(code, signal), stdout: out, stderr: err }))
  })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await done
    }
  })
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    done,
    waitFor: (re, timeoutMs = opts.waitTimeoutMs ?? 15_000) => new Promise((resolve, reject) => {
      const check = (): void => { if (re.test(out)) { clearTimeout(timer); resolve() } }
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} in ${JSON.stringify(out)} (stderr ${JSON.stringify(err)})`)), timeoutMs)
      listeners.push(check)
      check()
    }),
  }
}
