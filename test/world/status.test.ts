// klpsim status through the command line: a stalled busy-worker transition, a
// replace in progress, the JSON report, and --watch on a pipe and on a terminal.
import { spawn } from 'node:child_process'
import type { ExecutionContext } from 'ava'
import { fuseTest } from '../fuse/helpers/fuse'
import { BIN, Instance } from '../cli/helpers/klpsim'
import { ok, quote, shOk, virtualInstance } from './helpers/world'

fuseTest('a stalled busy-worker transition: the blocking kworker, its frame, the progress bar', async t => {
  const inst = await virtualInstance(t)
  await shOk(t, inst, 'insmod ko/test_klp_callbacks_busy.ko block_transition=Y && insmod ko/test_klp_callbacks_demo.ko')
  await ok(t, inst, ['clock', 'advance', '3s'])
  const st = JSON.parse(await ok(t, inst, ['status', '--json']))
  t.is(st.format, 'klpsim-status/1')
  t.deepEqual(st.kernel, { release: '7.1.0-klpsim', mode: 'ftrace', profile: '7.1', clock: 'virtual', uptimeMs: 3000, tainted: 36864 })
  t.like(st.transition, { patch: 'test_klp_callbacks_demo', target: 'patching', elapsedMs: 3000, attempts: 4, nextAttemptInMs: 1000, signalsInAttempts: 12, signalsInMs: 12000 })
  t.is(st.transition.tasks.pending, 1)
  const worker = st.transition.pending[0]
  t.regex(worker.comm, /^kworker\/0:\d+$/)
  t.like(worker, { kthread: true, reason: 'sleeping', function: 'busymod_work_func', patchedBy: 'test_klp_callbacks_demo', frame: 'busymod_work_func+0x35/0x90 [test_klp_callbacks_busy]' })
  const { total, switched } = st.transition.tasks
  const bar = '#'.repeat(Math.round(switched / total * 40)).padEnd(40, '-')
  t.is(await ok(t, inst, ['status']), [
    'kernel 7.1.0-klpsim (ftrace mode, profile 7.1, virtual clock), uptime 3.0 s',
    '',
    'patches (stack order):',
    '   1  test_klp_callbacks_demo      enabled, in transition',
    '',
    'patched functions (live version):',
    '  test_klp_callbacks_busy:busymod_work_func,1  test_klp_callbacks_demo; 1 task(s) still run the original',
    '',
    'transition: test_klp_callbacks_demo patching, running for 3.0 s, 4 attempt(s), fake signals in 12.0 s',
    `  [${bar}] ${switched}/${total} tasks switched`,
    `  ${worker.comm} (pid ${worker.pid}) sleeps in busymod_work_func+0x35/0x90 [test_klp_callbacks_busy] — patched by test_klp_callbacks_demo`,
    '',
  ].join('\n'))
  await shOk(t, inst, 'echo N > mnt/sys/module/test_klp_callbacks_busy/parameters/block_transition')
  await ok(t, inst, ['clock', 'advance', '1s'])
  const done = await ok(t, inst, ['status'])
  t.regex(done, /\n {3}1 {2}test_klp_callbacks_demo {6}enabled\n/)
  t.notRegex(done, /transition:/)
})

fuseTest('a replace in progress: the nop is live, the replaced patch still runs for the task in its function', async t => {
  const inst = await virtualInstance(t)
  await shOk(t, inst, 'insmod ko/test_klp_livepatch.ko')
  const pid = (await ok(t, inst, ['task', 'add', 'reader', '--stack', '__schedule,schedule,livepatch_cmdline_proc_show,seq_read_iter,vfs_read,ksys_read'])).trim()
  await shOk(t, inst, 'insmod ko/test_klp_atomic_replace.ko replace=1')
  const text = await ok(t, inst, ['status'])
  t.regex(text, /\npatches \(stack order\):\n {3}1 {2}test_klp_livepatch {11}enabled\n {3}2 {2}test_klp_atomic_replace {6}enabled, in transition, replace\n/)
  t.regex(text, /\n {2}vmlinux:cmdline_proc_show,1 +original code \(nop of test_klp_atomic_replace\) {3}\[stack: test_klp_atomic_replace > test_klp_livepatch\]; 1 task\(s\) still run test_klp_livepatch\n/)
  t.regex(text, /\n {2}vmlinux:meminfo_proc_show,1 +test_klp_atomic_replace; 1 task\(s\) still run the original\n/)
  t.regex(text, new RegExp(`\\n  reader \\(pid ${pid}\\) sleeps in livepatch_cmdline_proc_show\\+0x17/0x40 \\[test_klp_livepatch\\] — patched by test_klp_atomic_replace\\n$`))
  const st = JSON.parse(await ok(t, inst, ['status', '--json']))
  t.deepEqual(st.patches.map((p: any) => [p.name, p.stackOrder, p.enabled, p.transition, p.replace, p.forced]), [
    ['test_klp_livepatch', 1, true, false, false, false], ['test_klp_atomic_replace', 2, true, true, true, false],
  ])
  t.deepEqual(st.functions.find((f: any) => f.function === 'cmdline_proc_show'), {
    object: 'vmlinux', function: 'cmdline_proc_show', sympos: 1, live: { patch: 'test_klp_atomic_replace', nop: true },
    stack: ['test_klp_atomic_replace', 'test_klp_livepatch'], previous: { patch: 'test_klp_livepatch', tasks: [Number(pid)] },
  })
  await ok(t, inst, ['task', 'wake', 'reader'])
  await ok(t, inst, ['clock', 'advance', '1s'])
  const after = JSON.parse(await ok(t, inst, ['status', '--json']))
  t.is(after.transition, null)
  t.deepEqual(after.patches.map((p: any) => p.name), ['test_klp_atomic_replace'])
  t.deepEqual(after.functions.map((f: any) => f.function), ['meminfo_proc_show'], 'the nop is gone with the replaced patch')
})

