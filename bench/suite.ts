// The acceptance suite as a user runs it: the project's selftest-equivalent
// scripts under `klpsim run` (wall time, two at a time as the ava test runs
// them, and one after another), and how long `klpsim run -- true` takes from
// start to exit.
//
//   node dist/bench/suite.js     prints the figures as JSON
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { klpsimRun, limiter, prepareWorkdir, runSelftest, sandboxUnavailable, SELFTEST_SCRIPTS, Workdir } from '../test/sandbox/helpers/suite'

const STARTUP_RUNS = 9

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits

/** Seconds to run every script, `parallel` at a time; throws if one fails. */
async function suiteSeconds (work: Workdir, parallel: number): Promise<number> {
  const slot = limiter(parallel)
  const t0 = performance.now()
  const results = await Promise.all(SELFTEST_SCRIPTS.map(({ script }) => slot(async () => ({ script, r: await runSelftest(script, work) }))))
  const s = (performance.now() - t0) / 1000
  const failed = results.filter(({ r }) => r.code !== 0)
  if (failed.length) throw new Error(`${failed.map(f => `${f.script}.sh exited ${f.r.code}: ${(f.r.stdout + f.r.stderr).trim().split('\n').slice(-3).join(' / ')}`).join('; ')}`)
  return s
}

async function startupMs (cwd: string): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < STARTUP_RUNS; i++) {
    const t0 = performance.now()
    const r = await klpsimRun(['true'], { cwd })
    if (r.code !== 0) throw new Error(`klpsim run -- true exited ${r.code}: ${r.stderr}`)
    out.push(performance.now() - t0)
  }
  return out
}

export async function benchSuite (): Promise<Record<string, number>> {
  const unavailable = sandboxUnavailable()
  if (unavailable) throw new Error(`klpsim run ${unavailable}`)
  const work = await prepareWorkdir()
  try {
    if (!work.looper) throw new Error('gcc is needed to build the getpid looper of syscall.sh')
    const startup = await startupMs(work.dir)
    const parallel = Math.max(1, Math.min(2, cpus().length))
    const selftests = await suiteSeconds(work, parallel)
    const serial = await suiteSeconds(work, 1)
    return {
      'suite.selftests_s': round(selftests),
      'suite.selftests_parallel': parallel,
      'suite.selftests_serial_s': round(serial),
      'suite.run_startup_ms': round(median(startup)),
      'suite.run_startup_ms_max': round(Math.max(...startup)),
    }
  } finally {
    await work.remove()
  }
}

if (require.main === module) {
  benchSuite().then((r) => console.log(JSON.stringify(r, null, 2)), (err) => { console.error(err); process.exit(1) })
}
