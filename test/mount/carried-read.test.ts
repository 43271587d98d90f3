// CarriedRead (lib/fuse): a read request answered early (EINTR, ENODEV) must
// not lose what the file's read returns later, and no read is issued twice.
import test from 'ava'
import { CarriedRead, ReadOutcome } from '../../lib/fuse/carried-read'

function source (): { start: () => Promise<Buffer>, starts: () => number, resolve: (s: string) => void } {
  const waiting: ((b: Buffer) => void)[] = []
  let n = 0
  return {
    start: () => { n++; return new Promise<Buffer>((resolve) => waiting.push(resolve)) },
    starts: () => n,
    resolve: (s) => waiting.shift()!(Buffer.from(s)),
  }
}

const flush = () => new Promise((resolve) => setImmediate(resolve))
const text = (o: ReadOutcome | undefined) => (o && o.ok && Buffer.isBuffer(o.value) ? o.value.toString() : o)

test('an abandoned read\'s result goes to the next request', async (t) => {
  const c = new CarriedRead()
  const src = source()
  const first: ReadOutcome[] = []
  const abandon = c.request(src.start, (o) => first.push(o))
  abandon()
  src.resolve('record 1')
  await flush()
  t.deepEqual(first, [])
  let second: ReadOutcome | undefined
  c.request(src.start, (o) => { second = o })
  t.is(text(second), 'record 1')
  t.is(src.starts(), 1)
})

test('a request while the abandoned read is still under way joins it', async (t) => {
  const c = new CarriedRead()
  const src = source()
  c.request(src.start, () => t.fail('abandoned request answered'))()
  let got: ReadOutcome | undefined
  c.request(src.start, (o) => { got = o })
  t.is(src.starts(), 1)
  src.resolve('record 1')
  await flush()
  t.is(text(got), 'record 1')
})

test('concurrent requests on one file read one after the other, in order', async (t) => {
  const c = new CarriedRead()
  const src = source()
  const got: string[] = []
  c.request(src.start, (o) => got.push(`a:${text(o)}`))
  c.request(src.start, (o) => got.push(`b:${text(o)}`))
  t.is(src.starts(), 1)
  src.resolve('1')
  await flush()
  t.is(src.starts(), 2)
  src.resolve('2')
  await flush()
  t.deepEqual(got, ['a:1', 'b:2'])
})

test('synchronous results and exceptions are delivered at once', (t) => {
  const c = new CarriedRead()
  let got: ReadOutcome | undefined
  c.request(() => Buffer.from('now'), (o) => { got = o })
  t.is(text(got), 'now')
  c.request(() => { throw new Error('boom') }, (o) => { got = o })
  t.false(got!.ok)
  c.request(() => -11, (o) => { got = o })
  t.deepEqual(got, { ok: true, value: -11 })
})
