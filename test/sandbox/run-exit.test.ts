// klpsim run ends with CMD even when the simulated kernel still has work
// pending: a worker sleeping in a loop, a transition retrying every second.
import test from 'ava'
import { prepareWorkdir, klpsimRun, sandboxUnavailable, Workdir } from './helpers/suite'

const unavailable = sandboxUnavailable()
const maybe = unavailable ? test.serial.skip : test.serial
const why = unavailable ? ` (skipped: klpsim run ${unavailable})` : ''

let work: Workdir | null = null

test.before(async () => {
  if (!unavailable) work = await prepareWorkdir()
})

test.after.always(async () => {
  await work?.remove()
})

// a hang shows as the child killed at the timeout: no status, SIGTERM
const HANG_LIMIT_MS = 30_000

maybe(`a busy worker and a stalled transition left behind do not keep klpsim run alive${why}`, async t => {
  const r = await klpsimRun(['sh', '-c', [
    'insmod test_modules/test_klp_callbacks_busy.ko block_transition=Y',
    'insmod test_modules/test_klp_callbacks_demo.ko',
    'cat /sys/kernel/livepatch/test_klp_callbacks_demo/transition',
    'exit 5',
  ].join('; ')], { cwd: work!.dir, timeoutMs: HANG_LIMIT_MS })
  t.is(r.signal, null, 'klpsim run did not exit after its command')
  t.is(r.code, 5)
  t.is(r.stdout, '1\n')
})
