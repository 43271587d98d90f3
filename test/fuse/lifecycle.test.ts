// Mounting, unmounting, dead mounts and nodes that go away.
import { mountTree } from '../../lib/fuse'
import { addVolatileDir, buildTree } from './helpers/tree'
import {
  bash, exitOf, fuseTest, mountTemp, mountsOf, quote, sh, sleep, spawnSh, startDaemon, tempDir,
} from './helpers/fuse'

fuseTest('a removed directory is gone for the very next lookup', async (t) => {
  const tree = buildTree()
  const gone = addVolatileDir(tree.root, 'gone')
  const { dir } = await mountTemp(t, tree.root)
  const path = quote(`${dir}/gone/state`)
  // warm every cache there could be
  const before = await sh(`cat ${path} && test -e ${path} && ls ${quote(dir)}/gone`)
  t.is(before.stdout, 'here\nstate\n')
  gone.detach()
  const after = await sh(`test -e ${path}; echo $?; test -e ${quote(dir)}/gone; echo $?; ls ${quote(dir)}`)
  t.is(after.stdout, '1\n1\nattrs\ndev\nkernel\n')
})

fuseTest('a shell polling a directory sees it vanish', async (t) => {
  const tree = buildTree()
  const gone = addVolatileDir(tree.root, 'gone')
  const { dir } = await mountTemp(t, tree.root)
  const poller = spawnSh(t, `n=0; while test -e ${quote(dir)}/gone; do n=$((n+1)); [ $n = 1 ] && echo polling; done; cat ${quote(dir)}/gone/state; echo done`)
  await poller.waitFor(/polling/)
  await sleep(100)
  gone.detach()
  const r = await poller.done
  t.is(r.stdout, 'polling\ndone\n')
  t.regex(r.stderr, /gone\/state: No such file or directory/)
})

fuseTest('an fd kept open on a removed attribute gets ENODEV', async (t) => {
  const tree = buildTree()
  const gone = addVolatileDir(tree.root, 'gone')
  const { dir } = await mountTemp(t, tree.root)
  const f = quote(`${dir}/gone/state`)
  // (bash's read, not cat: cat fstat()s first, and FUSE can only answer a
  // stat of a removed node by path, so that fails with ENOENT)
  const writer = spawnSh(t, `exec 3>${f} 4<${f} || exit 9; echo opened; read x; echo 1 >&3; echo "w=$?"; read y <&4; echo "r=$?"`, 'bash')
  await writer.waitFor(/opened/)
  gone.detach()
  // the shell waits on its stdin: ending the pipe lets it go on
  writer.child.stdin?.end()
  const r = await writer.done
  t.is(r.stdout, 'opened\nw=1\nr=1\n')
  t.regex(r.stderr, /echo: write error: No such device/)
  t.regex(r.stderr, /read: read error: 0: No such device/)
})

fuseTest('a daemon killed with SIGKILL leaves a dead mount that the next mount clears', async (t) => {
  const dir = await tempDir(t)
  const daemon = await startDaemon(t, dir)
  t.is((await sh(`cat ${quote(dir)}/kernel/livepatch/p/enabled`)).stdout, '0\n')
  daemon.kill('SIGKILL')
  await exitOf(daemon)
  const dead = await sh(`stat ${quote(dir)}`)
  t.not(dead.code, 0)
  t.regex(dead.stderr, /Transport endpoint is not connected/)

  const tree = buildTree()
  tree.values.enabled = '1'
  const mount = await mountTree(tree.root, dir)
  t.teardown(() => mount.unmount())
  t.is((await sh(`cat ${quote(dir)}/kernel/livepatch/p/enabled`)).stdout, '1\n')
  t.is((await mountsOf(dir)).length, 1)
})

fuseTest('unmount leaves nothing in /proc/mounts and the daemon exits by itself', async (t) => {
  const dir = await tempDir(t)
  const daemon = await startDaemon(t, dir)
  const lines = await mountsOf(dir)
  t.is(lines.length, 1)
  t.regex(lines[0], /^klpsim \S+ fuse\.klpsim /)
  daemon.kill('SIGTERM')
  const timeout = sleep(10000).then(() => 'still running')
  const exit = await Promise.race([exitOf(daemon), timeout])
  t.deepEqual(exit, { code: 0, signal: null })
  t.deepEqual(await mountsOf(dir), [])
  const r = await sh(`ls -A ${quote(dir)}`)
  t.is(r.stdout, '')
})

