// /sys/module/<m> through the mount: present exactly while the module is
// loaded, with refcnt, initstate, holders/, coresize, taint and parameters/
// holding only the parameters with a non-zero mode, with that mode.
import { bootMachine, fuseTest } from './helpers/machine'

fuseTest('a module\'s directory: modes, values, and present exactly while it is loaded', async (t) => {
  const m = await bootMachine(t)
  t.is((await m.sh('test -e sys/module/test_klp_mod_target; echo $?')).stdout, '1\n')
  t.is(await m.insmod('test_klp_mod_target'), 0)
  const dir = 'sys/module/test_klp_mod_target'
  const modes = await m.sh(`stat -c '%A %n' ${dir} ${dir}/refcnt ${dir}/initstate ${dir}/holders ${dir}/coresize ${dir}/taint`)
  t.is(modes.stdout, [
    `drwxr-xr-x ${dir}`, `-r--r--r-- ${dir}/refcnt`, `-r--r--r-- ${dir}/initstate`,
    `drwxr-xr-x ${dir}/holders`, `-r--r--r-- ${dir}/coresize`, `-r--r--r-- ${dir}/taint`,
  ].join('\n') + '\n')
  const values = await m.sh(`cd ${dir} && cat refcnt initstate taint && ls -A holders | wc -l && test -e parameters; echo $?`)
  t.is(values.stdout, '0\nlive\nO\n0\n1\n')
  const size = await m.sh(`cat ${dir}/coresize`)
  t.regex(size.stdout, /^[1-9]\d*\n$/)
  t.is(Number(size.stdout), m.sim.kernel.modules.find('test_klp_mod_target')!.coresize)
  // read-only: even root cannot open them for writing
  const w = await m.bash(`echo 1 > ${dir}/refcnt`)
  t.is(w.code, 1)
  t.regex(w.stderr, /refcnt: Permission denied/)

  t.is(await m.rmmod('test_klp_mod_target'), 0)
  t.is((await m.sh(`test -e ${dir}; echo $?; ls sys/module | grep -c test_klp`)).stdout, '1\n0\n')
})

fuseTest('a livepatch module holds a reference while its patch exists; the taint shows O and K', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  const dir = 'sys/module/test_klp_livepatch'
  t.is((await m.sh(`cat ${dir}/refcnt ${dir}/taint ${dir}/initstate`)).stdout, '1\nOK\nlive\n')
  // delete_module(O_NONBLOCK) while in use
  t.is(await m.rmmod('test_klp_livepatch'), -11)
  t.is((await m.bash('echo 0 > sys/kernel/livepatch/test_klp_livepatch/enabled')).code, 0)
  await m.until('the patch to be freed', () => !m.exists('/sys/kernel/livepatch/test_klp_livepatch'))
  t.is((await m.sh(`cat ${dir}/refcnt`)).stdout, '0\n')
  t.is(await m.rmmod('test_klp_livepatch'), 0)
})

fuseTest('parameters/ holds only parameters with a non-zero mode, with that mode', async (t) => {
  const m = await bootMachine(t)
  // the target before the patch: with the demo loaded first, busymod_work_func
  // is patched before it runs and the busy module's init waits forever (as upstream)
  t.is(await m.insmod('test_klp_callbacks_busy'), 0)
  t.is(await m.insmod('test_klp_callbacks_demo', 'pre_patch_ret=0'), 0)
  t.is(await m.insmod('test_klp_syscall'), 0)
  t.is(await m.insmod('test_klp_kprobe'), 0)
  const r = await m.sh('cd sys/module && for d in test_klp_callbacks_demo test_klp_kprobe test_klp_callbacks_busy; do stat -c "%A %n" $d/parameters $d/parameters/*; done; test -e test_klp_syscall/parameters; echo $?')
  t.is(r.stdout, [
    'drwxr-xr-x test_klp_callbacks_demo/parameters',
    '-rw-r--r-- test_klp_callbacks_demo/parameters/pre_patch_ret',
    'drwxr-xr-x test_klp_kprobe/parameters',
    '-r--r--r-- test_klp_kprobe/parameters/has_post_handler',
    'drwxr-xr-x test_klp_callbacks_busy/parameters',
    '-rw-r--r-- test_klp_callbacks_busy/parameters/block_transition',
    // klp_pids has mode 0: no file, and no parameters directory at all
    '1',
  ].join('\n') + '\n')
  const p = 'sys/module/test_klp_callbacks_demo/parameters/pre_patch_ret'
  // test-callbacks writes -19 and reads it back
  const set = await m.bash(`cat ${p}; echo -19 > ${p} && cat ${p}`)
  t.is(set.code, 0, set.stderr)
  t.is(set.stdout, '0\n-19\n')
  const bad = await m.bash(`echo nineteen > ${p}`)
  t.is(bad.code, 1)
  t.regex(bad.stderr, /write error: Invalid argument/)
  t.is((await m.sh(`cat ${p}`)).stdout, '-19\n')

  const b = 'sys/module/test_klp_callbacks_busy/parameters/block_transition'
  t.is((await m.bash(`cat ${b}; echo y > ${b}; cat ${b}; echo 0 > ${b}; cat ${b}`)).stdout, 'N\nY\nN\n')
  const ro = await m.bash('echo N > sys/module/test_klp_kprobe/parameters/has_post_handler')
  t.is(ro.code, 1)
  t.regex(ro.stderr, /has_post_handler: Permission denied/)
  t.is((await m.sh('cat sys/module/test_klp_kprobe/parameters/has_post_handler')).stdout, 'Y\n')
})
