// klpsim record: capture a kernel's livepatch state and its timeline into a
// text fixture (klpsim-record/1) that `klpsim mount --replay` reproduces.
// Read-only: nothing is ever written under the root.
import { promises as fsp } from 'node:fs'
import { relative, isAbsolute, resolve } from 'node:path'
import type { Argv, CommandModule } from 'yargs'
import { UsageError } from '../sim-options'
import { durationArg } from '../world-client'

interface RecordArgs { root: string, duration?: string, interval?: string, output?: string }

const within = (dir: string, p: string): boolean => {
  const rel = relative(dir, p)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}

export const command: CommandModule<object, RecordArgs> = {
  command: 'record',
  describe: 'capture the livepatch state of this host (or of a klpsim mount with --root) and its timeline into a fixture for `klpsim mount --replay`',
  builder: (y: Argv) => y
    .option('root', { type: 'string', default: '/', describe: 'read DIR/sys/kernel/livepatch, DIR/sys/module, DIR/proc (a klpsim mount point, or / for this host)' })
    .option('duration', { type: 'string', describe: 'keep taking snapshots for this long (default 0: one snapshot)' })
    .option('interval', { type: 'string', describe: 'time between snapshots (default 1s)' })
    .option('output', { alias: 'o', type: 'string', describe: 'write the fixture to this file (default: standard output)' }) as Argv<RecordArgs>,
  handler: async (args) => {
    const { capture, MAX_SNAPSHOTS } = await import('../../record/capture')
    const { FixtureError } = await import('../../record/format')
    const root = resolve(args.root)
    const durationMs = args.duration === undefined ? 0 : durationArg(args.duration, '--duration')
    const intervalMs = args.interval === undefined ? 1000 : durationArg(args.interval, '--interval')
    if (intervalMs < 10) throw new UsageError(`--interval '${args.interval}' is too short (at least 10ms)`)
    if (durationMs / intervalMs >= MAX_SNAPSHOTS) throw new UsageError(`--duration ${args.duration} at --interval ${args.interval ?? '1s'} makes more than ${MAX_SNAPSHOTS} snapshots`)
    const output = args.output === undefined ? undefined : resolve(args.output)
    if (output) {
      // the host's root holds everything: there only its kernel trees are off limits
      const offLimits = root === '/' ? ['/sys', '/proc', '/dev'] : [root]
      for (const d of offLimits) {
        if (within(d, output)) throw new UsageError(`-o ${args.output}: the fixture may not go under ${d}; record never writes under the root it reads`)
      }
    }
    try {
      const st = await fsp.stat(root)
      if (!st.isDirectory()) throw new UsageError(`--root ${args.root}: not a directory`)
    } catch (e) {
      if (e instanceof UsageError) throw e
      throw new UsageError(`--root ${args.root}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
    const stop = new AbortController()
    const onSignal = (): void => stop.abort()
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    const tty = process.stderr.isTTY === true
    const total = Math.floor(durationMs / intervalMs) + 1
    let fixture
    try {
      fixture = await capture({
        root,
        durationMs,
        intervalMs,
        signal: stop.signal,
        onSnapshot: tty ? (i, s) => process.stderr.write(`\rklpsim record: snapshot ${i + 1}/${total} (${s.patches.length} patch(es))   `) : undefined,
      })
    } catch (e) {
      if (e instanceof FixtureError) throw new UsageError(e.message)
      throw e
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      if (tty) process.stderr.write('\n')
    }
    const text = JSON.stringify(fixture, null, 2) + '\n'
    if (!output) {
      await new Promise<void>((res) => process.stdout.write(text, () => res()))
      return
    }
    try {
      await fsp.writeFile(output, text, { mode: 0o600 })
    } catch (e) {
      throw new Error(`cannot write ${args.output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)
    }
    const first = fixture.snapshots[0]
    const last = fixture.snapshots[fixture.snapshots.length - 1]
    process.stderr.write(`klpsim record: ${fixture.snapshots.length} snapshot(s) over ${(last.atMs / 1000).toFixed(1)} s of ${fixture.kernel.release ?? 'an unknown kernel'}: ${first.patches.length} patch(es), ${first.tasks.length} task(s) -> ${args.output}\n`)
  },
}
