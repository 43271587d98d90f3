// The request handlers, called in process through the router on a virtual clock.
import test from 'ava'
import { buildKo } from '../../lib/elf/ko'
import type { ControlContext } from '../../lib/control/context'
import { Router } from '../../lib/control/router'
import type { ControlReply } from '../../lib/control/protocol'
import { DEFAULT_RELEASE, Kernel } from '../../lib/kernel/kernel'
import { EBUSY, ENOENT, ENOEXEC, EWOULDBLOCK } from '../../lib/kobject/errno'
import { builtinKo, encodePayload, vermagicFor } from '../../lib/module-file'
import { modinfoFor } from '../../lib/module-image'
import { findBuiltin } from '../../lib/modules'
import { bootSim, withClock } from '../helpers/engine'

function setup () {
  const t = bootSim()
  const router = new Router()
  const abort = new AbortController()
  const ctx: ControlContext = { sim: t.sim, mountpoint: '/tmp/x/mnt', startedAt: 0, signal: abort.signal }
  const send = <T extends object = Record<string, unknown>>(req: Record<string, unknown>): Promise<ControlReply<T>> =>
    withClock(t.clock, router.dispatch({ v: 1, type: String(req.type), ...req }, ctx, (type, e) => { throw new Error(`${type}: ${String(e)}`) }) as Promise<ControlReply<T>>)
  /** Without driving the virtual clock: for requests that wait in real time. */
  const sendReal = (req: Record<string, unknown>): Promise<ControlReply<any>> =>
    router.dispatch({ v: 1, type: String(req.type), ...req }, ctx, (type, e) => { throw new Error(`${type}: ${String(e)}`) })
  return { ...t, router, ctx, abort, send, sendReal }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function ok (r: ControlReply<any>): any {
  if (!r.ok) throw new Error(`error reply: ${r.error.code} ${r.error.message}`)
  const { ok: _, ...body } = r
  return body
}

const sample = (): string => builtinKo(findBuiltin('livepatch-sample.ko')!).toString('base64')

/** A bundle .ko whose payload code is given directly. */
function bundleKo (name: string, files: Record<string, string>, opts: { entry?: string, koName?: string } = {}): string {
  return buildKo({
    name: opts.koName ?? name,
    modinfo: modinfoFor({ name }, vermagicFor()),
    payload: encodePayload({ format: 1, entry: opts.entry ?? 'index.js', files }),
  }).toString('base64')
}

test('vermagicFor is the simulated kernel\'s vermagic', t => {
  t.is(vermagicFor(), new Kernel({ bootTasks: false }).vermagic)
  t.is(vermagicFor(DEFAULT_RELEASE), `${DEFAULT_RELEASE} SMP preempt mod_unload modversions `)
})

test('insmod, module state, lsmod and rmmod follow the kernel', async t => {
  const s = setup()
  t.deepEqual(ok(await s.send({ type: 'module', name: 'livepatch_sample' })), { present: false, initstate: null, holders: null, refcnt: null })
  t.deepEqual(ok(await s.send({ type: 'insmod', ko: sample(), args: [] })), { ret: 0, name: 'livepatch_sample' })
  t.deepEqual(ok(await s.send({ type: 'module', name: 'livepatch_sample' })), { present: true, initstate: 'live', holders: [], refcnt: 1 })
  t.deepEqual(ok(await s.send({ type: 'lsmod' })).modules, [{ name: 'livepatch_sample', size: 16384, refcnt: 1, holders: [] }])
  t.is(ok(await s.send({ type: 'insmod', ko: sample() })).ret, -17)
  t.is(ok(await s.send({ type: 'rmmod', name: 'livepatch_sample' })).ret, -EWOULDBLOCK)
  t.is(ok(await s.send({ type: 'rmmod', name: 'nope' })).ret, -ENOENT)
  await s.write('/sys/kernel/livepatch/livepatch_sample/enabled', '0')
  await s.advance(3000)
  t.is(ok(await s.send({ type: 'rmmod', name: 'livepatch_sample' })).ret, 0)
  t.false(s.exists('/sys/module/livepatch_sample'))
  // built-in "modules" have a sysfs directory but no initstate, holders or refcnt
  t.deepEqual(ok(await s.send({ type: 'module', name: 'printk' })), { present: true, initstate: null, holders: null, refcnt: null })
  for (const name of ['../kernel', '', '.', 'a/b']) t.false(ok(await s.send({ type: 'module', name })).present, name)
})

test('insmod arguments are split as the kernel splits them', async t => {
  const s = setup()
  const code = "module.exports = { name: 'args', params: { a: { type: 'int' }, s: { type: 'charp' }, b: { type: 'bool' } }, init: (ctx) => { const p = ctx.module.params; ctx.module.pr_info('a=%d s=%s b=%d', p.a, p.s, p.b ? 1 : 0) }, exit: () => {} }"
  const ko = bundleKo('args', { 'index.js': code })
  const cases: Array<[string[], string]> = [
    [['a=1 s=x'], 'a=1 s=x b=0'],
    [['a=2', 's="two words"', 'b'], 'a=2 s=two words b=1'],
    [['s="quoted \'inner\'" a=3'], "a=3 s=quoted 'inner' b=0"],
    [['"s=whole item quoted"'], 'a=0 s=whole item quoted b=0'],
    [['  a=4\t\tb=y  '], 'a=4 s=(null) b=1'],
  ]
  for (const [args, line] of cases) {
    t.is(ok(await s.send({ type: 'insmod', ko, args })).ret, 0, args.join(' '))
    t.is(s.log().pop(), `args: ${line}`)
    t.is(ok(await s.send({ type: 'rmmod', name: 'args' })).ret, 0)
  }
})

test('a module file the kernel refuses: -ENOEXEC, its message in the log, nothing else changes', async t => {
  const s = setup()
  const before = [s.sim.fs.readdirSync('/sys/module').join(' '), s.sim.kernel.taintMask]
  const good = builtinKo(findBuiltin('test_klp_livepatch')!)
  const cases: Array<[Buffer, string]> = [
    [Buffer.from('hello'), 'Invalid ELF header len 5'],
    [Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(100)]), 'Invalid ELF class 0'],
    [good.subarray(0, 200), 'Invalid ELF section header overflow'],
    [Buffer.from(bundleKo('m', { 'index.js': 'this is not javascript' }), 'base64'), 'klpsim: m: module code failed to load: '],
    [Buffer.from(bundleKo('m', { 'index.js': "require('fs')" }), 'base64'), "klpsim: m: module code failed to load: Cannot find module 'fs': a klpsim module may require only 'klpsim' and its own files"],
    [Buffer.from(bundleKo('m', { 'index.js': "require('./other')" }), 'base64'), "klpsim: m: module code failed to load: Cannot find module './other' from index.js in the bundle"],
    [Buffer.from(bundleKo('m', { 'index.js': 'module.exports = 42' }), 'base64'), 'klpsim: m: module code failed to load: m: the module exports no definition'],
    [Buffer.from(bundleKo('m', { 'index.js': "module.exports = { name: 'other' }" }), 'base64'), "klpsim: m: the module's code is for 'other', not 'm'"],
    [Buffer.from(bundleKo('m', { 'a.js': '' }, { entry: 'index.js' }), 'base64'), 'klpsim: m: bundle entry index.js is not in the bundle'],
    [buildKo({ name: 'm', modinfo: [['vermagic', vermagicFor()]], payload: Buffer.from('{"format":7}') }), 'klpsim: m: unsupported module payload format 7 (this klpsim reads format 1)'],
  ]
  for (const [bytes, message] of cases) {
    const mark = s.mark()
    const r = ok(await s.send({ type: 'insmod', ko: bytes.toString('base64') }))
    t.is(r.ret, -ENOEXEC, message)
    const logged = s.log(mark)
    t.is(logged.length, 1, message)
    t.true(logged[0].startsWith(message), `${logged[0]} starts with ${message}`)
  }
  t.deepEqual([s.sim.fs.readdirSync('/sys/module').join(' '), s.sim.kernel.taintMask], before)
  t.deepEqual(s.sim.kernel.internalErrors, [])
})

