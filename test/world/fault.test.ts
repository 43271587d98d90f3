// klpsim fault add|list|clear: every kind sends the simulated kernel down its
// own failure path, seen through the module tools, the mount and dmesg.
import { fuseTest } from '../fuse/helpers/fuse'
import { ok, shOk, virtualInstance } from './helpers/world'

const KLP = 'mnt/sys/kernel/livepatch'

fuseTest('ftrace registration failure (once), kallsyms size lookup failure, nop allocation failure', async t => {
  const inst = await virtualInstance(t)
  t.is(await ok(t, inst, ['fault', 'add', 'ftrace-register', 'cmdline_proc_show', 'ENODEV', '--once']), '1\n')
  let r = await inst.sh('insmod ko/test_klp_livepatch.ko')
  t.is(r.stderr, 'insmod: ERROR: could not insert module ko/test_klp_livepatch.ko: No such device\n')
  t.regex(await shOk(t, inst, 'dmesg -t'), /livepatch: failed to register ftrace handler for function 'cmdline_proc_show' \(-19\)\nlivepatch: failed to patch object 'vmlinux'\n/)
  t.is(await ok(t, inst, ['fault', 'list']), 'no fault is active\n', 'a --once fault is gone after it fired')
  await shOk(t, inst, 'insmod ko/test_klp_livepatch.ko')

  t.is(await ok(t, inst, ['fault', 'add', 'kallsyms-size', 'meminfo_proc_show']), '2\n')
  r = await inst.sh('insmod ko/test_klp_atomic_replace.ko')
  t.is(r.stderr, 'insmod: ERROR: could not insert module ko/test_klp_atomic_replace.ko: Unknown symbol in module\n')
  t.regex(await shOk(t, inst, 'dmesg -t'), /livepatch: kallsyms size lookup failed for 'meminfo_proc_show'\n/)
  await ok(t, inst, ['fault', 'clear', '2'])

  await ok(t, inst, ['fault', 'add', 'nop-alloc'])
  r = await inst.sh('insmod ko/test_klp_atomic_replace.ko replace=1')
  t.is(r.stderr, 'insmod: ERROR: could not insert module ko/test_klp_atomic_replace.ko: Cannot allocate memory\n')
  t.is((await inst.sh(`test -e ${KLP}/test_klp_atomic_replace`)).code, 1)
  const list = JSON.parse(await ok(t, inst, ['fault', 'list', '--json']))
  t.deepEqual(list.map((f: any) => [f.id, f.kind, f.hits, f.once]), [[3, 'nop-alloc', 1, false]])
  await ok(t, inst, ['fault', 'clear'])
  await shOk(t, inst, 'insmod ko/test_klp_atomic_replace.ko replace=1')
})

fuseTest('a delayed refcount drop: the patch is gone but its module stays in use until the delay passes', async t => {
  const inst = await virtualInstance(t)
  await ok(t, inst, ['fault', 'add', 'refcount-delay', '2000'])
  await shOk(t, inst, 'insmod ko/test_klp_livepatch.ko && echo 0 > mnt/sys/kernel/livepatch/test_klp_livepatch/enabled')
  await ok(t, inst, ['clock', 'advance', '100ms'])
  t.is((await inst.sh(`test -e ${KLP}/test_klp_livepatch`)).code, 1)
  t.is(await shOk(t, inst, 'cat mnt/sys/module/test_klp_livepatch/refcnt'), '1\n')
  const r = await inst.sh('rmmod test_klp_livepatch')
  t.is(r.stderr, 'rmmod: ERROR: Module test_klp_livepatch is in use\n')
  await ok(t, inst, ['clock', 'advance', '2s'])
  await shOk(t, inst, 'rmmod test_klp_livepatch')
})

fuseTest('a task that ignores fake signals, by name; clearing the fault lets the next signals move it', async t => {
  const inst = await virtualInstance(t)
  const pid = (await ok(t, inst, ['task', 'add', 'reader', '--stack', '__schedule,schedule,cmdline_proc_show,seq_read_iter,vfs_read'])).trim()
  await ok(t, inst, ['fault', 'add', 'ignore-signals', 'reader'])
  t.is(await ok(t, inst, ['fault', 'list']), `  ID KIND             HITS DESCRIPTION\n   1 ignore-signals      0 reader (pid ${pid}) ignores fake signals\n`)
  await shOk(t, inst, 'insmod ko/test_klp_livepatch.ko')
  await ok(t, inst, ['clock', 'advance', '20s'])
  t.is(await shOk(t, inst, `cat ${KLP}/test_klp_livepatch/transition mnt/proc/${pid}/patch_state`), '1\n0\n')
  await ok(t, inst, ['fault', 'clear', '1'])
  await ok(t, inst, ['clock', 'advance', '15s'])
  t.is(await shOk(t, inst, `cat ${KLP}/test_klp_livepatch/transition`), '0\n')
})

