// /sys/kernel/livepatch through a real FUSE mount of the simulated kernel
// (kernel-semantics.md §8): modes, formats, every errno of a store, and the
// kernfs rules, driven by shell commands and exact system calls.
import { background, bootMachine, fuseTest, quote } from './helpers/machine'

const LP = 'sys/kernel/livepatch'
const L = `${LP}/test_klp_livepatch`
const D = `${LP}/test_klp_callbacks_demo`

fuseTest('every entry of /sys/kernel/livepatch has the kernel\'s mode, owner and size', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  t.is(await m.insmod('test_klp_callbacks_demo'), 0)
  const r = await m.sh(`cd ${LP} && find . | sort | xargs stat -c '%A %u:%g %n'`)
  t.is(r.code, 0, r.stderr)
  t.deepEqual(r.stdout.trim().split('\n'), [
    'drwxr-xr-x 0:0 .',
    'drwxr-xr-x 0:0 ./test_klp_callbacks_demo',
    '-rw-r--r-- 0:0 ./test_klp_callbacks_demo/enabled',
    '--w------- 0:0 ./test_klp_callbacks_demo/force',
    '-r--r--r-- 0:0 ./test_klp_callbacks_demo/replace',
    '-r--r--r-- 0:0 ./test_klp_callbacks_demo/stack_order',
    'drwxr-xr-x 0:0 ./test_klp_callbacks_demo/test_klp_callbacks_busy',
    'drwxr-xr-x 0:0 ./test_klp_callbacks_demo/test_klp_callbacks_busy/busymod_work_func,1',
    '-r--r--r-- 0:0 ./test_klp_callbacks_demo/test_klp_callbacks_busy/patched',
    'drwxr-xr-x 0:0 ./test_klp_callbacks_demo/test_klp_callbacks_mod',
    '-r--r--r-- 0:0 ./test_klp_callbacks_demo/test_klp_callbacks_mod/patched',
    '-r--r--r-- 0:0 ./test_klp_callbacks_demo/transition',
    'drwxr-xr-x 0:0 ./test_klp_callbacks_demo/vmlinux',
    '-r--r--r-- 0:0 ./test_klp_callbacks_demo/vmlinux/patched',
    'drwxr-xr-x 0:0 ./test_klp_livepatch',
    '-rw-r--r-- 0:0 ./test_klp_livepatch/enabled',
    '--w------- 0:0 ./test_klp_livepatch/force',
    '-r--r--r-- 0:0 ./test_klp_livepatch/replace',
    '-r--r--r-- 0:0 ./test_klp_livepatch/stack_order',
    '-r--r--r-- 0:0 ./test_klp_livepatch/transition',
    'drwxr-xr-x 0:0 ./test_klp_livepatch/vmlinux',
    'drwxr-xr-x 0:0 ./test_klp_livepatch/vmlinux/cmdline_proc_show,1',
    '-r--r--r-- 0:0 ./test_klp_livepatch/vmlinux/patched',
  ])
  // attributes report one page, directories nothing
  const sizes = await m.sh(`cd ${LP} && find . -type f -exec stat -c %s {} + | sort | uniq -c; find . -type d -exec stat -c %s {} + | sort | uniq -c`)
  t.is(sizes.stdout.replace(/ +/g, ' '), ' 14 4096\n 9 0\n')
})

fuseTest('attributes read as one decimal number and a newline', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  t.is(await m.insmod('test_klp_atomic_replace', 'replace=0'), 0)
  const files = ['enabled', 'transition', 'replace', 'stack_order', 'vmlinux/patched']
  const r = await m.sh(`for p in ${L} ${LP}/test_klp_atomic_replace; do for f in ${files.join(' ')}; do printf '%s=' $f; od -An -c $p/$f | tr -s ' '; done; done`)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, [
    'enabled= 1 \\n', 'transition= 0 \\n', 'replace= 0 \\n', 'stack_order= 1 \\n', 'vmlinux/patched= 1 \\n',
    'enabled= 1 \\n', 'transition= 0 \\n', 'replace= 0 \\n', 'stack_order= 2 \\n', 'vmlinux/patched= 1 \\n',
  ].join('\n') + '\n')
  // an atomic replace patch says so
  t.is(await m.insmod('test_klp_callbacks_demo2', 'replace=1'), 0)
  await m.until('the replaced patches to go', () => !m.exists(`/${L}`) && !m.exists(`/${LP}/test_klp_atomic_replace`))
  const rep = await m.sh(`cat ${LP}/test_klp_callbacks_demo2/replace ${LP}/test_klp_callbacks_demo2/stack_order; ls ${LP}`)
  t.is(rep.stdout, '1\n1\ntest_klp_callbacks_demo2\n')
})