test('every load evaluates the bundle afresh: module-level state starts over', async t => {
  const s = setup()
  const code = [
    "const { defineModule } = require('klpsim')",
    "const counter = require('./counter')",
    'counter.loads++',
    "module.exports = defineModule({ name: 'fresh', init: (ctx) => { ctx.module.pr_info('loads=%d', counter.loads) }, exit: () => {} })",
  ].join('\n')
  const ko = bundleKo('fresh', { 'index.js': code, 'counter.js': 'exports.loads = 0' })
  for (let i = 0; i < 3; i++) {
    t.is(ok(await s.send({ type: 'insmod', ko })).ret, 0)
    t.is(ok(await s.send({ type: 'rmmod', name: 'fresh' })).ret, 0)
  }
  t.deepEqual(s.log().filter(l => l.startsWith('fresh: loads=')), ['fresh: loads=1', 'fresh: loads=1', 'fresh: loads=1'])
})

test('module code that throws at run time is contained', async t => {
  const s = setup()
  const ko = bundleKo('bad', { 'index.js': "module.exports = { name: 'bad', init: () => { require('child_process') } }" })
  t.is(ok(await s.send({ type: 'insmod', ko })).ret, -14)
  t.false(s.exists('/sys/module/bad'))
  t.true(s.log().some(l => l.startsWith("Oops: exception in simulated code: Cannot find module 'child_process'")))
})

