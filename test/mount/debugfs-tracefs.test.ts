// debugfs (dynamic debug, kprobes), tracefs backed by the simulated ftrace,
// and the entries modules create, through the mount.
import { spawn } from 'child_process'
import { bootMachine, fuseTest } from './helpers/machine'
import { childStdio } from '../../lib/fuse'

const CONTROL = 'sys/kernel/debug/dynamic_debug/control'
const TR = 'sys/kernel/tracing'

fuseTest('dynamic_debug/control: the read-back format and multi-line writes', async (t) => {
  const m = await bootMachine(t)
  const head = await m.sh(`stat -c %A ${CONTROL}; head -1 ${CONTROL}; grep 'klp_complete_transition' ${CONTROL}`)
  t.regex(head.stdout, /^-rw-r--r--\n# filename:lineno \[module\]function flags format\nkernel\/livepatch\/transition\.c:\d+ \[livepatch\]klp_complete_transition =_ "'%s': completing %s transition\\012"\n$/)
  // functions.sh's setup: two queries in one write
  const w = await m.sh(`printf 'file kernel/livepatch/* +p\\nfunc klp_try_switch_task -p\\n' > ${CONTROL}`)
  t.is(w.code, 0, w.stderr)
  const flags = await m.sh(`grep '^kernel/livepatch/' ${CONTROL} | awk '{ print ($2 == "[livepatch]klp_try_switch_task" ? "switch" : "other"), $3 }' | sort | uniq -c`)
  t.regex(flags.stdout, /^ +\d+ other =p\n +\d+ switch =_\n$/)
  // the pr_debug lines of the core now reach the log
  const mark = m.mark()
  t.is(await m.insmod('test_klp_livepatch'), 0)
  t.true(m.log(mark).includes("livepatch: 'test_klp_livepatch': initializing patching transition"))
  t.false(m.log(mark).some((l) => l.includes('klp_try_switch_task')))
  // a bad query fails the write
  const bad = await m.bash(`echo 'nonsense kernel +p' > ${CONTROL}`)
  t.is(bad.code, 1)
  t.regex(bad.stderr, /write error: Invalid argument/)
  t.true(m.log(mark).some((l) => /^dynamic_debug: .*nonsense/.test(l)), m.log(mark).join('\n'))
  // and "-p" turns them off again
  t.is((await m.sh(`echo 'file kernel/livepatch/* -p' > ${CONTROL}; grep -c '=p' ${CONTROL}`)).stdout, '0\n')
})

fuseTest('kprobes/enabled: 0600, reads 0/1, kstrtobool writes switch all kprobes', async (t) => {
  const m = await bootMachine(t)
  const f = 'sys/kernel/debug/kprobes/enabled'
  t.is((await m.sh(`stat -c %A ${f}; cat ${f}`)).stdout, '-rw-------\n1\n')
  const mark = m.mark()
  t.is((await m.bash(`echo 0 > ${f} && cat ${f} && echo 1 > ${f} && cat ${f}`)).stdout, '0\n1\n')
  t.deepEqual(m.log(mark), ['kprobes: Kprobes globally disabled', 'kprobes: Kprobes globally enabled'])
  const bad = await m.bash(`echo 2 > ${f}`)
  t.is(bad.code, 1)
  t.regex(bad.stderr, /write error: Invalid argument/)
})

fuseTest('tracefs: the function tracer as functions.sh drives it', async (t) => {
  const m = await bootMachine(t)
  t.is((await m.sh(`test -e ${TR}/trace; echo $?`)).stdout, '0\n')
  // cleanup_tracing, then trace_function cmdline_proc_show
  const setup = await m.bash([
    `echo 0 > ${TR}/tracing_on`, `echo '' > ${TR}/set_ftrace_filter`, `echo nop > ${TR}/current_tracer`, `echo '' > ${TR}/trace`,
    `echo function > ${TR}/current_tracer`, `echo cmdline_proc_show > ${TR}/set_ftrace_filter`, `echo 1 > ${TR}/tracing_on`,
  ].join(' && '))
  t.is(setup.code, 0, setup.stderr)
  t.is((await m.sh(`cat ${TR}/current_tracer ${TR}/tracing_on ${TR}/set_ftrace_filter`)).stdout, 'function\n1\ncmdline_proc_show\n')
  t.is((await m.sh(`grep -Fwc cmdline_proc_show ${TR}/trace`)).stdout, '0\n')
  t.is((await m.sh('cat proc/cmdline > /dev/null')).code, 0)
  const traced = await m.sh(`grep -Fw cmdline_proc_show ${TR}/trace`)
  t.is(traced.code, 0, 'check_traced_functions finds the call')
  // (the task is the simulated kernel's caller: FUSE does not tell us which process reads)
  t.regex(traced.stdout, /^ +\S+-\d+ +\[\d{3}\] \.{5} +\d+\.\d{6}: cmdline_proc_show <-seq_read_iter\n$/)

  // appending adds to the filter; an O_TRUNC open alone clears it (pop_config)
  t.is((await m.sh(`echo uptime_proc_show >> ${TR}/set_ftrace_filter; cat ${TR}/set_ftrace_filter`)).stdout, 'cmdline_proc_show\nuptime_proc_show\n')
  t.is((await m.sh(`: > ${TR}/set_ftrace_filter; cat ${TR}/set_ftrace_filter`)).stdout, '#### all functions enabled ####\n')
  const bad = await m.bash(`echo no_such_function_here > ${TR}/set_ftrace_filter`)
  t.is(bad.code, 1)
  t.regex(bad.stderr, /write error: Invalid argument/)
  const badTracer = await m.bash(`echo wakeup > ${TR}/current_tracer`)
  t.is(badTracer.code, 1)
  t.regex(badTracer.stderr, /write error: Invalid argument/)

  // truncating trace empties it; tracing_on 0 stops recording
  t.is((await m.sh(`: > ${TR}/trace; grep -c ' <-' ${TR}/trace`)).stdout, '0\n')
  await m.sh(`echo 0 > ${TR}/tracing_on; cat proc/cmdline > /dev/null`)
  t.is((await m.sh(`grep -c ' <-' ${TR}/trace`)).stdout, '0\n')
  t.is((await m.bash(`echo nop > ${TR}/current_tracer && cat ${TR}/current_tracer`)).stdout, 'nop\n')
})

fuseTest('available_filter_functions lists kernel and module functions, in full through the mount', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  const expected = [...m.sim.kernel.allFunctions()].filter((s) => m.sim.kernel.ftrace.isLocation(s)).length
  const r = await m.sh(`f=${TR}/available_filter_functions; stat -c %A $f; wc -l < $f; grep -x cmdline_proc_show $f; grep -x 'livepatch_cmdline_proc_show \\[test_klp_livepatch\\]' $f`)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, `-r--r--r--\n${expected}\ncmdline_proc_show\nlivepatch_cmdline_proc_show [test_klp_livepatch]\n`)
  t.true(expected > 1000)
})

