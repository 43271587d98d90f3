// klpsim clock: a virtual clock moves only when told (the transition's 1 s
// retries and module sleeps wait for it); a real or scaled one refuses.
import { fuseTest } from '../fuse/helpers/fuse'
import { startInstance } from '../cli/helpers/klpsim'
import { ok, shOk, virtualInstance } from './helpers/world'

fuseTest('a virtual clock: shown, advanced, and run until idle; timers fire only when it moves', async t => {
  const inst = await virtualInstance(t)
  t.is(await ok(t, inst, ['clock']), 'virtual clock, uptime 0.000000 s; no timer pending\n')
  await shOk(t, inst, 'insmod ko/test_klp_callbacks_busy.ko block_transition=Y')
  // the busy worker polls every 20 ms: a timer is pending
  t.regex(await ok(t, inst, ['clock']), /^virtual clock, uptime 0\.000000 s; 1 timer\(s\) pending, the next in 0\.020 s\n$/)
  t.is(await ok(t, inst, ['clock', 'advance', '1500ms']), 'virtual clock, uptime 1.500000 s; 1 timer(s) pending, the next in 0.020 s\n')
  t.is(await ok(t, inst, ['clock', 'advance', '250']), 'virtual clock, uptime 1.750000 s; 1 timer(s) pending, the next in 0.010 s\n', 'a bare number is milliseconds')
  t.is(await ok(t, inst, ['clock', 'advance', '100us']), 'virtual clock, uptime 1.750100 s; 1 timer(s) pending, the next in 0.010 s\n')
  // a worker sleeping in a loop never lets the clock become idle
  const busy = await inst.klpsim(['clock', 'run-until-idle', '--limit', '2s'])
  t.is(busy.code, 1)
  t.regex(busy.stdout, /^virtual clock, uptime 3\.7\d+ s; 1 timer\(s\) pending/)
  t.regex(busy.stderr, /^klpsim clock run-until-idle: not idle after 1\.9\d+ s of virtual time: 1 timer\(s\) still pending \(a task sleeping in a loop, or a transition retrying every second\)\n$/)
  // released, the worker leaves its loop at the next poll and the clock falls idle
  await shOk(t, inst, 'echo N > mnt/sys/module/test_klp_callbacks_busy/parameters/block_transition')
  const idle = await inst.klpsim(['clock', 'run-until-idle'])
  t.is(idle.code, 0, idle.stderr)
  t.regex(idle.stdout, /; no timer pending\n$/)
  t.regex(await shOk(t, inst, 'dmesg -t | tail -1'), /^test_klp_callbacks_busy: busymod_work_func exit\n$/)
})

fuseTest('moves requested at the same time are made one after the other', async t => {
  const inst = await virtualInstance(t)
  const moves = await Promise.all([1, 2, 3, 4].map(() => inst.klpsim(['clock', 'advance', '250ms'])))
  t.deepEqual(moves.map(m => m.code), [0, 0, 0, 0])
  t.deepEqual(moves.map(m => m.stdout).sort(), [0.25, 0.5, 0.75, 1].map(s => `virtual clock, uptime ${s.toFixed(6)} s; no timer pending\n`))
})

fuseTest('the transition retries once a second of virtual time, and signals after 15 attempts', async t => {
  const inst = await virtualInstance(t)
  await ok(t, inst, ['task', 'add', 'reader', '--ignore-signals', '--stack', '__schedule,schedule,cmdline_proc_show,seq_read_iter,vfs_read'])
  await shOk(t, inst, 'insmod ko/test_klp_livepatch.ko')
  const attempts = async (): Promise<number> => JSON.parse(await ok(t, inst, ['status', '--json'])).transition.attempts
  t.is(await attempts(), 1)
  await ok(t, inst, ['clock', 'advance', '999ms'])
  t.is(await attempts(), 1)
  await ok(t, inst, ['clock', 'advance', '1ms'])
  t.is(await attempts(), 2)
  t.notRegex(await shOk(t, inst, 'dmesg -t'), /signaling remaining tasks/)
  await ok(t, inst, ['clock', 'advance', '14s'])
  t.is(await attempts(), 16)
  t.regex(await shOk(t, inst, 'dmesg -t'), /livepatch: signaling remaining tasks/)
})

fuseTest('a real clock and a scaled one move by themselves and refuse to be pushed', async t => {
  const real = await startInstance(t)
  t.regex(await ok(t, real, ['clock']), /^real clock, uptime \d+\.\d{6} s\n$/)
  for (const args of [['clock', 'advance', '1s'], ['clock', 'run-until-idle']]) {
    const r = await real.klpsim(args)
    t.is(r.code, 1)
    const cmd = `klpsim ${args[0]} ${args[1]}`
    t.is(r.stderr, `${cmd}: the kernel clock of ${real.mnt} is real (real time) and moves by itself; '${cmd}' needs a daemon started with --clock virtual\n`)
  }
  const scaled = await startInstance(t, { args: ['--clock', 'scaled:10'] })
  t.regex(await ok(t, scaled, ['clock']), /^scaled clock \(x10\), uptime \d+\.\d{6} s\n$/)
  const r = await scaled.klpsim(['clock', 'advance', '1s'])
  t.is(r.code, 1)
  t.regex(r.stderr, /is scaled \(real time scaled by 10\) and moves by itself; 'klpsim clock advance' needs a daemon started with --clock virtual\n$/)
})

fuseTest('bad durations and a bad --clock: one clear line each', async t => {
  const inst = await virtualInstance(t)
  const cases: Array<[string[], string]> = [
    [['clock', 'advance', 'soon'], "klpsim clock advance: invalid duration 'soon' (use e.g. 500ms, 2s, 1m)\n"],
    [['clock', 'advance', '1.5.2s'], "klpsim clock advance: invalid duration '1.5.2s' (use e.g. 500ms, 2s, 1m)\n"],
    [['clock', 'advance', '2d'], "klpsim clock advance: invalid duration '2d' (use e.g. 500ms, 2s, 1m)\n"],
    [['clock', 'advance', '25h'], "klpsim clock advance: duration '25h' is longer than a day; move time in smaller steps\n"],
    [['clock', 'run-until-idle', '--limit', 'x'], "klpsim clock run-until-idle: invalid --limit 'x' (use e.g. 500ms, 2s, 1m)\n"],
  ]
  for (const [args, err] of cases) {
    const r = await inst.klpsim(args)
    t.is(r.code, 2, args.join(' '))
    t.is(r.stderr, err)
  }
  t.is(await ok(t, inst, ['clock']), 'virtual clock, uptime 0.000000 s; no timer pending\n', 'time did not move')
  const r = await inst.klpsim(['mount', `${inst.dir}/other`, '--clock', 'sundial'])
  t.is(r.code, 2)
  t.is(r.stderr, "klpsim: invalid --clock 'sundial' (use real, virtual or scaled:N)\n")
})

fuseTest('a daemon on a real clock ends on SIGTERM though a worker polls in a loop', async t => {
  const inst = await startInstance(t)
  await inst.klpsim(['modules', 'export', 'ko'])
  await shOk(t, inst, 'insmod ko/test_klp_callbacks_busy.ko block_transition=Y')
  t.deepEqual(await inst.stop(), { code: 0, signal: null }, 'not left running with its timers until SIGKILL')
})