test('dmesg: records from a sequence number, waiting for the next, clearing', async t => {
  const s = setup()
  const all = ok(await s.send<{ records: Array<{ seq: number, text: string, level: number, facility: number, ts: number }>, next: number }>({ type: 'dmesg' }))
  t.is(all.records[0].text.startsWith('Linux version'), true)
  t.is(all.next, s.sim.kernel.printk.endSeq)
  const none = ok(await s.send<{ records: unknown[], next: number }>({ type: 'dmesg', after: all.next }))
  t.deepEqual(none, { records: [], next: all.next })
  t.is(ok(await s.send<{ next: number }>({ type: 'dmesg', after: Number.MAX_SAFE_INTEGER })).next, all.next, 'beyond the end: the end')

  const waiting = s.sendReal({ type: 'dmesg', after: all.next, waitMs: 5000 })
  setTimeout(() => s.sim.kernel.printk.devkmsgWrite('late record'), 50)
  const late = ok(await waiting)
  t.deepEqual(late.records.map((r: { text: string, facility: number }) => [r.text, r.facility]), [['late record', 1]])

  const aborted = s.sendReal({ type: 'dmesg', after: late.next, waitMs: 60_000 })
  setTimeout(() => s.abort.abort(), 50)
  t.deepEqual(ok(await aborted).records, [], 'a client that went away ends the wait')

  t.true(ok(await s.send<{ records: unknown[] }>({ type: 'dmesg', clear: true })).records.length > 0)
  t.deepEqual(ok(await s.send<{ records: unknown[] }>({ type: 'dmesg' })).records, [])
  s.sim.kernel.printk.devkmsgWrite('after clear')
  t.deepEqual(ok(await s.send<{ records: unknown[] }>({ type: 'dmesg', read: false, clear: true })).records, [])
  t.deepEqual(ok(await s.send<{ records: unknown[] }>({ type: 'dmesg', after: 0 })).records, [])
})

test('sysctl: stat, read, write, list below /proc/sys, errors as errno', async t => {
  const s = setup()
  t.deepEqual(ok(await s.send({ type: 'sysctl', op: 'stat', path: 'kernel/ftrace_enabled' })), { kind: 'file', mode: 0o644 })
  t.deepEqual(ok(await s.send({ type: 'sysctl', op: 'stat', path: 'kernel' })), { kind: 'dir', mode: 0o555 })
  t.deepEqual(ok(await s.send({ type: 'sysctl', op: 'stat', path: 'kernel/nope' })), { errno: ENOENT })
  t.deepEqual(ok(await s.send({ type: 'sysctl', op: 'read', path: 'kernel/ftrace_enabled' })), { value: '1\n' })
  t.deepEqual(ok(await s.send({ type: 'sysctl', op: 'write', path: 'kernel/ftrace_enabled', value: '0\n' })), { written: true })
  t.is(s.sim.kernel.ftrace.enabled, false)
  t.deepEqual(ok(await s.send({ type: 'sysctl', op: 'write', path: 'kernel/ftrace_enabled', value: '1\n' })), { written: true })
  t.deepEqual(ok(await s.send({ type: 'insmod', ko: sample() })), { ret: 0, name: 'livepatch_sample' })
  t.deepEqual(ok(await s.send({ type: 'sysctl', op: 'write', path: 'kernel/ftrace_enabled', value: '0\n' })), { errno: EBUSY, syscall: 'write' })
  const files: string[] = ok(await s.send<{ files: string[] }>({ type: 'sysctl', op: 'list', path: '' })).files
  t.true(files.includes('kernel/ftrace_enabled') && files.includes('kernel/tainted'))
  t.true(files.every((f: string) => !f.startsWith('/')))
})