/** `klpsim status ARGS` as a child process, its output collected as it comes; stopped with a signal. */
function watch (t: ExecutionContext, inst: Instance, args: string[], viaTerminal = false) {
  const cmd = [process.execPath, BIN, 'status', ...args]
  const child = viaTerminal
    ? spawn('script', ['-qfec', cmd.map(quote).join(' '), '/dev/null'], { env: inst.env, cwd: inst.dir, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(cmd[0], cmd.slice(1), { env: inst.env, cwd: inst.dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => { out += String(d) })
  child.stderr!.on('data', (d) => { err += String(d) })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const until = async (test: (s: string) => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !test(out); i++) await new Promise(resolve => setTimeout(resolve, 50))
    if (!test(out)) throw new Error(`status --watch never printed what was waited for: ${out}${err}`)
  }
  return { child, output: () => out, errors: () => err, exited, until }
}

fuseTest('--watch on a pipe: successive plain reports until interrupted, then status 0', async t => {
  const inst = await virtualInstance(t)
  const w = watch(t, inst, ['--watch', '--interval', '100ms'])
  await w.until(s => (s.match(/no livepatch is enabled/g) ?? []).length >= 2)
  await shOk(t, inst, 'insmod ko/test_klp_callbacks_busy.ko block_transition=Y && insmod ko/test_klp_callbacks_demo.ko')
  await w.until(s => /tasks switched/.test(s))
  w.child.kill('SIGINT')
  t.deepEqual(await w.exited, { code: 0, signal: null })
  t.is(w.errors(), '')
  const reports = w.output().split(/\n\n(?=kernel )/)
  t.true(reports.length >= 3)
  t.true(reports.every(r => r.startsWith('kernel 7.1.0-klpsim (ftrace mode, profile 7.1, virtual clock)')))
  t.notRegex(w.output(), /\x1b/, 'no terminal control sequences on a pipe')
})

fuseTest('--watch --json: one report per line, a stream of klpsim-status/1 objects; SIGTERM ends it with status 0', async t => {
  const inst = await virtualInstance(t)
  const w = watch(t, inst, ['--watch', '--json', '--interval', '50ms'])
  await w.until(s => s.split('\n').length > 3)
  w.child.kill('SIGTERM')
  t.deepEqual(await w.exited, { code: 0, signal: null })
  const lines = w.output().split('\n').filter(Boolean)
  t.true(lines.length >= 3)
  for (const l of lines) t.is(JSON.parse(l).format, 'klpsim-status/1')
})

fuseTest('--watch on a terminal: redraws in place with a header and the progress bar', async t => {
  const inst = await virtualInstance(t)
  await shOk(t, inst, 'insmod ko/test_klp_callbacks_busy.ko block_transition=Y && insmod ko/test_klp_callbacks_demo.ko')
  const w = watch(t, inst, ['--watch', '--interval', '100ms'], true)
  await w.until(s => (s.match(/\x1b\[H\x1b\[2J/g) ?? []).length >= 2)
  w.child.kill('SIGINT')
  await w.exited
  const frames = w.output().split('\x1b[H\x1b[2J').filter(Boolean)
  t.true(frames.length >= 2)
  t.regex(frames[0], new RegExp(`^klpsim status of ${inst.mnt.replace(/[/.]/g, '\\$&')}, every 0\\.1 s \\(Ctrl-C to stop\\)\\r?\\n\\r?\\nkernel 7\\.1\\.0-klpsim`))
  t.regex(frames[0], /\[#+-+\] \d+\/\d+ tasks switched/)
})

fuseTest('bad status arguments: one clear line each', async t => {
  const inst = await virtualInstance(t)
  const cases: Array<[string[], string]> = [
    [['status', '--interval', '1s'], 'klpsim status: --interval goes with --watch\n'],
    [['status', '--watch', '--interval', 'often'], "klpsim status: invalid --interval 'often' (use e.g. 500ms, 2s, 1m)\n"],
    [['status', '--watch', '--interval', '1ms'], "klpsim status: --interval '1ms' is too short (at least 10ms)\n"],
  ]
  for (const [args, err] of cases) {
    const r = await inst.klpsim(args)
    t.is(r.code, 2, args.join(' '))
    t.is(r.stderr, err)
    t.is(r.stdout, '')
  }
})
