// --replay FIXTURE for the commands that boot a kernel (mount, run): read and
// check the recording before anything is mounted, then replay it into the
// booted simulator before it is served.
import type { Simulator, SimulatorOptions } from '../simulator'
import { UsageError } from './sim-options'

export const REPLAY_DESCRIPTION = 'boot into the state a recording shows (klpsim record): its patches, modules, tasks and timeline'

export interface PreparedReplay {
  /** Boot options the recording dictates (release, CPUs, profile, pids, no boot tasks). */
  boot: Partial<SimulatorOptions>
  /** Replays the recording into the booted simulator; resolves to the report lines. */
  apply (sim: Simulator): Promise<string>
  /** The thread ids the recording names. */
  recordedPids: number[]
}

export async function prepareReplay (path: string, args: { mode?: string, kernel?: string }): Promise<PreparedReplay> {
  const rec = await import('../record/replay')
  if (args.mode === 'stop-machine') throw new UsageError('--replay reproduces the ftrace livepatch core; it does not go with --mode stop-machine')
  const fixture = await rec.readFixture(path).catch((e: Error) => { throw new UsageError(`--replay: ${e.message}`) })
  const recordedPids = new Set<number>()
  for (const s of fixture.snapshots) for (const t of s.tasks) recordedPids.add(t.tid)
  return {
    boot: rec.replayBootOptions(fixture, args.kernel),
    recordedPids: [...recordedPids].sort((a, b) => a - b),
    apply: async (sim) => rec.replayReport(path, await rec.replay(sim, fixture)),
  }
}