fuseTest('echo of an invalid value to enabled: bash prints "write error: Invalid argument", exit 1, nothing changes', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  const mark = m.mark()
  for (const v of ['2', 'x', '', 'o', 'ox', '-1', ' 0']) {
    const r = await m.bash(`echo ${quote(v)} > ${L}/enabled`)
    t.is(r.code, 1, `value ${JSON.stringify(v)}`)
    t.regex(r.stderr, /^bash: line 1: echo: write error: Invalid argument\n$/, `value ${JSON.stringify(v)}`)
  }
  // kstrtobool's true spellings mean "already enabled": EINVAL as well
  for (const v of ['1', 'y', 'Y', 't', 'e', 'on', 'yes', 'true', 'enable']) {
    const r = await m.bash(`echo ${v} > ${L}/enabled`)
    t.is(r.code, 1, v)
    t.regex(r.stderr, /write error: Invalid argument/, v)
  }
  t.is((await m.sh(`cat ${L}/enabled ${L}/transition`)).stdout, '1\n0\n')
  t.deepEqual(m.log(mark), [])
})

fuseTest('echo 0 > enabled returns the byte count, unpatches, and the directory goes', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  t.is((await m.sh('cat proc/cmdline')).stdout, 'test_klp_livepatch: this has been live patched\n')
  const mark = m.mark()
  // "off": kstrtobool decides on the second character
  const out = await m.syscalls([
    { op: 'open', path: `${L}/enabled`, flags: ['O_WRONLY', 'O_TRUNC'] },
    { op: 'write', data: 'off\n' },
    { op: 'close' },
  ])
  t.deepEqual(out, [0, 4, 0])
  await m.until('the patch directory to go', () => !m.exists(`/${L}`))
  t.deepEqual(m.log(mark), [
    "livepatch: 'test_klp_livepatch': starting unpatching transition",
    "livepatch: 'test_klp_livepatch': unpatching complete",
  ])
  const after = await m.sh(`test -e ${L}; echo $?; ls ${LP}; cat sys/module/test_klp_livepatch/refcnt; cat proc/cmdline`)
  t.is(after.stdout, `1\n0\n${m.sim.kernel.cmdline}\n`)
  t.is(await m.rmmod('test_klp_livepatch'), 0)
})

