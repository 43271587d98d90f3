// klpsim run --replay: a tool run unmodified against a recorded host's state,
// at the absolute paths it reads on a real machine.
import test from 'ava'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stuckKpatchHost } from '../world/helpers/fixtures'

const BIN = join(__dirname, '..', '..', '..', 'bin', 'klpsim')
const canRun = process.getuid?.() === 0 && existsSync('/dev/fuse')
const maybe = canRun ? test.serial : test.skip
const why = canRun ? '' : ' (skipped: needs root and /dev/fuse)'

interface Result { code: number | null, stdout: string, stderr: string }

function klpsimRun (args: string[]): Promise<Result> {
  return new Promise(resolve => {
    execFile(process.execPath, [BIN, 'run', ...args], { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number }) | null
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout, stderr })
    })
  })
}

function fixtureFile (t: { teardown (fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'klpsim-run-replay-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'stuck.json')
  writeFileSync(file, JSON.stringify(stuckKpatchHost(), null, 1))
  return file
}

maybe(`a stuck host replayed under run: /sys, /proc and uname are the recorded host's; the transition completes from inside${why}`, async t => {
  const fixture = fixtureFile(t)
  const script = [
    'uname -r',
    'ls /sys/kernel/livepatch',
    'cat /sys/kernel/livepatch/kpatch_fix/transition',
    // the stalled tasks, found as kpatch finds them
    'for f in /proc/[0-9]*/patch_state; do [ "$(cat "$f" 2>/dev/null)" = 0 ] && echo "${f%/patch_state} $(cat "${f%/patch_state}/comm")"; done | sort -t/ -k3 -n',
    'grep -c "xfs_buf_ioend+0x151/0x2d0 \\[xfs\\]" /proc/812/task/812/stack',
    'readlink /proc/self/exe >/dev/null && echo self-ok',
    'for p in 812 2210 2211; do klpsim task wake $p || exit 9; done',
    'klpsim clock advance 1s >/dev/null',
    'cat /sys/kernel/livepatch/kpatch_fix/transition',
    'dmesg | grep -c "livepatch: .kpatch_fix.: patching complete"',
    'exit 5',
  ].join('\n')
  const r = await klpsimRun(['--clock', 'virtual', '--replay', fixture, '--', 'bash', '-c', script])
  t.is(r.code, 5, r.stderr)
  t.deepEqual(r.stdout.split('\n'), [
    '5.14.0-427.el9.x86_64',
    'kpatch_fix',
    '1',
    '/proc/812 kworker/1:2',
    '/proc/2210 bash',
    '1',
    'self-ok',
    '0',
    '1',
    '',
  ])
  const lines = r.stderr.split('\n')
  t.is(lines[0], `klpsim: replaying ${fixture} (5.14.0-427.el9.x86_64, profile 5.10): 1 patch(es), 7 task(s), 1 resident module(s)`)
  t.is(lines[1], 'klpsim: kpatch_fix patching, 3 task(s) pending')
  // pid 1 is always a live process here: the sandbox shows the recorded one
  t.regex(r.stderr, /\nklpsim: note: recorded pid\(s\) 1(, \d+)* are live processes on this host too; inside the sandbox \/proc\/<pid> shows the recorded task\n$/)
})

maybe(`bad --replay arguments: one line each, status 2, CMD not run${why}`, async t => {
  const fixture = fixtureFile(t)
  const cases: Array<[string[], string]> = [
    [['--replay', `${fixture}.missing`], `klpsim: --replay: cannot read ${fixture}.missing: ENOENT\n`],
    [['--replay', fixture, '--mode', 'stop-machine'], 'klpsim: --replay reproduces the ftrace livepatch core; it does not go with --mode stop-machine\n'],
  ]
  for (const [args, stderr] of cases) {
    const r = await klpsimRun([...args, '--', 'sh', '-c', 'echo ran'])
    t.is(r.code, 2, args.join(' '))
    t.is(r.stderr, stderr)
    t.is(r.stdout, '')
  }
})
