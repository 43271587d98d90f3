// stop-machine-mode.md §7, life cycle and interface rows: each behaviour in
// ftrace mode and in stop_machine mode, through a real FUSE mount driven by
// bash and cat in child processes.
import { EWOULDBLOCK } from '../../lib/kobject/errno'
import { echoEnabled, gone, KLP, row, transitionDone, writeError } from './helpers/machine'
import { busyPatch, cmdlinePatch, patchedCmdline, patchModule } from './helpers/modules'

const SAMPLE = `${KLP}/livepatch_sample`
const ORIGINAL_CMDLINE = 'BOOT_IMAGE=/boot/vmlinuz-7.1.0-klpsim root=/dev/vda1 ro console=ttyS0,115200 quiet\n'
const TAINT_K = 1 << 15

row('module_init API: klp_enable_patch vs klp_register_patch, unregister at module_exit', {
  ftrace: async (t, m) => {
    const mark = m.mark()
    t.is(await m.insmod('livepatch-sample'), 0)
    t.true(m.log(mark).includes("livepatch: enabling patch 'livepatch_sample'"), 'init enabled the patch')
    t.is(await m.cat(`${SAMPLE}/enabled`), '1\n')
    t.is(await m.rmmod('livepatch_sample'), -EWOULDBLOCK, 'module_exit cannot run while the patch holds the module')
  },
  stopMachine: async (t, m) => {
    const mark = m.mark()
    t.is(await m.insmod('livepatch-sample'), 0)
    t.false(m.log(mark).some(l => l.startsWith('livepatch: ')), 'init only registered the patch')
    t.is(await m.cat(`${SAMPLE}/enabled`), '0\n')
    t.is(await m.rmmod('livepatch_sample'), 0)
    const r = await m.sh(`test -e "$R/${SAMPLE}"; echo $?`)
    t.is(r.stdout, '1\n', 'module_exit unregistered the patch')
  },
})

row('state right after insmod', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('test_klp_callbacks_busy', 'block_transition=Y'), 0)
    t.is(await m.insmod(busyPatch('busy_patch')), 0)
    const r = await m.sh(`cat "$R/${KLP}/busy_patch/enabled" "$R/${KLP}/busy_patch/transition"`)
    t.is(r.stdout, '1\n1\n', 'enabled, and in transition while the worker sleeps in the old function')
    await m.sh('echo 0 > "$R/sys/module/test_klp_callbacks_busy/parameters/block_transition"')
    await transitionDone(m)
    t.is(await m.cat(`${KLP}/busy_patch/transition`), '0\n')
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    const r = await m.sh(`cat "$R/${SAMPLE}/enabled" "$R/proc/cmdline"; grep livepatch_sample "$R/proc/livepatch/state"`)
    t.is(r.stdout, `0\n${ORIGINAL_CMDLINE}1    \tlivepatch_sample          \tdisabled\n`)
  },
})

row('how to enable: automatic at insmod vs writing 1', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    await transitionDone(m)
    t.is(await m.cat('proc/cmdline'), 'this has been live patched\n')
    const again = await echoEnabled(m, 'livepatch_sample', 1)
    t.is(again.code, 1)
    t.regex(again.stderr, writeError('Invalid argument'))
    t.is((await echoEnabled(m, 'livepatch_sample', 0)).code, 0)
    await gone(m, SAMPLE)
    const re = await echoEnabled(m, 'livepatch_sample', 1)
    t.regex(re.stderr, /No such file or directory/, 'a disabled patch is freed: there is no re-enable')
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    const r = await m.sh(`echo 1 > "$R/${SAMPLE}/enabled" && cat "$R/${SAMPLE}/enabled" "$R/proc/cmdline"`)
    t.is(r.code, 0, r.stderr)
    t.is(r.stdout, '1\nthis has been live patched\n')
  },
})