fuseTest('while another patch is in transition: EBUSY, EINVAL for the patch itself, and force', async (t) => {
  const m = await bootMachine(t, { scale: 10 })
  t.is(await m.insmod('test_klp_livepatch'), 0)
  t.is(await m.insmod('test_klp_callbacks_busy', 'block_transition=Y'), 0)
  // the demo patches busymod_work_func, on which a worker sleeps: its transition stalls
  t.is(await m.insmod('test_klp_callbacks_demo'), 0)
  t.is((await m.sh(`cat ${D}/enabled ${D}/transition ${L}/transition`)).stdout, '1\n1\n0\n')

  const busy = await m.bash(`echo 0 > ${L}/enabled`)
  t.is(busy.code, 1)
  t.regex(busy.stderr, /write error: Device or resource busy/)
  // writing the value it already has, even mid-transition
  const again = await m.bash(`echo 1 > ${D}/enabled`)
  t.is(again.code, 1)
  t.regex(again.stderr, /write error: Invalid argument/)
  // force: false is accepted and does nothing; true only for the patch in transition
  const mark = m.mark()
  const f0 = await m.syscalls([{ op: 'open', path: `${L}/force`, flags: ['O_WRONLY'] }, { op: 'write', data: 'n\n' }, { op: 'close' }])
  t.deepEqual(f0, [0, 2, 0])
  const f1 = await m.bash(`echo 1 > ${L}/force`)
  t.is(f1.code, 1)
  t.regex(f1.stderr, /write error: Invalid argument/)
  const fbad = await m.bash(`echo 2 > ${D}/force`)
  t.is(fbad.code, 1)
  t.regex(fbad.stderr, /write error: Invalid argument/)
  t.deepEqual(m.log(mark), [])
  t.is((await m.sh(`cat ${D}/transition`)).stdout, '1\n')

  const forced = await m.bash(`echo 1 > ${D}/force`)
  t.is(forced.code, 0, forced.stderr)
  await m.until('the forced transition to complete', () => m.log(mark).includes("livepatch: 'test_klp_callbacks_demo': patching complete"))
  t.is(m.log(mark)[0], 'livepatch: forcing remaining tasks to the patched state')
  t.is((await m.sh(`cat ${D}/enabled ${D}/transition ${D}/test_klp_callbacks_busy/patched`)).stdout, '1\n0\n1\n')
  // no transition any more: the other patch may go now
  const ok = await m.bash(`echo 0 > ${L}/enabled`)
  t.is(ok.code, 0, ok.stderr)
  // let the worker leave busymod_work_func, through the module's parameter
  const unblock = await m.bash('echo 0 > sys/module/test_klp_callbacks_busy/parameters/block_transition')
  t.is(unblock.code, 0, unblock.stderr)
  await m.until('the worker to leave', () => m.log(mark).includes('test_klp_callbacks_busy: busymod_work_func exit'))
})

fuseTest('writing the opposite value mid-transition reverses it and returns success', async (t) => {
  const m = await bootMachine(t, { scale: 10 })
  t.is(await m.insmod('test_klp_callbacks_busy', 'block_transition=Y'), 0)
  t.is(await m.insmod('test_klp_callbacks_demo'), 0)
  const dd = await m.sh("printf 'file kernel/livepatch/* +p\\nfunc klp_try_switch_task -p\\n' > sys/kernel/debug/dynamic_debug/control")
  t.is(dd.code, 0, dd.stderr)
  const mark = m.mark()
  const r = await m.bash(`echo 0 > ${D}/enabled`)
  t.is(r.code, 0, r.stderr)
  await m.until('the reversed transition to finish', () => !m.exists(`/${D}`))
  t.deepEqual(m.log(mark).filter((l) => l.startsWith('livepatch:')), [
    "livepatch: 'test_klp_callbacks_demo': reversing transition from patching to unpatching",
    "livepatch: 'test_klp_callbacks_demo': starting unpatching transition",
    "livepatch: 'test_klp_callbacks_demo': completing unpatching transition",
    "livepatch: 'test_klp_callbacks_demo': unpatching complete",
  ])
  await m.sh('echo N > sys/module/test_klp_callbacks_busy/parameters/block_transition')
})

fuseTest('open for write of a read-only attribute, or for read of force, fails EACCES even for root', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  t.log(`uid ${(await m.sh('id -u')).stdout.trim()}`)
  for (const f of ['transition', 'replace', 'stack_order', 'vmlinux/patched']) {
    const r = await m.bash(`echo 1 > ${L}/${f}`)
    t.is(r.code, 1, f)
    t.is(r.stderr, `bash: line 1: ${L}/${f}: Permission denied\n`, f)
  }
  const force = await m.sh(`cat ${L}/force`)
  t.is(force.code, 1)
  t.is(force.stderr, `cat: ${L}/force: Permission denied\n`)
  t.deepEqual(await m.syscalls([
    { op: 'open', path: `${L}/force`, flags: ['O_RDWR'] },
    { op: 'open', path: `${L}/transition`, flags: ['O_RDWR'] },
    { op: 'open', path: `${L}/force`, flags: ['O_WRONLY'] },
    { op: 'close' },
    { op: 'open', path: `${L}/enabled`, flags: ['O_RDWR'] },
    { op: 'close' },
  ]), ['EACCES', 'EACCES', 0, 0, 0, 0])
  // a directory cannot be opened for writing
  t.deepEqual(await m.syscalls([{ op: 'open', path: `${L}/vmlinux`, flags: ['O_WRONLY'] }]), ['EISDIR'])
})

