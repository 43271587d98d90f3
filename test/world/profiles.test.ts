// --kernel PROFILE through the command line: the livepatch sysfs ABI a script
// sees, per kernel era; the 4.19 register-then-enable model; a bad profile.
import { fuseTest } from '../fuse/helpers/fuse'
import { startInstance } from '../cli/helpers/klpsim'
import { ok, shOk, virtualInstance } from './helpers/world'

const PATCH = 'mnt/sys/kernel/livepatch/test_klp_livepatch'

const PROFILES: Array<[string, string, string]> = [
  ['7.1', 'enabled force replace stack_order transition vmlinux', 'cmdline_proc_show,1 patched'],
  ['6.1', 'enabled force transition vmlinux', 'cmdline_proc_show,1 patched'],
  ['5.10', 'enabled force transition vmlinux', 'cmdline_proc_show,1'],
  ['4.19', 'enabled force signal transition vmlinux', 'cmdline_proc_show,1'],
]

for (const [profile, patchFiles, objectFiles] of PROFILES) {
  fuseTest(`--kernel ${profile}: the patch directory a script sees, and the profile in klpsim status`, async t => {
    const inst = await virtualInstance(t, ['--kernel', profile])
    await shOk(t, inst, 'insmod ko/test_klp_livepatch.ko')
    t.is(await shOk(t, inst, `ls ${PATCH} | tr '\\n' ' '`), patchFiles + ' ')
    t.is(await shOk(t, inst, `ls ${PATCH}/vmlinux | tr '\\n' ' '`), objectFiles + ' ')
    t.regex(await ok(t, inst, ['status']), new RegExp(`^kernel 7\\.1\\.0-klpsim \\(ftrace mode, profile ${profile.replace('.', '\\.')}, virtual clock\\)`))
    t.is(JSON.parse(await ok(t, inst, ['status', '--json'])).kernel.profile, profile)
  })
}

fuseTest('--kernel 4.19: a disabled patch stays registered and can be enabled again; only the topmost may be disabled', async t => {
  const inst = await virtualInstance(t, ['--kernel', '4.19'])
  await shOk(t, inst, 'insmod ko/test_klp_livepatch.ko && insmod ko/test_klp_atomic_replace.ko')
  let r = await inst.sh(`echo 0 > ${PATCH}/enabled`, { shell: 'bash' })
  t.is(r.code, 1)
  t.regex(r.stderr, /write error: Device or resource busy\n$/)
  await shOk(t, inst, 'echo 0 > mnt/sys/kernel/livepatch/test_klp_atomic_replace/enabled')
  await ok(t, inst, ['clock', 'advance', '1s'])
  t.is(await shOk(t, inst, 'cat mnt/sys/kernel/livepatch/test_klp_atomic_replace/enabled'), '0\n', 'still registered')
  await shOk(t, inst, 'echo 1 > mnt/sys/kernel/livepatch/test_klp_atomic_replace/enabled')
  t.is(await shOk(t, inst, 'cat mnt/sys/kernel/livepatch/test_klp_atomic_replace/enabled'), '1\n')
  r = await inst.sh(`echo 1 > ${PATCH}/signal`, { shell: 'bash' })
  t.is(r.code, 1)
  t.regex(r.stderr, /write error: Invalid argument\n$/, 'signal is only for a patch in transition')
})

fuseTest('--mode stop-machine shows in klpsim status', async t => {
  const inst = await virtualInstance(t, ['--mode', 'stop-machine'])
  await shOk(t, inst, 'insmod ko/test_klp_livepatch.ko && echo 1 > mnt/sys/kernel/livepatch/test_klp_livepatch/enabled')
  const st = JSON.parse(await ok(t, inst, ['status', '--json']))
  t.is(st.kernel.mode, 'stop-machine')
  t.deepEqual(st.functions.map((f: any) => [f.function, f.live.patch]), [['cmdline_proc_show', 'test_klp_livepatch']])
})

fuseTest('a profile that does not exist: one clear line, nothing mounted', async t => {
  const inst = await startInstance(t)
  const r = await inst.klpsim(['mount', `${inst.dir}/other`, '--kernel', '9.9'])
  t.is(r.code, 2)
  t.is(r.stdout, '')
  t.is(r.stderr, "klpsim: invalid --kernel '9.9' (known profiles: 7.1, 6.1, 5.10, 4.19; the stop_machine variant is --mode stop-machine)\n")
  const m = await inst.sh(`grep -c ' ${inst.dir}/other ' /proc/self/mounts`)
  t.is(m.stdout, '0\n')
})
