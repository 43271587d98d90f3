// printk records, /dev/kmsg writes and reads, dynamic debug's control file.
import test from 'ava'
import { bootSim } from '../helpers/engine'
import { formatDmesgLine, formatKmsgRecord } from '../../lib/kernel/printk'
import { O_NONBLOCK, O_RDONLY, O_WRONLY, openNode } from '../../lib/kobject/kernfs'
import { walk } from '../../lib/kobject/node'
import { EAGAIN, E2BIG, EINVAL } from '../../lib/kobject/errno'

test('/dev/kmsg: one record per write with an optional <N> level, one record per read, EAGAIN at the end', async t => {
  const s = bootSim()
  const k = s.sim.kernel
  await s.advance(1234.567)
  const node = walk(k.root, '/dev/kmsg')!
  const w = openNode(node, O_WRONLY)
  if (typeof w === 'number') return t.fail()
  const first = k.printk.endSeq
  t.is(await w.write(Buffer.from('hello\n'), 0), 6)
  t.is(await w.write(Buffer.from('<3>oops\\x\n'), 0), 10)
  t.is(await w.write(Buffer.from('x'.repeat(1025)), 0), -EINVAL)
  const recs = k.printk.all().slice(-2)
  t.deepEqual(recs.map(r => [r.text, r.facility, r.level]), [['hello', 1, 4], ['oops\\x', 1, 3]])
  t.is(formatKmsgRecord(recs[1]), `11,${first + 1},1234567,-;oops\\x5cx\n`)
  t.is(formatDmesgLine(recs[0]), '[    1.234567] hello')
  const r = openNode(node, O_RDONLY | O_NONBLOCK)
  if (typeof r === 'number') return t.fail()
  let n = 0
  for (;;) {
    const rec = await r.read(8192, 0)
    if (typeof rec === 'number') { t.is(rec, -EAGAIN); break }
    n++
  }
  t.is(n, k.printk.endSeq - k.printk.firstSeq)
})

test('dynamic debug: queries, line ranges, flags and the read-back format', async t => {
  const s = bootSim()
  const d = s.sim.kernel.dyndbg
  const ctl = '/sys/kernel/debug/dynamic_debug/control'
  const lines = () => s.sim.fs.readFileSync(ctl).split('\n').filter(l => l.startsWith('kernel/livepatch'))
  t.true(lines().filter(l => !l.includes(']klp_try_switch_task ')).every(l => l.includes(' =p ')), 'bootSim enabled kernel/livepatch/*')
  t.true(lines().filter(l => l.includes(']klp_try_switch_task ')).every(l => l.includes(' =_ ')))
  t.regex(lines()[0], /^kernel\/livepatch\/transition\.c:\d+ \[livepatch\]klp_complete_transition =p "'%s': completing %s transition\\012"$/)
  await s.sim.fs.writeFile(ctl, '=_')
  const write = (q: string) => d.write(q)
  t.is(write('=_'), 2, 'no match spec: every site')
  t.is(write('file transition.c line 1-200 +pf'), 'file transition.c line 1-200 +pf'.length)
  t.true(lines().filter(l => l.includes('transition.c:78 ')).every(l => l.includes(' =pf ')))
  t.true(lines().filter(l => l.includes('transition.c:530 ')).every(l => l.includes(' =_ ')))
  t.is(write('func klp_complete_transition -f'), 'func klp_complete_transition -f'.length)
  t.is(write('bogus words +p'), -EINVAL)
  t.is(write('func x +z'), -EINVAL)
  t.is(write('x'.repeat(5000)), -E2BIG)
  // the selftests' push_config/pop_config round trip
  const saved = lines().map(l => { const f = l.split(/[: ]/); return `file ${f[0]} line ${f[1]} ${f[3]}` }).join('\n')
  write('file kernel/livepatch/* +p')
  await s.sim.fs.writeFile(ctl, saved)
  t.deepEqual(lines().map(l => l.split(' ')[2]), saved.split('\n').map(l => l.split(' ')[4]))
})