fuseTest('one page per write, zero-length writes, O_TRUNC, and reads at an offset', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  const mark = m.mark()
  t.deepEqual(await m.syscalls([
    { op: 'open', path: `${L}/enabled`, flags: ['O_RDONLY'] },
    { op: 'pread', length: 4096, position: 0 },
    { op: 'pread', length: 4096, position: 1 },
    { op: 'pread', length: 4096, position: 2 },
    { op: 'pread', length: 1, position: 0 },
    { op: 'read', length: 1 },
    { op: 'read', length: 10 },
    { op: 'read', length: 10 },
    { op: 'close' },
  ]), [0, { data: '1\n' }, { data: '\n' }, { data: '' }, { data: '1' }, { data: '1' }, { data: '\n' }, { data: '' }, 0])
  t.is((await m.sh(`dd if=${L}/enabled bs=1 skip=1 status=none | od -An -c`)).stdout, '  \\n\n')

  // a zero-length write returns 0 without calling the store (no log line, no state change)
  t.deepEqual(await m.syscalls([
    { op: 'open', path: `${L}/enabled`, flags: ['O_WRONLY', 'O_TRUNC'] },
    { op: 'write', data: '' },
    { op: 'close' },
  ]), [0, 0, 0])
  t.is((await m.sh(`cat ${L}/enabled`)).stdout, '1\n')
  t.deepEqual(m.log(mark), [])
  // the store sees at most one page: 5000 bytes starting "0" disable and report 4096
  t.deepEqual(await m.syscalls([
    { op: 'open', path: `${L}/enabled`, flags: ['O_WRONLY'] },
    { op: 'writeFill', head: '0', fill: ' ', count: 5000 },
    { op: 'close' },
  ]), [0, 4096, 0])
  await m.until('the patch to go', () => !m.exists(`/${L}`))
  t.true(m.log(mark).includes("livepatch: 'test_klp_livepatch': unpatching complete"))
})

fuseTest('truncate and touch are accepted and ignored, as sysfs does', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  const r = await m.sh(`truncate -s 0 ${L}/enabled && touch ${L}/enabled && : > ${L}/force && cat ${L}/enabled && stat -c %s ${L}/enabled`)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, '1\n4096\n')
})

fuseTest('creating, removing and renaming entries fail as on sysfs', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  const cases: [string, string][] = [
    [`touch ${L}/new`, `touch: cannot touch '${L}/new': Permission denied`],
    [`mkdir ${L}/new`, `mkdir: cannot create directory '${L}/new': Operation not permitted`],
    [`mkdir ${LP}/fake_patch`, `mkdir: cannot create directory '${LP}/fake_patch': Operation not permitted`],
    [`rm -f ${L}/enabled`, `rm: cannot remove '${L}/enabled': Operation not permitted`],
    [`rmdir ${L}/vmlinux/cmdline_proc_show,1`, `rmdir: failed to remove '${L}/vmlinux/cmdline_proc_show,1': Operation not permitted`],
    [`rm -rf ${L}`, `rm: cannot remove '${L}/vmlinux/cmdline_proc_show,1': Operation not permitted`],
    [`mv ${L}/enabled ${L}/enabled2`, `mv: cannot move '${L}/enabled' to '${L}/enabled2': Operation not permitted`],
    [`mv ${L} ${LP}/renamed`, `mv: cannot move '${L}' to '${LP}/renamed': Operation not permitted`],
    [`ln -s enabled ${L}/link`, `ln: failed to create symbolic link '${L}/link': Operation not permitted`],
    [`ln ${L}/enabled ${L}/hard`, `ln: failed to create hard link '${L}/hard' => '${L}/enabled': Operation not permitted`],
    [`mknod ${L}/fifo p`, `mknod: ${L}/fifo: Permission denied`],
  ]
  for (const [cmd, err] of cases) {
    const r = await m.sh(`LC_ALL=C ${cmd}`)
    t.not(r.code, 0, cmd)
    t.true(r.stderr.split('\n').includes(err.replace(/[‘’]/g, "'")), `${cmd}: ${r.stderr}`)
  }
  const ls = await m.sh(`cd ${L} && find . | sort`)
  t.is(ls.stdout, ['.', './enabled', './force', './replace', './stack_order', './transition', './vmlinux', './vmlinux/cmdline_proc_show,1', './vmlinux/patched'].join('\n') + '\n')
})

