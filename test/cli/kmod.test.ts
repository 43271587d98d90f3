// The kmod front ends (insmod, rmmod, lsmod, modinfo) against a running
// daemon with a real FUSE mount, invoked under their own names.
import { dirname } from 'node:path'
import { fuseTest } from '../fuse/helpers/fuse'
import { hostTool, Instance, startInstance } from './helpers/klpsim'
import { DEP_BASE, DEP_USER, PARAMS_DEMO, PERMANENT, THROWS, writeSources } from './fixtures'

async function exported (inst: Instance): Promise<void> {
  const r = await inst.klpsim(['modules', 'export', 'ko'])
  if (r.code !== 0) throw new Error(`modules export failed: ${r.stderr}`)
}

fuseTest('insmod loads a livepatch, prints nothing, and returns with the transition started', async t => {
  const inst = await startInstance(t)
  await exported(inst)
  // a busy target keeps the transition of the demo patch open
  let r = await inst.sh('insmod ko/test_klp_callbacks_busy.ko block_transition=1')
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout + r.stderr, '')
  r = await inst.sh('insmod ko/test_klp_callbacks_demo.ko && cat mnt/sys/kernel/livepatch/test_klp_callbacks_demo/transition')
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, '1\n', 'transition already reads 1 when insmod returns')
  t.is(r.stderr, '')
  // another patch while one is in transition: EBUSY, in kmod's words
  r = await inst.sh('insmod ko/test_klp_livepatch.ko')
  t.is(r.code, 1)
  t.is(r.stderr, 'insmod: ERROR: could not insert module ko/test_klp_livepatch.ko: Device or resource busy\n')
  t.is(r.stdout, '')
})

