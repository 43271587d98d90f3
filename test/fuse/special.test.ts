// Special files (KSpecial, e.g. /dev/kmsg): their own read/write protocol,
// and reads that block until there is something to read.
import { buildTree } from './helpers/tree'
import { fuseTest, mountTemp, mountsOf, quote, sh, sleep, spawnSh } from './helpers/fuse'

fuseTest('special files are shown as regular files (a char device on FUSE would not reach us)', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  const r = await sh(`stat -c '%A %F' ${quote(dir)}/dev/kmsg`)
  t.is(r.stdout, '-rw-r--r-- regular empty file\n')
})

fuseTest('writes and record-by-record reads of a special file', async (t) => {
  const tree = buildTree()
  const { dir } = await mountTemp(t, tree.root)
  const kmsg = quote(`${dir}/dev/kmsg`)
  const w = await sh(`echo first > ${kmsg} && echo second > ${kmsg}`)
  t.is(w.code, 0, w.stderr)
  t.deepEqual(tree.kmsg.records, ['first', 'second'])
  const r = await sh(`head -n 2 ${kmsg}`)
  t.is(r.stdout, 'first\nsecond\n')
})

fuseTest('a blocking read waits for a record, longer than the attribute timeout', async (t) => {
  const tree = buildTree()
  const { dir, errors } = await mountTemp(t, tree.root, { asyncTimeoutMs: 200 })
  const reader = spawnSh(t, `echo started; head -n 1 ${quote(`${dir}/dev/kmsg`)}`)
  await reader.waitFor(/started/)
  await sleep(800)
  t.is(reader.stdout(), 'started\n', 'still blocked')
  tree.kmsg.push('late record')
  const r = await reader.done
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, 'started\nlate record\n')
  t.deepEqual(errors, [])
})

fuseTest('unmount answers a blocked reader and the mount goes away', async (t) => {
  const tree = buildTree()
  const { dir, mount } = await mountTemp(t, tree.root)
  const reader = spawnSh(t, `echo started; cat ${quote(`${dir}/dev/kmsg`)}`)
  await reader.waitFor(/started/)
  await sleep(300)
  await mount.unmount()
  const r = await reader.done
  t.not(r.code, 0)
  t.regex(r.stderr, /No such device/)
  // the last user is gone: the detached mount is released
  t.deepEqual(await mountsOf(dir), [])
})