fuseTest('chmod and chown as root are kept and open() checks the new mode; /proc/<pid> and /proc/sys refuse', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  const set = await m.sh(`chmod 0444 ${L}/enabled && chown 1000:100 ${L}/enabled && stat -c '%A %u:%g' ${L}/enabled`)
  t.is(set.code, 0, set.stderr)
  t.is(set.stdout, '-r--r--r-- 1000:100\n')
  const denied = await m.bash(`echo 0 > ${L}/enabled`)
  t.is(denied.code, 1)
  t.regex(denied.stderr, /enabled: Permission denied\n$/)
  t.is((await m.sh(`cat ${L}/enabled`)).stdout, '1\n')
  const refused: [string, string][] = [
    ['chmod 0444 proc/1/stack', "chmod: changing permissions of 'proc/1/stack': Operation not permitted"],
    ['chmod 0600 proc/sys/kernel/ftrace_enabled', "chmod: changing permissions of 'proc/sys/kernel/ftrace_enabled': Operation not permitted"],
    ['chown 1000 proc/sys/kernel/tainted', "chown: changing ownership of 'proc/sys/kernel/tainted': Operation not permitted"],
  ]
  for (const [cmd, err] of refused) {
    const r = await m.sh(`LC_ALL=C ${cmd}`)
    t.is(r.code, 1, cmd)
    t.is(r.stderr.replace(/[‘’]/g, "'"), err + '\n')
  }
  t.is((await m.sh('chown 1000 proc/1/stack && stat -c %u:%a proc/1/stack')).stdout, '1000:400\n')
  const back = await m.bash(`chmod 0644 ${L}/enabled && echo 0 > ${L}/enabled`)
  t.is(back.code, 0, back.stderr)
})

fuseTest('an fd kept open on enabled of a removed patch gets ENODEV', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  // bash's read, not cat: cat fstat()s first, which FUSE answers by path (ENOENT)
  const held = background(t, 'bash', ['-c', `exec 3>${L}/enabled 4<${L}/enabled || exit 9; echo opened; read x; echo 0 >&3; echo "w=$?"; read y <&4; echo "r=$?"`], { cwd: m.dir })
  await held.waitFor(/opened/)
  const off = await m.bash(`echo 0 > ${L}/enabled`)
  t.is(off.code, 0, off.stderr)
  await m.until('the patch to be freed', () => !m.exists(`/${L}`))
  held.child.stdin!.end()
  const r = await held.done
  t.is(r.stdout, 'opened\nw=1\nr=1\n')
  t.regex(r.stderr, /echo: write error: No such device/)
  t.regex(r.stderr, /read: read error: 0: No such device/)
})

fuseTest('a vanished patch directory is gone for the very next test -e, ls and stat', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  // warm every cache there could be
  const warm = await m.sh(`for i in 1 2 3; do test -e ${L} && stat ${L}/enabled >/dev/null && ls ${LP} && cat ${L}/enabled; done`)
  t.is(warm.stdout, 'test_klp_livepatch\n1\n'.repeat(3))
  const off = await m.bash(`echo 0 > ${L}/enabled`)
  t.is(off.code, 0)
  await m.until('the patch to be freed', () => !m.exists(`/${L}`))
  const r = await m.sh(`test -e ${L}; echo $?; test -e ${L}/enabled; echo $?; ls ${LP} | wc -l; stat ${L} 2>&1 | sed 's/.*: //'`)
  t.is(r.stdout, '1\n1\n0\nNo such file or directory\n')
  // the module's own directory goes with rmmod, equally at once
  t.is((await m.sh('test -d sys/module/test_klp_livepatch; echo $?')).stdout, '0\n')
  t.is(await m.rmmod('test_klp_livepatch'), 0)
  t.is((await m.sh('test -e sys/module/test_klp_livepatch; echo $?')).stdout, '1\n')
})
