// kpatch-style management (test/sandbox/kpatch): patchctl, which follows the
// kpatch 0.9.11 utility's control flow, against the simulated kernel under
// `klpsim run`. The waits are shortened through patchctl's environment; what
// each scenario shows comes from the kernel: transitions held by tasks, EBUSY
// from insmod, refcounts, the /proc task files.
import test, { ExecutionContext } from 'ava'
import { join } from 'node:path'
import { KPATCH, klpsimRun, limiter, prepareWorkdir, Result, sandboxUnavailable, Workdir } from './helpers/suite'

const unavailable = sandboxUnavailable()
const maybe = unavailable ? test.skip : test
const why = unavailable ? ` (skipped: klpsim run ${unavailable})` : ''

let work: Workdir | null = null
const slot = limiter(2)

test.before(async () => {
  if (!unavailable) work = await prepareWorkdir()
})

test.after.always(async () => {
  await work?.remove()
})

const WAITS = {
  PATCHCTL_ENABLE_WAIT: '4',
  PATCHCTL_SIGNAL_WAIT: '2',
  PATCHCTL_REF_WAIT: '3',
  PATCHCTL_RETRY_INTERVAL: '0.5',
}

function scenario (name: string): Promise<Result> {
  return slot(() => klpsimRun([join(KPATCH, 'scenarios.sh'), name], { cwd: work!.dir, env: { ...process.env, ...WAITS } }))
}

/** The output, line by line: a string must be equal, a RegExp must match. */
function expectLines (t: ExecutionContext, r: Result, want: Array<string | RegExp>): void {
  t.is(r.code, 0, r.stdout + r.stderr)
  const got = r.stdout.replace(/\n$/, '').split('\n')
  const shown = `output:\n${r.stdout}`
  t.is(got.length, want.length, shown)
  want.forEach((w, i) => {
    if (typeof w === 'string') t.is(got[i], w, shown)
    else t.regex(got[i] ?? '', w, shown)
  })
}

const TASK = /^\d+ cat$/
const STACK = ['stack:', '[<0>] cmdline_proc_show+0x11/0x30', '[<0>] seq_read_iter+0x1b6/0x4a0', '[<0>] vfs_read+0x11c/0x300']

maybe(`load waits for the transition a sleeping task holds; list shows the patch and its function${why}`, async t => {
  expectLines(t, await scenario('load-and-wait'), [
    '$ patchctl load test_modules/test_klp_livepatch.ko',
    'loading patch module: test_modules/test_klp_livepatch.ko',
    'waiting (up to 4 seconds) for patch transition to complete...',
    // woken after 1.5 s; the kernel retries the transition once a second
    /^transition complete \([123] seconds\)$/,
    'rc=0',
    '$ patchctl list',
    'Loaded patch modules:',
    'test_klp_livepatch [enabled]',
    '',
    'Installed patch modules:',
    '',
    'Currently livepatched functions:',
    /^Module +Object +Function\/Occurrence$/,
    /^test_klp_livepatch +vmlinux +cmdline_proc_show,1$/,
    'rc=0',
    '$ patchctl unload test_klp_livepatch',
    'disabling patch module: test_klp_livepatch',
    'unloading patch module: test_klp_livepatch',
    'rc=0',
    'patches: ',
    'modules: ',
  ])
})

maybe(`list names the tasks holding a transition, from /proc/<tid>/patch_state with their comm and stack${why}`, async t => {
  expectLines(t, await scenario('stalled-list'), [
    '$ patchctl list',
    'Loaded patch modules:',
    'test_klp_livepatch [enabling...]',
    '',
    'Stalled processes:',
    TASK,
    ...STACK,
    '',
    'Installed patch modules:',
    '',
    'Currently livepatched functions:',
    /^Module +Object +Function\/Occurrence *$/,
    /^test_klp_livepatch +vmlinux +cmdline_proc_show,1 +\(transition\)$/,
    'rc=0',
  ])
})