fuseTest('two trees mounted at once in one process', async (t) => {
  const a = buildTree()
  const b = buildTree()
  a.values.enabled = 'a'
  b.values.enabled = 'b'
  const ma = await mountTemp(t, a.root)
  const mb = await mountTemp(t, b.root)
  const r = await sh(`cat ${quote(ma.dir)}/kernel/livepatch/p/enabled ${quote(mb.dir)}/kernel/livepatch/p/enabled`)
  t.is(r.stdout, 'a\nb\n')
  await ma.mount.unmount()
  t.deepEqual(await mountsOf(ma.dir), [])
  t.is((await sh(`cat ${quote(mb.dir)}/kernel/livepatch/p/enabled`)).stdout, 'b\n')
  await mb.mount.unmount()
  await mb.mount.unmount() // idempotent
  t.false(mb.mount.mounted)
  t.deepEqual(await mountsOf(mb.dir), [])
})

fuseTest('a mount point in use or missing is refused with a clear error', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  await t.throwsAsync(mountTree(buildTree().root, dir), { message: /Mountpoint in use: .* is already a mount point/ })
  await t.throwsAsync(mountTree(tree.root, `${dir}-missing`), { message: /no such directory/ })
  t.is((await mountsOf(dir)).length, 1)
})

fuseTest('a failed mount is reported and leaves nothing behind', async (t) => {
  const dir = await tempDir(t)
  // libfuse rejects the option after mount(2) succeeded (and says so on stderr)
  await t.throwsAsync(mountTree(buildTree().root, dir, { extraOptions: ['no_such_fuse_option'] }), { message: /cannot mount FUSE file system on .*: fuse failed/ })
  t.deepEqual(await mountsOf(dir), [])
  await t.throwsAsync(mountTree(buildTree().root, dir, { fsName: 'a,b' }), { message: /invalid FUSE fsName/ })
})

fuseTest('mount options: no caching, owner-only access unless allowOther', async (t) => {
  const tree = buildTree()
  const { mount, dir } = await mountTemp(t, tree.root)
  for (const o of ['direct_io', 'entry_timeout=0', 'negative_timeout=0', 'attr_timeout=0']) {
    t.true(mount.options.split(',').includes(o), o)
  }
  t.false(mount.options.includes('default_permissions'))
  const [line] = await mountsOf(dir)
  t.regex(line, /\bnosuid\b/)
  t.regex(line, /\bnodev\b/)
  t.notRegex(line, /allow_other/)
  const nobody = `setpriv --reuid=65534 --regid=65534 --clear-groups cat ${quote(dir)}/kernel/livepatch/p/enabled`
  const denied = await sh(nobody)
  t.not(denied.code, 0)
  t.regex(denied.stderr, /Permission denied/)

  const other = buildTree()
  const open = await mountTemp(t, other.root, { allowOther: true })
  t.regex((await mountsOf(open.dir))[0], /allow_other/)
  t.regex((await mountsOf(open.dir))[0], /default_permissions/)
  // the temp dir itself is 0700, but the mounted root (0755) covers it
  const allowed = await sh(nobody.replace(quote(dir), quote(open.dir)))
  t.is(allowed.code, 0, allowed.stderr)
  t.is(allowed.stdout, '0\n')
})

fuseTest('bash reports store errors of a write through an inherited fd', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  const r = await bash(`exec 3>${quote(dir)}/kernel/livepatch/p/enabled; echo 1 >&3; echo 5 >&3; echo 0 >&3; exec 3>&-`)
  t.is(r.code, 0)
  t.regex(r.stderr, /write error: Invalid argument/)
  t.deepEqual(tree.stores, ['enabled:1\n', 'enabled:5\n', 'enabled:0\n'])
  t.is(tree.values.enabled, '0')
})
