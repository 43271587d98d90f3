// modprobe: modules by name from a modules directory, with dependencies.
import { promises as fsp } from 'node:fs'
import { fuseTest } from '../fuse/helpers/fuse'
import { startInstance } from './helpers/klpsim'
import { DEP_BASE, DEP_USER, writeSources } from './fixtures'

fuseTest('modprobe loads by name with dependencies, -r removes what became unused, kmod\'s texts', async t => {
  const inst = await startInstance(t)
  const dir = `${inst.dir}/modules`
  let r = await inst.klpsim(['modules', 'export', dir])
  t.is(r.code, 0, r.stderr)
  await writeSources(inst.dir, { 'dep_base.ts': DEP_BASE, 'dep_user.ts': DEP_USER })
  await fsp.mkdir(`${dir}/extra`)
  for (const m of ['dep_base', 'dep_user']) t.is((await inst.klpsim(['build', `${m}.ts`, '-o', `${dir}/extra/${m}.ko`])).code, 0)
  const env = { KLPSIM_MODULES: dir }

  r = await inst.sh('modprobe dep_user && lsmod', { env })
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, 'Module                  Size  Used by\ndep_user               16384  0\ndep_base               16384  1 dep_user\n')

  r = await inst.sh('modprobe dep_user; echo rc=$?; modprobe --first-time dep_user; echo rc=$?', { env })
  t.is(r.stdout, 'rc=0\nrc=1\n')
  t.is(r.stderr, "modprobe: ERROR: could not insert 'dep_user': Module already in kernel\n")

  r = await inst.sh('modprobe -r dep_user && lsmod', { env })
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, 'Module                  Size  Used by\n', 'the dependency went too')

  r = await inst.sh('modprobe test-klp-livepatch && modprobe -r test_klp_livepatch', { env })
  t.is(r.code, 1)
  t.is(r.stderr, 'modprobe: FATAL: Module test_klp_livepatch is in use.\n')

  r = await inst.sh('modprobe -r test_klp_state; echo rc=$?; modprobe -r nosuch; echo rc=$?; modprobe nosuch; echo rc=$?; modprobe -q nosuch; echo rc=$?; modprobe; echo rc=$?', { env })
  t.is(r.stdout, 'rc=0\nrc=1\nrc=1\nrc=1\nrc=1\n')
  t.is(r.stderr, [
    'modprobe: FATAL: Module nosuch not found.',
    `modprobe: FATAL: Module nosuch not found in directory ${dir}`,
    'modprobe: ERROR: missing parameters. See -h.',
    '',
  ].join('\n'))

  r = await inst.sh('modprobe -n -v test_klp_callbacks_demo pre_patch_ret=-19; [ -e mnt/sys/module/test_klp_callbacks_demo ] || echo not-loaded', { env })
  t.is(r.stdout, `insmod ${dir}/test_klp_callbacks_demo.ko pre_patch_ret=-19\nnot-loaded\n`)

  r = await inst.sh('modprobe test_klp_callbacks_demo pre_patch_ret=-19', { env })
  t.is(r.code, 1)
  t.is(r.stderr, "modprobe: ERROR: could not insert 'test_klp_callbacks_demo': No such device\n")
})

fuseTest('modprobe finds the modules klpsim ships when the modules directory has none', async t => {
  const inst = await startInstance(t)
  let r = await inst.sh('modprobe -n -v livepatch-sample')
  t.is(r.stdout, 'insmod klpsim:livepatch-sample.ko \n')
  r = await inst.sh('modprobe livepatch_sample && cat mnt/proc/cmdline')
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, 'this has been live patched\n')
  r = await inst.sh('modprobe nosuch')
  t.is(r.stderr, 'modprobe: FATAL: Module nosuch not found in directory /lib/modules/7.1.0-klpsim\n')
})