fuseTest('insmod error texts: file exists, no such device, invalid parameters, missing file, missing filename', async t => {
  const inst = await startInstance(t)
  await exported(inst)
  let r = await inst.sh('insmod ko/test_klp_livepatch.ko && insmod ko/test_klp_livepatch.ko')
  t.is(r.code, 1)
  t.is(r.stderr, 'insmod: ERROR: could not insert module ko/test_klp_livepatch.ko: File exists\n')

  r = await inst.sh('echo 0 > mnt/sys/kernel/livepatch/test_klp_livepatch/enabled; while [ -e mnt/sys/kernel/livepatch/test_klp_livepatch ]; do sleep .1; done; rmmod test_klp_livepatch')
  t.is(r.code, 0, r.stderr)

  r = await inst.sh('insmod ko/test_klp_callbacks_demo.ko pre_patch_ret=-19')
  t.is(r.code, 1)
  t.is(r.stderr, 'insmod: ERROR: could not insert module ko/test_klp_callbacks_demo.ko: No such device\n')

  r = await inst.sh('insmod ./ko/test_klp_callbacks_demo.ko pre_patch_ret=abc')
  t.is(r.code, 1)
  t.is(r.stderr, 'insmod: ERROR: could not insert module ./ko/test_klp_callbacks_demo.ko: Invalid parameters\n')

  r = await inst.sh('insmod ko/nosuch.ko')
  t.is(r.code, 1)
  t.is(r.stderr, 'insmod: ERROR: could not load module ko/nosuch.ko: No such file or directory\n')

  r = await inst.sh('insmod ko')
  t.is(r.code, 1)
  t.is(r.stderr, 'insmod: ERROR: could not insert module ko: Invalid parameters\n', 'a directory is not a regular file: the kernel answers EINVAL')

  r = await inst.sh('insmod')
  t.is(r.code, 1)
  t.is(r.stderr, 'insmod: ERROR: missing filename.\n')

  r = await inst.sh('insmod -z ko/test_klp_livepatch.ko')
  t.is(r.code, 1)
  t.is(r.stderr, "insmod: invalid option -- 'z'\n")

  const d = await inst.sh('dmesg --notime | grep -e test_klp_callbacks_demo -e livepatch:')
  t.regex(d.stdout, /test_klp_callbacks_demo: `abc' invalid for parameter `pre_patch_ret'/)
  t.regex(d.stdout, /livepatch: pre-patch callback failed for object 'vmlinux'/)
})

fuseTest('the incompatible-states test: insmod answers EINVAL as "Invalid parameters"', async t => {
  const inst = await startInstance(t)
  await exported(inst)
  let r = await inst.sh('insmod ko/test_klp_state2.ko')
  t.is(r.code, 0, r.stderr)
  r = await inst.sh('while grep -q 1 mnt/sys/kernel/livepatch/test_klp_state2/transition; do sleep .1; done; insmod ko/test_klp_state3.ko')
  t.is(r.code, 0, r.stderr)
  r = await inst.sh('while grep -q 1 mnt/sys/kernel/livepatch/test_klp_state3/transition; do sleep .1; done; insmod ko/test_klp_state.ko')
  t.is(r.code, 1)
  t.is(r.stderr, 'insmod: ERROR: could not insert module ko/test_klp_state.ko: Invalid parameters\n')
})

fuseTest('a module whose init throws is contained: insmod fails, the daemon goes on', async t => {
  const inst = await startInstance(t)
  await writeSources(inst.dir, { 'throws_mod.ts': THROWS })
  let r = await inst.klpsim(['build', 'throws_mod.ts'])
  t.is(r.code, 0, r.stderr)
  r = await inst.sh('insmod throws_mod.ko')
  t.is(r.code, 1)
  t.is(r.stderr, 'insmod: ERROR: could not insert module throws_mod.ko: Bad address\n')
  r = await inst.sh('lsmod; [ ! -e mnt/sys/module/throws_mod ] && echo gone')
  t.is(r.stdout, 'Module                  Size  Used by\ngone\n')
})

fuseTest('rmmod: kmod\'s checks and texts (not loaded, in use, in use by, syscall failure, built-in)', async t => {
  const inst = await startInstance(t)
  await exported(inst)
  await writeSources(inst.dir, { 'permanent_mod.ts': PERMANENT, 'dep_base.ts': DEP_BASE, 'dep_user.ts': DEP_USER })
  for (const m of ['permanent_mod', 'dep_base', 'dep_user']) {
    const b = await inst.klpsim(['build', `${m}.ts`, '-o', `${m}.ko`])
    t.is(b.code, 0, b.stderr)
  }
  let r = await inst.sh('rmmod nosuch')
  t.is(r.code, 1)
  t.is(r.stderr, 'rmmod: ERROR: Module nosuch is not currently loaded\n')

  r = await inst.sh('insmod ko/livepatch-sample.ko && rmmod livepatch_sample')
  t.is(r.code, 1)
  t.is(r.stderr, 'rmmod: ERROR: Module livepatch_sample is in use\n', 'a livepatch module holds a reference while its patch exists')

  r = await inst.sh('insmod dep_base.ko && insmod dep_user.ko && rmmod dep_base')
  t.is(r.code, 1)
  t.is(r.stderr, 'rmmod: ERROR: Module dep_base is in use by: dep_user\n')

  r = await inst.sh('insmod permanent_mod.ko && rmmod permanent_mod')
  t.is(r.code, 1)
  t.is(r.stderr, [
    "rmmod: ERROR: ../libkmod/libkmod-module.c:856 kmod_module_remove_module() could not remove 'permanent_mod': Device or resource busy",
    'rmmod: ERROR: could not remove module permanent_mod: Device or resource busy',
    '',
  ].join('\n'))

  r = await inst.sh('rmmod printk')
  t.is(r.code, 1)
  t.is(r.stderr, [
    "rmmod: ERROR: ../libkmod/libkmod-module.c:1998 kmod_module_get_holders() could not open '/sys/module/printk/holders': No such file or directory",
    'rmmod: ERROR: Module unloading is not supported',
    '',
  ].join('\n'))

  // a path names the module by its file name; several at once, in order
  r = await inst.sh('rmmod ./dep_user.ko dep_base && lsmod')
  t.is(r.code, 0, r.stderr)
  t.is(r.stderr, '')
  t.is(r.stdout, 'Module                  Size  Used by\npermanent_mod          16384  0\nlivepatch_sample       16384  1\n')

  r = await inst.sh('rmmod')
  t.is(r.code, 1)
  t.is(r.stderr, 'rmmod: ERROR: missing module name.\n')
})

fuseTest('lsmod: kmod\'s table with sizes, use counts and holders, newest first', async t => {
  const inst = await startInstance(t)
  await writeSources(inst.dir, { 'dep_base.ts': DEP_BASE, 'dep_user.ts': DEP_USER })
  for (const m of ['dep_base', 'dep_user']) t.is((await inst.klpsim(['build', `${m}.ts`])).code, 0)
  const r = await inst.sh('insmod dep_base.ko && insmod dep_user.ko && lsmod && cat mnt/proc/modules')
  t.is(r.code, 0, r.stderr)
  const [table, procModules] = [r.stdout.split('\n').slice(0, 3).join('\n'), r.stdout.split('\n').slice(3).join('\n')]
  t.is(table, 'Module                  Size  Used by\ndep_user               16384  0\ndep_base               16384  1 dep_user')
  t.regex(procModules, /^dep_user 16384 0 - Live 0x[0-9a-f]{16} \(O\)\ndep_base 16384 1 dep_user, Live 0x[0-9a-f]{16} \(O\)\n$/)
  const bad = await inst.sh('lsmod extra')
  t.is(bad.code, 1)
  t.is(bad.stderr, 'Usage: lsmod\n')
})

fuseTest('modinfo prints exactly what kmod\'s modinfo prints, for good and bad files', async t => {
  const real = await hostTool('modinfo')
  if (!real) {
    t.log('kmod modinfo is not installed: comparison not run (apt-get install kmod)')
    t.pass()
    return
  }
  const inst = await startInstance(t)
  await exported(inst)
  await writeSources(inst.dir, { 'params_demo.ts': PARAMS_DEMO })
  t.is((await inst.klpsim(['build', 'params_demo.ts'])).code, 0)
  const setup = await inst.sh([
    'head -c 100 params_demo.ko > truncated.ko',
    'head -c 3000 /dev/urandom > random.ko',
    ': > empty.ko',
    'cp params_demo.ko class32.ko && printf "\\001" | dd of=class32.ko bs=1 seek=4 conv=notrunc 2>/dev/null',
    'cp params_demo.ko nomodinfo.ko && sed -i "s/\\.modinfo/.xodinfo/" nomodinfo.ko',
  ].join('\n'))
  t.is(setup.code, 0, setup.stderr)
  const cases = [
    ['params_demo.ko'], ['./params_demo.ko'], ['ko/livepatch-sample.ko'], ['ko/test_klp_callbacks_demo.ko'],
    ['-F', 'livepatch', 'ko/test_klp_livepatch.ko'], ['-F', 'livepatch', 'params_demo.ko'], ['-F', 'parm', 'params_demo.ko'],
    ['-p', 'params_demo.ko'], ['-n', 'params_demo.ko'], ['-F', 'vermagic', 'params_demo.ko'], ['-0', 'params_demo.ko'],
    ['-F', 'license', '-F', 'name', 'params_demo.ko'], ['params_demo.ko', 'ko/test_klp_state.ko'],
    ['truncated.ko'], ['random.ko'], ['empty.ko'], ['class32.ko'], ['nomodinfo.ko'], ['nosuch.ko'], ['-m', 'nosuch'], [],
    ['-z', 'x.ko'], ['-F'],
  ]
  for (const args of cases) {
    const q = args.map(a => `'${a}'`).join(' ')
    const ours = await inst.sh(`modinfo ${q}`)
    // by name, as a user runs it (getopt's messages carry argv[0])
    const theirs = await inst.sh(`PATH=${dirname(real)}:$PATH modinfo ${q}`)
    t.deepEqual(ours, theirs, `modinfo ${args.join(' ')}`)
  }
  const lp = await inst.sh(`${real} ko/test_klp_livepatch.ko | awk '/^livepatch:/ { print $NF }'`)
  t.is(lp.stdout, 'Y\n', 'the selftests\' is_livepatch_mod() test')
})

fuseTest('readelf finds the module name where kpatch reads it', async t => {
  const readelf = await hostTool('readelf')
  if (!readelf) {
    t.log('binutils readelf is not installed: check not run')
    t.pass()
    return
  }
  const inst = await startInstance(t)
  await exported(inst)
  await writeSources(inst.dir, { 'params_demo.ts': PARAMS_DEMO })
  t.is((await inst.klpsim(['build', 'params_demo.ts'])).code, 0)
  for (const [file, name] of [['params_demo.ko', 'params_demo'], ['ko/livepatch-sample.ko', 'livepatch_sample'], ['ko/test_klp_mod_target.ko', 'test_klp_mod_target']]) {
    const r = await inst.sh(`${readelf} -p .gnu.linkonce.this_module ${file}`)
    t.is(r.code, 0, r.stderr)
    const bracketed = r.stdout.split('\n').filter(l => /\[.*\]/.test(l))
    t.deepEqual(bracketed, [`  [    18]  ${name}`], 'one string, at 0x18: kpatch\'s get_module_name takes the third field')
  }
})

fuseTest('the front ends work as `klpsim TOOL` too, and name the instance with --mount', async t => {
  const inst = await startInstance(t)
  await exported(inst)
  let r = await inst.klpsim(['insmod', '--mount', inst.mnt, 'ko/test_klp_livepatch.ko'], { env: { KLPSIM_MOUNT: '/nonexistent' } })
  t.is(r.code, 0, r.stderr)
  r = await inst.klpsim(['lsmod'])
  t.regex(r.stdout, /^test_klp_livepatch\s+16384  1$/m)
  r = await inst.klpsim(['modinfo', '-F', 'name', 'ko/test_klp_livepatch.ko'])
  t.is(r.stdout, 'test_klp_livepatch\n')
})

fuseTest('without a daemon, a front end says which mount point it looked for, with its own exit code', async t => {
  const inst = await startInstance(t)
  await exported(inst)
  const other = `${inst.dir}/elsewhere`
  for (const cmd of ['lsmod', 'insmod ko/test_klp_livepatch.ko', 'rmmod x', 'dmesg', 'sysctl kernel.ftrace_enabled', 'modprobe test_klp_livepatch']) {
    const r = await inst.sh(cmd, { env: { KLPSIM_MOUNT: other } })
    t.is(r.code, 69, cmd)
    const tool = cmd.split(' ')[0]
    t.is(r.stderr, `${tool}: no klpsim daemon serves ${other} (start one with 'klpsim mount ${other}', or name another instance with --mount DIR or KLPSIM_MOUNT)\n`, cmd)
  }
  // modinfo reads files only: it needs no daemon
  const m = await inst.sh('modinfo -F name ko/test_klp_livepatch.ko', { env: { KLPSIM_MOUNT: other } })
  t.is(m.code, 0)
  // after the daemon stopped, the same
  await inst.stop()
  const r = await inst.sh('lsmod')
  t.is(r.code, 69)
  t.regex(r.stderr, /^lsmod: no klpsim daemon serves .*\/mnt /)
})