row('how patching takes effect: per task through ftrace vs one jump at the old entry', {
  ftrace: async (t, m) => {
    const k = m.sim.kernel
    t.is(await m.insmod('test_klp_callbacks_busy', 'block_transition=Y'), 0)
    const worker = k.sched.tasks().find(tk => tk.stack.some(f => f.sym.name === 'busymod_work_func'))!
    t.is(await m.insmod(busyPatch('busy_patch')), 0)
    await m.until(async () => (await m.sim.fs.readFile('/proc/1/patch_state')) === '1\n', 'pid 1 switched')
    const r = await m.sh(`cat "$R/proc/${worker.pid}/patch_state" "$R/proc/1/patch_state"`)
    t.is(r.stdout, '0\n1\n', 'the worker is still unpatched while pid 1 runs the new code')
    const sym = k.kallsyms.matches('test_klp_callbacks_busy', 'busymod_work_func')[0]
    t.truthy(sym.site, 'redirected by an ftrace handler')
    t.is(sym.jump, undefined)
    await m.sh('echo 0 > "$R/sys/module/test_klp_callbacks_busy/parameters/block_transition"')
    await transitionDone(m)
  },
  stopMachine: async (t, m) => {
    const k = m.sim.kernel
    t.is(await m.insmod('livepatch-sample'), 0)
    const r = await m.sh(`echo 1 > "$R/${SAMPLE}/enabled" && cat "$R/proc/cmdline" "$R/proc/1/patch_state"`)
    t.is(r.stdout, 'this has been live patched\n-1\n', 'every caller at once; no per-task state')
    const sym = k.kallsyms.lookupName('cmdline_proc_show')!
    t.is(sym.jump?.(k.caller.ctx)?.name, 'livepatch_cmdline_proc_show', 'a jump written over the old entry')
    t.is(sym.site, undefined, 'no ftrace call site involved')
  },
})

row('transition, force and signal attributes', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    const r = await m.sh(`ls "$R/${SAMPLE}"; stat -c '%n %a' "$R/${SAMPLE}/transition" "$R/${SAMPLE}/force" | sed "s|$R/||"; test -e "$R/${SAMPLE}/signal"; echo $?`)
    t.is(r.stdout, `enabled\nforce\nreplace\nstack_order\ntransition\nvmlinux\n${SAMPLE}/transition 444\n${SAMPLE}/force 200\n1\n`)
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    const r = await m.sh(`ls "$R/${SAMPLE}"; cat "$R/${SAMPLE}/transition"`)
    t.is(r.stdout, 'enabled\nvmlinux\n')
    t.regex(r.stderr, /transition: No such file or directory/)
    t.is((await m.sh(`stat -c %a "$R/${SAMPLE}/enabled"`)).stdout, '644\n')
  },
})

row('<obj>/patched attribute', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    t.is(await m.cat(`${SAMPLE}/vmlinux/patched`), '1\n')
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    t.is((await echoEnabled(m, 'livepatch_sample', 1)).code, 0)
    const r = await m.sh(`ls "$R/${SAMPLE}/vmlinux"; test -e "$R/${SAMPLE}/vmlinux/patched"; echo $?`)
    t.is(r.stdout, 'cmdline_proc_show,1\n1\n')
  },
})

row('per-function attributes: an empty <func,sympos> directory', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    const r = await m.sh(`stat -c %F "$R/${SAMPLE}/vmlinux/cmdline_proc_show,1"; ls -A "$R/${SAMPLE}/vmlinux/cmdline_proc_show,1" | wc -l`)
    t.is(r.stdout, 'directory\n0\n')
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    const r = await m.sh(`stat -c %F "$R/${SAMPLE}/vmlinux/cmdline_proc_show,1"; ls -A "$R/${SAMPLE}/vmlinux/cmdline_proc_show,1" | wc -l`)
    t.is(r.stdout, 'directory\n0\n')
  },
})

row('/proc/livepatch/state', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    const r = await m.sh('cat "$R/proc/livepatch/state"')
    t.is(r.code, 1)
    t.regex(r.stderr, /No such file or directory/)
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    t.is(await m.insmod(patchModule('kpatch_cve_2024_0001', [{ funcs: [{ oldName: 'version_proc_show' }] }])), 0)
    t.is((await echoEnabled(m, 'livepatch_sample', 1)).code, 0)
    const r = await m.sh('stat -c %a "$R/proc/livepatch/state"; cat "$R/proc/livepatch/state"')
    t.is(r.stdout, [
      '444',
      'Index\tPatch                     \tState   ',
      '-----------------------------------------------',
      '1    \tlivepatch_sample          \tenabled ',
      '2    \tkpatch_cve_2024_0001      \tdisabled',
      '-----------------------------------------------',
      '',
    ].join('\n'))
  },
})

row('disable (write 0): freed vs stays registered', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    await transitionDone(m)
    t.is((await echoEnabled(m, 'livepatch_sample', 0)).code, 0)
    await gone(m, SAMPLE)
    t.is(await m.cat('proc/cmdline'), ORIGINAL_CMDLINE)
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    const r = await m.sh(`D="$R/${SAMPLE}"; echo 1 > "$D/enabled" && echo 0 > "$D/enabled" && cat "$D/enabled" "$R/proc/cmdline" && echo 1 > "$D/enabled" && cat "$D/enabled" "$R/proc/cmdline"`)
    t.is(r.code, 0, r.stderr)
    t.is(r.stdout, `0\n${ORIGINAL_CMDLINE}1\nthis has been live patched\n`)
  },
})