fuseTest('/sys/kernel/test_klp_syscall/npids: created by the module, counts down, removed on unload', async (t) => {
  const m = await bootMachine(t, { scale: 10 })
  const npids = 'sys/kernel/test_klp_syscall/npids'
  t.is((await m.sh(`test -e ${npids}; echo $?`)).stdout, '1\n')
  // test-syscall.sh: processes looping on getpid(), named by klp_pids
  const procs = [0, 1, 2].map(() => spawn('sleep', ['60'], { stdio: childStdio('ignore') }))
  t.teardown(() => { for (const p of procs) p.kill('SIGKILL') })
  t.is(await m.insmod('test_klp_syscall', `klp_pids=${procs.map((p) => p.pid).join(',')}`), 0)
  t.is((await m.sh(`stat -c %A ${npids}`)).stdout, '-r--r--r--\n')
  const wait = await m.sh(`n=0; until grep -q '^0$' ${npids}; do n=$((n+1)); [ $n -gt 2000 ] && exit 1; sleep 0.01; done; cat ${npids}`, { timeoutMs: 60_000 })
  t.is(wait.code, 0, wait.stderr)
  t.is(wait.stdout, '0\n')
  t.is((await m.bash('echo 0 > sys/kernel/livepatch/test_klp_syscall/enabled')).code, 0)
  await m.until('the patch to be freed', () => !m.exists('/sys/kernel/livepatch/test_klp_syscall'))
  t.is(await m.rmmod('test_klp_syscall'), 0)
  t.is((await m.sh(`test -e ${npids}; echo $?; test -e sys/kernel/test_klp_syscall; echo $?`)).stdout, '1\n1\n')
})

fuseTest('/proc/test_klp_mod_target: exists while the module is loaded and shows the patch', async (t) => {
  const m = await bootMachine(t)
  const f = 'proc/test_klp_mod_target'
  t.is((await m.sh(`test -e ${f}; echo $?`)).stdout, '1\n')
  t.is(await m.insmod('test_klp_mod_target'), 0)
  t.is((await m.sh(`stat -c %A ${f}; cat ${f}`)).stdout, '-r--r--r--\ntest_klp_mod_target: original output\n')
  t.is(await m.insmod('test_klp_mod_patch'), 0)
  t.is((await m.sh(`cat ${f}`)).stdout, 'test_klp_mod_patch: this has been live patched\n')
  t.is((await m.bash('echo 0 > sys/kernel/livepatch/test_klp_mod_patch/enabled')).code, 0)
  await m.until('the patch to be freed', () => !m.exists('/sys/kernel/livepatch/test_klp_mod_patch'))
  t.is((await m.sh(`cat ${f}`)).stdout, 'test_klp_mod_target: original output\n')
  t.is(await m.rmmod('test_klp_mod_patch'), 0)
  t.is(await m.rmmod('test_klp_mod_target'), 0)
  t.is((await m.sh(`test -e ${f}; echo $?`)).stdout, '1\n')
})
