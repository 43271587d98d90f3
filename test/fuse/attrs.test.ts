// Attribute semantics through a real FUSE mount, driven by shell commands.
import { KAttr, KDir, walk } from '../../lib/kobject'
import { addVolatileDir, buildTree } from './helpers/tree'
import { bash, fuseTest, mountTemp, quote, sh } from './helpers/fuse'

fuseTest('stat shows the kernfs modes, sizes and types', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  const r = await sh(`cd ${quote(dir)} && stat -c '%n %A %s %F' attrs/rw attrs/ro attrs/wo attrs/trace kernel attrs/link && readlink attrs/link`)
  t.is(r.code, 0, r.stderr)
  t.deepEqual(r.stdout.trim().split('\n'), [
    'attrs/rw -rw-r--r-- 4096 regular file',
    'attrs/ro -r--r--r-- 4096 regular file',
    'attrs/wo --w------- 4096 regular file',
    'attrs/trace -rw-r--r-- 0 regular empty file',
    'kernel drwxr-xr-x 0 directory',
    'attrs/link lrwxrwxrwx 0 symbolic link',
    '../kernel/livepatch',
  ])
  const owner = await sh(`stat -c '%u:%g %h' ${quote(dir)}/kernel ${quote(dir)}/attrs/rw`)
  t.deepEqual(owner.stdout.trim().split('\n'), ['0:0 3', '0:0 1'])
})

fuseTest('inode numbers and directory listings come from the tree', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  const enabled = walk(tree.root, '/kernel/livepatch/p/enabled')!
  const r = await sh(`stat -c %i ${quote(dir)}/kernel/livepatch/p/enabled; ls -a ${quote(dir)}/kernel/livepatch/p; ls ${quote(dir)}`)
  t.is(r.code, 0, r.stderr)
  t.deepEqual(r.stdout.trim().split('\n'), [String(enabled.ino), '.', '..', 'enabled', 'attrs', 'dev', 'kernel'])
  const types = await sh(`find ${quote(dir)}/attrs -mindepth 1 -type l`)
  t.is(types.stdout.trim(), `${dir}/attrs/link`)
})

fuseTest('cat shows, echo stores, and store errors reach the shell', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  const f = `${dir}/kernel/livepatch/p/enabled`
  t.is((await sh(`cat ${quote(f)}`)).stdout, '0\n')

  const ok = await bash(`echo 1 > ${quote(f)}`)
  t.is(ok.code, 0, ok.stderr)
  t.is(tree.values.enabled, '1')
  t.is((await sh(`cat ${quote(f)}`)).stdout, '1\n')

  const bad = await bash(`echo 2 > ${quote(f)}`)
  t.is(bad.code, 1)
  t.regex(bad.stderr, /write error: Invalid argument/)
  t.is(tree.values.enabled, '1')

  const busy = await bash(`echo 1 > ${quote(dir)}/attrs/busy`)
  t.is(busy.code, 1)
  t.regex(busy.stderr, /write error: Device or resource busy/)

  // a store returning a byte count: one write(2), one store call
  const short = await bash(`printf abcd > ${quote(dir)}/attrs/short`)
  t.is(short.code, 0, short.stderr)
  t.deepEqual(tree.stores.filter((s) => s.startsWith('short:')), ['short:abcd'])
})

fuseTest('content changes are seen at once (no caching)', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  for (const v of ['a', 'bb', 'c', 'a-much-longer-value']) {
    tree.values.rw = v
    const r = await sh(`cat ${quote(dir)}/attrs/rw; cat ${quote(dir)}/attrs/rw`)
    t.is(r.stdout, `${v}\n${v}\n`)
  }
})

fuseTest('open fails with EACCES by mode, even for root', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  const uid = (await sh('id -u')).stdout.trim()
  t.log(`running as uid ${uid}`)
  const ro = await bash(`echo x > ${quote(dir)}/attrs/ro`)
  t.is(ro.code, 1)
  t.regex(ro.stderr, /attrs\/ro: Permission denied/)
  const wo = await sh(`cat ${quote(dir)}/attrs/wo`)
  t.is(wo.code, 1)
  t.regex(wo.stderr, /attrs\/wo: Permission denied/)
  const w = await bash(`echo hi > ${quote(dir)}/attrs/wo`)
  t.is(w.code, 0, w.stderr)
  t.true(tree.stores.includes('wo:hi\n'))
  t.is((await sh(`cat ${quote(dir)}/attrs/ro`)).stdout, 'read-only\n')
})

fuseTest('zero-length writes and O_TRUNC are accepted; seq attributes truncate', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  const rw = `${dir}/attrs/rw`
  const empty = await bash(`: > ${quote(rw)} && printf '' > ${quote(rw)} && printf '' >> ${quote(rw)}`)
  t.is(empty.code, 0, empty.stderr)
  t.deepEqual(tree.stores, [], 'no store call without data')
  t.is((await sh(`cat ${quote(rw)}`)).stdout, 'initial\n', 'sysfs ignores truncation')

  const trace = `${dir}/attrs/trace`
  const r = await bash(`echo abc > ${quote(trace)} && echo def >> ${quote(trace)} && cat ${quote(trace)}`)
  t.is(r.stdout, 'abc\ndef\n', r.stderr)
  t.is((await bash(`echo xyz > ${quote(trace)} && cat ${quote(trace)}`)).stdout, 'xyz\n')
  const tr = await sh(`truncate -s 0 ${quote(trace)} && cat ${quote(trace)}`)
  t.is(tr.code, 0, tr.stderr)
  t.is(tr.stdout, '')
})

