// A small kobject tree for the FUSE tests: sysfs attributes with the usual
// modes and store results, a seq attribute, a symlink and a special file.
import { EBUSY, EINVAL, KDir, KSpecial, KSymlink, SpecialHandle } from '../../../lib/kobject'

export interface TestTree {
  root: KDir
  /** Value behind kernel/livepatch/p/enabled and attrs/rw. */
  values: { enabled: string, rw: string }
  /** Lines written to attrs/trace (a seq attribute; O_TRUNC clears it). */
  trace: string[]
  /** Records of dev/kmsg; pushing wakes blocked readers. */
  kmsg: { push (line: string): void, records: string[] }
  /** Calls seen by store methods, for assertions. */
  stores: string[]
}

function must<T> (v: T | number): T {
  if (typeof v === 'number') throw new Error(`tree setup failed: ${v}`)
  return v
}

export function buildTree (): TestTree {
  const root = new KDir('')
  root.kernfsRoot = true
  const values = { enabled: '0', rw: 'initial' }
  const trace: string[] = []
  const stores: string[] = []

  const p = root.ensureDir('kernel').ensureDir('livepatch').ensureDir('p')
  must(p.addAttr('enabled', 0o644, {
    show: () => `${values.enabled}\n`,
    store: (s) => {
      stores.push(`enabled:${s}`)
      const v = s.trim()
      if (v !== '0' && v !== '1') return -EINVAL
      values.enabled = v
      return s.length
    },
  }))

  const a = root.ensureDir('attrs')
  must(a.addAttr('rw', 0o644, {
    show: () => `${values.rw}\n`,
    store: (s) => { stores.push(`rw:${s}`); values.rw = s.replace(/\n$/, ''); return s.length },
  }))
  must(a.addAttr('ro', 0o444, { show: () => 'read-only\n' }))
  must(a.addAttr('wo', 0o200, { store: (s) => { stores.push(`wo:${s}`); return s.length } }))
  must(a.addAttr('busy', 0o644, { show: () => 'busy\n', store: () => -EBUSY }))
  must(a.addAttr('einval', 0o644, { show: () => 'x\n', store: () => -EINVAL }))
  // consumes at most 2 bytes per write(2), like a store returning a short count
  must(a.addAttr('short', 0o644, { show: () => 'short\n', store: (s) => { stores.push(`short:${s}`); return Math.min(2, s.length) } }))
  must(a.addAttr('digits', 0o444, { show: () => '0123456789\n' }))
  must(a.addAttr('throws', 0o644, {
    show: () => { throw new Error('show bug') },
    store: () => { throw new Error('store bug') },
  }))
  must(a.addAttr('slow', 0o644, {
    show: () => new Promise((resolve) => setTimeout(() => resolve('slow\n'), 50)),
    store: (s) => new Promise((resolve) => setTimeout(() => resolve(s.length), 50)),
  }))
  must(a.addAttr('hang', 0o444, { show: () => new Promise(() => {}) }))
  must(a.addAttr('trace', 0o644, {
    show: () => trace.join(''),
    store: (s) => { trace.push(s); return s.length },
    truncate: () => { trace.length = 0 },
  }, 'seq'))
  must(a.add(new KSymlink('link', '../kernel/livepatch')))

  const records: string[] = []
  const waiters: (() => void)[] = []
  const kmsg = {
    records,
    push (line: string) {
      records.push(line)
      for (const w of waiters.splice(0)) w()
    },
  }
  must(root.ensureDir('dev').add(new KSpecial('kmsg', 0o644, () => {
    let next = 0
    const handle: SpecialHandle = {
      read: (length) => {
        const take = (): Buffer => Buffer.from(records[next++] + '\n').subarray(0, length)
        if (next < records.length) return take()
        return new Promise((resolve) => waiters.push(() => resolve(take())))
      },
      write: (data) => { kmsg.push(data.toString().replace(/\n$/, '')); return data.length },
    }
    return handle
  })))

  return { root, values, trace, kmsg, stores }
}

/** Adds a directory with one attribute; returns it so a test can remove it. */
export function addVolatileDir (root: KDir, name: string): KDir {
  const d = must(root.mkdir(name))
  must(d.addAttr('state', 0o644, { show: () => 'here\n', store: (s) => s.length }))
  return d
}