row('writing the current value: EINVAL', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    await transitionDone(m)
    const r = await echoEnabled(m, 'livepatch_sample', 1)
    t.is(r.code, 1)
    t.regex(r.stderr, writeError('Invalid argument'))
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    const off = await echoEnabled(m, 'livepatch_sample', 0)
    t.is(off.code, 1)
    t.regex(off.stderr, writeError('Invalid argument'))
    t.is((await echoEnabled(m, 'livepatch_sample', 1)).code, 0)
    const on = await echoEnabled(m, 'livepatch_sample', 1)
    t.is(on.code, 1)
    t.regex(on.stderr, writeError('Invalid argument'))
  },
})

row('patch module refcount: from enable until freed vs from enable until disable', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    t.is(await m.cat('sys/module/livepatch_sample/refcnt'), '1\n')
    await transitionDone(m)
    t.is((await echoEnabled(m, 'livepatch_sample', 0)).code, 0)
    await gone(m, SAMPLE)
    await m.until(async () => (await m.sim.fs.readFile('/sys/module/livepatch_sample/refcnt')) === '0\n', 'the reference is dropped')
    t.is(await m.cat('sys/module/livepatch_sample/refcnt'), '0\n')
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    const r = await m.sh(`C="$R/sys/module/livepatch_sample/refcnt"; E="$R/${SAMPLE}/enabled"; cat "$C"; echo 1 > "$E"; cat "$C"; echo 0 > "$E"; cat "$C"`)
    t.is(r.stdout, '0\n1\n0\n')
  },
})

row('taint: at module load vs also once at the first enable', {
  ftrace: async (t, m) => {
    const mark = m.mark()
    t.is(await m.insmod('livepatch-sample'), 0)
    const lines = m.log(mark)
    t.true(lines.includes('livepatch_sample: tainting kernel with TAINT_LIVEPATCH'))
    t.false(lines.includes('livepatch: tainting kernel with TAINT_LIVEPATCH'))
    t.true((Number(await m.cat('proc/sys/kernel/tainted')) & TAINT_K) !== 0)
  },
  stopMachine: async (t, m) => {
    const mark = m.mark()
    t.is(await m.insmod('livepatch-sample'), 0)
    t.true(m.log(mark).includes('livepatch_sample: tainting kernel with TAINT_LIVEPATCH'))
    t.true((Number(await m.cat('proc/sys/kernel/tainted')) & TAINT_K) !== 0)
    t.false(m.log(mark).includes('livepatch: tainting kernel with TAINT_LIVEPATCH'))
    await m.sh(`E="$R/${SAMPLE}/enabled"; echo 1 > "$E"; echo 0 > "$E"; echo 1 > "$E"`)
    t.is(m.log(mark).filter(l => l === 'livepatch: tainting kernel with TAINT_LIVEPATCH').length, 1, 'pr_notice_once')
  },
})

row('enable and disable log lines', {
  ftrace: async (t, m) => {
    let mark = m.mark()
    t.is(await m.insmod(cmdlinePatch('logged')), 0)
    await transitionDone(m)
    t.deepEqual(m.log(mark).filter(l => l.startsWith('livepatch: ')), [
      "livepatch: enabling patch 'logged'",
      "livepatch: 'logged': starting patching transition",
      "livepatch: 'logged': patching complete",
    ])
    mark = m.mark()
    t.is((await echoEnabled(m, 'logged', 0)).code, 0)
    await transitionDone(m)
    t.deepEqual(m.log(mark).filter(l => l.startsWith('livepatch: ')), [
      "livepatch: 'logged': starting unpatching transition",
      "livepatch: 'logged': unpatching complete",
    ])
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod(cmdlinePatch('logged')), 0)
    const mark = m.mark()
    await m.sh(`E="$R/${KLP}/logged/enabled"; echo 1 > "$E"; cat "$R/proc/cmdline" > /dev/null; echo 0 > "$E"`)
    t.deepEqual(m.log(mark).filter(l => l.startsWith('livepatch: ')), [
      'livepatch: tainting kernel with TAINT_LIVEPATCH',
      "livepatch: enabling patch 'logged'",
      "livepatch: disabling patch 'logged'",
    ])
    t.is(patchedCmdline('logged'), 'logged: patched cmdline_proc_show\n')
  },
})
