// The project's selftest-equivalent suite (test/sandbox/selftests/*.sh): the
// checks of the kernel's livepatch selftests, run as real scripts under
// `klpsim run` (real processes, real mounts), two at a time.
import test from 'ava'
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { klpsimRun, limiter, prepareWorkdir, runSelftest, sandboxUnavailable, SELFTEST_SCRIPTS, SELFTESTS, Workdir } from './helpers/suite'

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

function okLines (cases: string[]): string {
  return cases.map(c => `TEST: ${c} ... ok\n`).join('')
}

for (const { script, cases } of SELFTEST_SCRIPTS) {
  const needsLooper = script === 'syscall'
  maybe(`${script}.sh under klpsim run: the kernel log of each of its ${cases.length} cases is the expected sequence${why}`, async t => {
    if (needsLooper && !work!.looper) {
      t.log('no gcc: the getpid looper cannot be built, the syscall case does not run')
      t.pass()
      return
    }
    const r = await slot(() => runSelftest(script, work!))
    t.log(`${script}.sh: ${(r.ms / 1000).toFixed(1)} s`)
    t.is(r.code, 0, r.stdout + r.stderr)
    t.is(r.stdout, okLines(cases))
    t.is(r.stderr, '')
  })
}

maybe(`a log that differs from the expectation fails the case with a diff${why}`, async t => {
  const script = join(work!.dir, 'wrong-expectation.sh')
  await fsp.writeFile(script, [
    '#!/bin/bash',
    `. ${join(SELFTESTS, 'lib.sh')}`,
    'klp_setup',
    'begin_case "deliberately wrong expectation"',
    'load_patch test_klp_livepatch',
    'want_insmod test_klp_livepatch',
    // test_klp_livepatch has no callbacks: this line never comes
    'want_patching test_klp_livepatch pre:vmlinux',
    'verify_log',
    '',
  ].join('\n'), { mode: 0o755 })
  const r = await slot(() => klpsimRun([script], { cwd: work!.dir }))
  t.is(r.code, 1)
  t.true(r.stdout.startsWith('TEST: deliberately wrong expectation ... not ok\n'), r.stdout)
  t.regex(r.stdout, /^--- expected\n\+\+\+ result\n/m)
  t.regex(r.stdout, /^-test_klp_livepatch: pre_patch_callback: vmlinux$/m)
  t.regex(r.stdout, /^ livepatch: 'test_klp_livepatch': starting patching transition$/m)
  t.is(r.stderr, 'ERROR: livepatch acceptance case failed\n')
})

maybe(`the settings a script changes are back when it exits${why}`, async t => {
  const settings = [
    'grep ^kernel/livepatch /sys/kernel/debug/dynamic_debug/control',
    'sysctl --values kernel.ftrace_enabled',
    'cat /sys/kernel/debug/kprobes/enabled',
    'cat /sys/kernel/tracing/tracing_on /sys/kernel/tracing/current_tracer /sys/kernel/tracing/set_ftrace_filter',
  ].join('; ')
  const r = await slot(() => klpsimRun(['bash', '-c', `{ ${settings}; } > before; ${join(SELFTESTS, 'kprobe.sh')} > /dev/null || exit 9; { ${settings}; } > after; cat before; echo ===; cat after`], { cwd: work!.dir }))
  t.is(r.code, 0, r.stderr)
  const [before, after] = r.stdout.split('===\n')
  // the script turned on livepatch's pr_debug lines and kprobes while it ran
  t.regex(before, /^kernel\/livepatch\/transition\.c:\d+ \[livepatch\]klp_init_transition =_ /m)
  t.is(after, before)
})