fuseTest('an attribute read that fails with a chosen errno (named by its path in the mount), and a module init that fails', async t => {
  const inst = await virtualInstance(t)
  await shOk(t, inst, 'insmod ko/test_klp_livepatch.ko')
  await ok(t, inst, ['fault', 'add', 'attr-read', `${KLP}/test_klp_livepatch/transition`, 'EIO'])
  await ok(t, inst, ['fault', 'add', 'module-init', 'test_klp_callbacks_mod', 'ENOMEM'])
  t.is(await ok(t, inst, ['fault', 'list']), [
    '  ID KIND             HITS DESCRIPTION',
    '   1 attr-read           0 reads of /sys/kernel/livepatch/test_klp_livepatch/transition fail with EIO',
    '   2 module-init         0 init of test_klp_callbacks_mod fails with -ENOMEM',
    '',
  ].join('\n'))
  const r = await inst.sh(`cat ${KLP}/test_klp_livepatch/transition`)
  t.is(r.code, 1)
  t.is(r.stderr, `cat: ${KLP}/test_klp_livepatch/transition: Input/output error\n`)
  t.is(await shOk(t, inst, `cat ${KLP}/test_klp_livepatch/enabled`), '1\n', 'other attributes read as usual')
  const m = await inst.sh('insmod ko/test_klp_callbacks_mod.ko')
  t.is(m.stderr, 'insmod: ERROR: could not insert module ko/test_klp_callbacks_mod.ko: Cannot allocate memory\n')
  t.is((await inst.sh('test -e mnt/sys/module/test_klp_callbacks_mod')).code, 1)
  t.is(JSON.parse(await ok(t, inst, ['fault', 'list', '--json']))[1].hits, 1)
  await ok(t, inst, ['fault', 'clear'])
  await shOk(t, inst, `cat ${KLP}/test_klp_livepatch/transition && insmod ko/test_klp_callbacks_mod.ko`)
})

fuseTest('bad fault arguments: one clear line each; --help lists the kinds', async t => {
  const inst = await virtualInstance(t)
  const cases: Array<[string[], number, string]> = [
    [['fault', 'add', 'explode'], 1, "klpsim fault add: unknown fault kind 'explode' (known: ftrace-register, kallsyms-size, nop-alloc, refcount-delay, ignore-signals, attr-read, module-init)\n"],
    [['fault', 'add', 'ftrace-register'], 1, 'klpsim fault add: ftrace-register takes FUNC [EBUSY|ENODEV]: registering the ftrace handler on FUNC fails (default EBUSY)\n'],
    [['fault', 'add', 'ftrace-register', 'no_such_fn'], 1, "klpsim fault add: no function 'no_such_fn' in the simulated kernel\n"],
    [['fault', 'add', 'ftrace-register', 'cmdline_proc_show', 'EPERM'], 1, 'klpsim fault add: ftrace registration fails with EBUSY or ENODEV\n'],
    [['fault', 'add', 'refcount-delay', 'soon'], 1, "klpsim fault add: invalid delay 'soon' (milliseconds, at most one hour)\n"],
    [['fault', 'add', 'ignore-signals', 'nobody'], 1, "klpsim fault add: no task 'nobody'\n"],
    [['fault', 'add', 'attr-read', '/sys/kernel/nope', 'EIO'], 1, 'klpsim fault add: no attribute at /sys/kernel/nope\n'],
    [['fault', 'add', 'module-init', 'm', 'EWHAT'], 1, "klpsim fault add: invalid errno 'EWHAT' (use a name such as EBUSY or a number)\n"],
    [['fault', 'clear', '7'], 1, 'klpsim fault clear: no fault with id 7 (none is active)\n'],
    [['fault', 'clear', 'all'], 2, "klpsim fault clear: invalid fault id 'all' (a number from klpsim fault list)\n"],
  ]
  for (const [args, code, err] of cases) {
    const r = await inst.klpsim(args)
    t.is(r.code, code, args.join(' '))
    t.is(r.stderr, err, args.join(' '))
    t.is(r.stdout, '')
  }
  t.is(await ok(t, inst, ['fault', 'list']), 'no fault is active\n')
  const help = await ok(t, inst, ['fault', 'add', '--help'])
  t.regex(help, /Kinds and their arguments:\n {2}ftrace-register {2}FUNC \[EBUSY\|ENODEV\]/)
  for (const kind of ['kallsyms-size', 'nop-alloc', 'refcount-delay', 'ignore-signals', 'attr-read', 'module-init']) t.regex(help, new RegExp(`\\n  ${kind} `))
})
