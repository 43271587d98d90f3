// /dev/kmsg through the mount: one record per write, one record per read,
// a cursor per open file, EAGAIN for non-blocking readers at the end, and
// the real util-linux dmesg printing the simulated log.
import { background, bootMachine, fuseTest, run, sleep } from './helpers/machine'
import { formatDmesgLine, formatKmsgRecord } from '../../lib/kernel/printk'

const KMSG = 'dev/kmsg'

fuseTest('writes: one record each, optional <N> level, trailing newline stripped, nothing for an empty open', async (t) => {
  const m = await bootMachine(t)
  const mark = m.mark()
  const w = await m.sh(`echo 'plain text' > ${KMSG}; echo '<3>an error' > ${KMSG}; printf 'two\\nlines\\n' > ${KMSG}; printf 'no newline' > ${KMSG}; grep nothing-matches /dev/null > ${KMSG}; echo '<14>user info' > ${KMSG}`)
  t.is(w.code, 0, w.stderr)
  const recs = m.sim.kernel.printk.all().filter((r) => r.seq >= mark)
  t.deepEqual(recs.map((r) => [r.facility, r.level, r.text]), [
    [1, 4, 'plain text'], // LOG_USER, default level (priority 12)
    [1, 3, 'an error'], // a bare <3> keeps LOG_USER
    [1, 4, 'two\nlines'],
    [1, 4, 'no newline'],
    [1, 6, 'user info'],
  ])
  // a record longer than the kernel takes
  const long = await m.syscalls([{ op: 'open', path: KMSG, flags: ['O_WRONLY'] }, { op: 'writeFill', head: '', fill: 'x', count: 1025 }, { op: 'write', data: 'ok\n' }, { op: 'close' }])
  t.deepEqual(long, [0, 'EINVAL', 3, 0])
  t.is(m.log(mark).length, 6)
})

fuseTest('reads: one record per read(2) in the kernel\'s format, a cursor per open, EAGAIN at the end', async (t) => {
  const m = await bootMachine(t)
  await m.sh(`printf 'tab\\there back\\\\slash\\n' > ${KMSG}`)
  const expected = m.sim.kernel.printk.all().map(formatKmsgRecord)
  t.true(expected.length > 5)
  t.regex(expected[expected.length - 1], /^12,\d+,\d+,-;tab\\x09here back\\x5cslash\n$/)
  const [, first, second] = await m.syscalls([
    { op: 'open', path: KMSG, flags: ['O_RDONLY', 'O_NONBLOCK'] },
    { op: 'readAll', length: 8192 },
    { op: 'readAll', length: 8192 },
  ]) as [number, { chunks: string[], end: string }, { chunks: string[], end: string }]
  t.deepEqual(first.chunks, expected)
  t.is(first.end, 'EAGAIN')
  t.deepEqual(second, { chunks: [], end: 'EAGAIN' })
  // two opens, two cursors; a new record reaches both
  const out = await m.syscalls([
    { op: 'open', path: KMSG, flags: ['O_RDONLY', 'O_NONBLOCK'] },
    { op: 'read', length: 8192 },
    { op: 'read', length: 8192 },
    { op: 'open', path: KMSG, flags: ['O_RDONLY', 'O_NONBLOCK'] },
    { op: 'read', length: 8192 },
  ])
  t.deepEqual(out, [0, { data: expected[0] }, { data: expected[1] }, 0, { data: expected[0] }])
  // a buffer too small for the next record
  t.deepEqual(await m.syscalls([{ op: 'open', path: KMSG, flags: ['O_RDONLY', 'O_NONBLOCK'] }, { op: 'read', length: 8 }]), [0, 'EINVAL'])
})

fuseTest('a blocking reader waits for the next record; a signal ends a wait and loses no record', async (t) => {
  const m = await bootMachine(t)
  const count = m.sim.kernel.printk.all().length
  // dd makes one read(2) per record: the last one waits
  const reader = background(t, 'dd', [`if=${KMSG}`, 'bs=8192', `count=${count + 1}`, 'status=none'], { cwd: m.dir })
  await m.until('the reader to catch up', () => reader.stdout().split('\n').length > count)
  await sleep(200)
  t.is(reader.child.exitCode, null, 'still waiting')

  // with nothing logged, `timeout` ends another blocked reader (SIGTERM, SIGINT, SIGKILL).
  // The interrupt does not say which reader it is for, so dd's wait ends too
  // (EINTR, which dd retries): the record that comes next must still reach it.
  for (const signal of ['TERM', 'INT', 'KILL']) {
    const start = Date.now()
    const cut = await run('timeout', ['-s', signal, '0.5', 'cat', KMSG], { cwd: m.dir, timeoutMs: 10_000 })
    t.is(cut.code, signal === 'KILL' ? 137 : 124, signal)
    t.true(Date.now() - start < 5000, `SIG${signal} ended the read in ${Date.now() - start} ms`)
  }
  t.is(reader.child.exitCode, null, 'dd still waiting')
  await m.sh(`echo 'wake up' > ${KMSG}`)
  const r = await reader.done
  t.is(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  t.is(lines.length, count + 1)
  t.regex(lines[count], /^12,\d+,\d+,-;wake up$/)
  // the mount is still fine
  t.is((await m.sh('cat proc/sys/kernel/tainted')).stdout, '0\n')
}, { serial: true })

fuseTest('util-linux dmesg prints the simulated log through a bind mount over /dev/kmsg', async (t) => {
  const m = await bootMachine(t)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  await m.sh(`echo '% echo from the test' > ${KMSG}`)
  const r = await m.sh(`unshare -m sh -c 'mount --bind ${KMSG} /dev/kmsg && dmesg'`)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, m.sim.kernel.printk.all().map((rec) => formatDmesgLine(rec) + '\n').join(''))
  t.regex(r.stdout, /\] livepatch: 'test_klp_livepatch': patching complete\n\[ *\d+\.\d{6}\] % echo from the test\n$/)
  // the host's log is untouched by all this
  const host = await run('sh', ['-c', 'dmesg 2>/dev/null | grep -c "% echo from the test"'])
  t.is(host.stdout, '0\n')
}, { needsUnshare: true })

fuseTest('dmesg --follow shows new records as they come and stops on Ctrl-C', async (t) => {
  const m = await bootMachine(t)
  const follow = background(t, 'unshare', ['-m', 'sh', '-c', `mount --bind ${KMSG} /dev/kmsg && exec dmesg --follow`], { cwd: m.dir })
  await follow.waitFor(/Command line: /)
  await m.sh(`echo 'first new record' > ${KMSG}`)
  await follow.waitFor(/\] first new record\n/)
  t.is(await m.insmod('test_klp_livepatch'), 0)
  await follow.waitFor(/\] livepatch: 'test_klp_livepatch': patching complete\n/)
  const start = Date.now()
  follow.child.kill('SIGINT')
  const r = await follow.done
  t.true(Date.now() - start < 5000, `ended ${Date.now() - start} ms after SIGINT`)
  t.not(r.stdout, '')
}, { serial: true, needsUnshare: true })