fuseTest('reads at an offset', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  const r = await sh(`dd if=${quote(dir)}/attrs/digits bs=1 skip=3 count=4 status=none`)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, '3456')
  const r2 = await sh(`dd if=${quote(dir)}/attrs/digits bs=4 skip=2 status=none`)
  t.is(r2.stdout, '89\n')
})

fuseTest('creating, removing and renaming fail like on sysfs; chmod and chown are kept as kernfs keeps them', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  const cases: [string, RegExp][] = [
    ['echo x > new', /new: Permission denied/],
    ['touch new', /cannot touch 'new': Permission denied/],
    ['mkdir newdir', /cannot create directory .newdir.: Operation not permitted/],
    ['rm attrs/rw', /cannot remove 'attrs\/rw': Operation not permitted/],
    ['rmdir kernel/livepatch/p', /failed to remove 'kernel\/livepatch\/p': Operation not permitted/],
    ['mv attrs/rw attrs/rw2', /cannot move 'attrs\/rw' to 'attrs\/rw2': Operation not permitted/],
    ['ln -s x attrs/l2', /failed to create symbolic link 'attrs\/l2': Operation not permitted/],
    ['ln attrs/rw attrs/rw3', /failed to create hard link 'attrs\/rw3'.*: Operation not permitted/],
  ]
  for (const [cmd, re] of cases) {
    const r = await bash(cmd, { cwd: dir })
    t.not(r.code, 0, cmd)
    t.regex(r.stderr, re, cmd)
  }
  const chmod = await sh('chmod 600 attrs/rw && chown 1:2 attrs/rw && stat -c "%a %u %g" attrs/rw', { cwd: dir })
  t.is(chmod.stdout, '600 1 2\n', chmod.stderr)
  const touch = await sh('touch attrs/rw', { cwd: dir })
  t.is(touch.code, 0, touch.stderr)
  const ls = await sh('ls', { cwd: dir })
  t.is(ls.stdout, 'attrs\ndev\nkernel\n')
})

fuseTest('exceptions in show/store become EIO and go to onError; the daemon survives', async (t) => {
  const tree = buildTree()
  const { dir, errors } = await mountTemp(t, tree.root)
  const r = await sh(`cat ${quote(dir)}/attrs/throws`)
  t.is(r.code, 1)
  t.regex(r.stderr, /Input\/output error/)
  const w = await bash(`echo 1 > ${quote(dir)}/attrs/throws`)
  t.is(w.code, 1)
  t.regex(w.stderr, /write error: Input\/output error/)
  t.deepEqual(errors, ['read /attrs/throws: show bug', 'write /attrs/throws: store bug'])
  t.is((await sh(`cat ${quote(dir)}/kernel/livepatch/p/enabled`)).stdout, '0\n')
})

fuseTest('promised show/store results are awaited; a hung one times out', async (t) => {
  const tree = buildTree()
  const { dir, errors } = await mountTemp(t, tree.root, { asyncTimeoutMs: 300 })
  t.is((await sh(`cat ${quote(dir)}/attrs/slow`)).stdout, 'slow\n')
  const w = await bash(`echo 1 > ${quote(dir)}/attrs/slow`)
  t.is(w.code, 0, w.stderr)
  const hang = await sh(`cat ${quote(dir)}/attrs/hang`)
  t.is(hang.code, 1)
  t.regex(hang.stderr, /Connection timed out/)
  t.is(errors.length, 1)
  t.regex(errors[0], /read \/attrs\/hang: .*did not complete within 300 ms/)
})

fuseTest('symlinks resolve through the mount', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  const r = await sh(`cat ${quote(dir)}/attrs/link/p/enabled && cd ${quote(dir)}/attrs/link && pwd -P`)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, `0\n${dir}/kernel/livepatch\n`)
})

fuseTest('a directory that appears is visible at once', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  t.is((await sh(`test -e ${quote(dir)}/late/state`)).code, 1)
  addVolatileDir(tree.root, 'late')
  t.is((await sh(`test -e ${quote(dir)}/late/state`)).code, 0)
  t.true(walk(tree.root, '/late/state') instanceof KAttr)
})

fuseTest('directories with a provider (like /proc/<pid>) list and look up live entries', async (t) => {
  const tree = buildTree()
  const pids = new Set(['1', '42'])
  const proc = tree.root.ensureDir('proc')
  proc.provider = {
    list: () => pids,
    lookup: (name) => {
      if (!pids.has(name)) return undefined
      const d = new KDir(name, 0o555)
      d.addAttr('status', 0o444, { show: () => `pid ${name}\n` }, 'seq')
      return d
    },
  }
  const { dir } = await mountTemp(t, tree.root)
  const r = await sh(`ls ${quote(dir)}/proc; cat ${quote(dir)}/proc/42/status; stat -c %A ${quote(dir)}/proc/1`)
  t.is(r.stdout, '1\n42\npid 42\ndr-xr-xr-x\n', r.stderr)
  pids.delete('42')
  const after = await sh(`test -e ${quote(dir)}/proc/42; echo $?; ls ${quote(dir)}/proc`)
  t.is(after.stdout, '1\n1\n')
})