maybe(`a load whose transition stalls is reversed and unloaded, the stalled worker listed${why}`, async t => {
  expectLines(t, await scenario('stall-on-load'), [
    '$ patchctl load test_modules/test_klp_callbacks_demo.ko',
    'loading patch module: test_modules/test_klp_callbacks_demo.ko',
    'waiting (up to 4 seconds) for patch transition to complete...',
    'patch transition has stalled!',
    'kpatch: Livepatch process signaling is performed automatically on your system.',
    'kpatch: Skipping manual process signaling.',
    'waiting (up to 2 seconds) for patch transition to complete...',
    '',
    'Stalled processes:',
    // the busy module's worker: a kernel thread the fake signals do not move
    /^\d+ kworker\/\d+:\d+$/,
    'stack:',
    /^\[<0>\] __schedule\+/,
    /^\[<0>\] schedule\+/,
    /^\[<0>\] schedule_timeout\+/,
    /^\[<0>\] msleep\+/,
    /^\[<0>\] busymod_work_func\+0x[0-9a-f]+\/0x[0-9a-f]+ \[test_klp_callbacks_busy\]$/,
    /^\[<0>\] process_one_work\+/,
    /^\[<0>\] worker_thread\+/,
    /^\[<0>\] kthread\+/,
    /^\[<0>\] ret_from_fork\+/,
    /^\[<0>\] ret_from_fork_asm\+/,
    'module test_klp_callbacks_demo did not complete its transition, unloading...',
    'disabling patch module: test_klp_callbacks_demo',
    // the worker never switched, so it is already where the reversal goes
    'waiting (up to 4 seconds) for patch transition to complete...',
    /^transition complete \([12] seconds\)$/,
    'unloading patch module: test_klp_callbacks_demo',
    'kpatch: error: failed to load module test_klp_callbacks_demo (transition stalled)',
    'rc=1',
    'patches: ',
    'modules: test_klp_callbacks_busy=0 ',
  ])
})

maybe(`unload waits for a module reference dropped late${why}`, async t => {
  expectLines(t, await scenario('refcount-wait'), [
    '$ patchctl load test_modules/test_klp_livepatch.ko',
    'loading patch module: test_modules/test_klp_livepatch.ko',
    'rc=0',
    '$ patchctl unload test_klp_livepatch',
    'disabling patch module: test_klp_livepatch',
    'waiting (up to 3 seconds) for module refcount...',
    'unloading patch module: test_klp_livepatch',
    'rc=0',
    'patches: ',
    'modules: ',
  ])
})

maybe(`atomic replace leaves the replaced module loaded with refcnt 0; reloading and unloading it work${why}`, async t => {
  expectLines(t, await scenario('atomic-replace'), [
    '$ patchctl load test_modules/test_klp_state2.ko',
    'loading patch module: test_modules/test_klp_state2.ko',
    'rc=0',
    '$ patchctl load test_modules/test_klp_state3.ko',
    'loading patch module: test_modules/test_klp_state3.ko',
    'rc=0',
    'patches: test_klp_state3 ',
    'modules: test_klp_state3=1 test_klp_state2=0 ',
    // the leftover is removed first, then loaded again: it replaces state3
    '$ patchctl load test_modules/test_klp_state2.ko',
    'loading patch module: test_modules/test_klp_state2.ko',
    'rc=0',
    'patches: test_klp_state2 ',
    'modules: test_klp_state2=1 test_klp_state3=0 ',
    // no patch directory: the /sys/module fallback, nothing to disable
    '$ patchctl unload test_klp_state3',
    'unloading patch module: test_klp_state3',
    'rc=0',
    'modules: test_klp_state2=1 ',
    '$ patchctl unload test_klp_state2',
    'disabling patch module: test_klp_state2',
    'unloading patch module: test_klp_state2',
    'rc=0',
    'patches: ',
    'modules: ',
  ])
})

maybe(`a forced unpatching pins the patch module: unload gives up on the refcount, rmmod is refused${why}`, async t => {
  expectLines(t, await scenario('forced'), [
    '$ patchctl load test_modules/test_klp_livepatch.ko',
    'loading patch module: test_modules/test_klp_livepatch.ko',
    'rc=0',
    'transition: 1',
    'patches: ',
    '$ patchctl unload test_klp_livepatch',
    'waiting (up to 3 seconds) for module refcount...',
    'kpatch: failed to unload module test_klp_livepatch (refcnt)',
    'rc=1',
    'modules: test_klp_livepatch=1 ',
    'rmmod: ERROR: Module test_klp_livepatch is in use',
    'rmmod rc=1',
  ])
})

maybe(`insmod refused with EBUSY while another transition runs is retried, then given up${why}`, async t => {
  const busy = 'insmod: ERROR: could not insert module test_modules/test_klp_livepatch.ko: Device or resource busy'
  expectLines(t, await scenario('busy-retry'), [
    'transition: 1',
    '$ patchctl load test_modules/test_klp_livepatch.ko',
    'loading patch module: test_modules/test_klp_livepatch.ko',
    busy, 'kpatch: retrying...',
    busy, 'kpatch: retrying...',
    busy, 'kpatch: retrying...',
    busy, 'kpatch: retrying...',
    busy,
    'kpatch: failed to load module test_modules/test_klp_livepatch.ko',
    'rc=1',
    'patches: test_klp_callbacks_demo ',
  ])
})
