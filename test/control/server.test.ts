// The control server on a real Unix socket: replies, malformed requests,
// permissions, stale sockets, a second daemon.
import test, { ExecutionContext } from 'ava'
import { AS_NOBODY } from '../helpers/nobody'
import { execFile, spawn } from 'node:child_process'
import { promises as fsp } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request, NoDaemonError } from '../../lib/control/client'
import { ControlDirError, controlSocketPath, ensurePrivateDir, canonicalMountpoint } from '../../lib/control/paths'
import { ControlServer, ControlServerError } from '../../lib/control/server'
import { VirtualClock } from '../../lib/kernel/clock'
import { Simulator } from '../../lib/simulator'

const REPO = join(__dirname, '..', '..', '..')

async function tmp (t: ExecutionContext): Promise<string> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'klpsim-control-'))
  await fsp.chmod(dir, 0o755)
  t.teardown(() => fsp.rm(dir, { recursive: true, force: true }))
  return dir
}

async function serve (t: ExecutionContext, opts: { requestTimeoutMs?: number, maxRequestBytes?: number } = {}): Promise<{ srv: ControlServer, sim: Simulator, path: string }> {
  const dir = await tmp(t)
  const sim = new Simulator({ clock: new VirtualClock(), bootTasks: false })
  const path = join(dir, 'run', 'control.sock')
  const srv = await ControlServer.start({ sim, mountpoint: join(dir, 'mnt'), socketPath: path, ...opts })
  t.teardown(() => srv.close())
  return { srv, sim, path }
}

/** Sends raw bytes and returns what the server answers before closing. */
function raw (path: string, data: string | Buffer, endAfter = true): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(path)
    let out = ''
    sock.on('data', (d) => { out += String(d) })
    sock.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? resolve(out) : reject(e)))
    sock.on('close', () => resolve(out))
    sock.on('connect', () => {
      sock.write(data)
      if (endAfter) sock.end()
    })
  })
}

test('info and ping answer with the instance', async t => {
  const { path, sim } = await serve(t)
  const info = await request(path, { type: 'info' })
  t.true(info.ok)
  if (!info.ok) return
  t.is(info.pid, process.pid)
  t.is(info.release, '7.1.0-klpsim')
  t.is(info.vermagic, sim.kernel.vermagic)
  t.is(info.mode, 'ftrace')
  t.is(info.protocol, 1)
  t.true(String(info.mountpoint).endsWith('/mnt'))
  t.deepEqual(await request(path, { type: 'ping' }), { ok: true, pid: process.pid })
})

test('malformed requests get an error reply, and the server goes on', async t => {
  const { path, sim } = await serve(t)
  const cases: Array<[string, string, RegExp]> = [
    ['not json\n', 'EBADREQ', /^request is not JSON/],
    ['[1,2]\n', 'EBADREQ', /^request is not a JSON object$/],
    ['"text"\n', 'EBADREQ', /^request is not a JSON object$/],
    ['{"type":"ping"}\n', 'EBADREQ', /^unsupported protocol version undefined/],
    ['{"v":2,"type":"ping"}\n', 'EBADREQ', /^unsupported protocol version 2/],
    ['{"v":1}\n', 'EBADREQ', /^request has no "type"$/],
    ['{"v":1,"type":"reboot"}\n', 'EUNKNOWN', /^unknown request type 'reboot' \(known: clock, dmesg, fault, info, insmod, lsmod, module, ping, rmmod, status, sysctl, task\)$/],
    ['{"v":1,"type":"insmod","ko":42}\n', 'EBADREQ', /^"ko" must be a string$/],
    ['{"v":1,"type":"insmod","ko":"***"}\n', 'EBADREQ', /^"ko" must be the module file in base64$/],
    ['{"v":1,"type":"insmod","ko":"","args":"x=1"}\n', 'EBADREQ', /^"args" must be an array of strings$/],
    ['{"v":1,"type":"rmmod"}\n', 'EBADREQ', /^"name" must be a string$/],
    ['{"v":1,"type":"dmesg","after":-1}\n', 'EBADREQ', /^"after" must be an integer/],
    ['{"v":1,"type":"dmesg","read":false}\n', 'EBADREQ', /^nothing to do/],
    ['{"v":1,"type":"sysctl","op":"read","path":"../../sys/kernel"}\n', 'EBADREQ', /^"path" must stay below \/proc\/sys$/],
    ['{"v":1,"type":"sysctl","op":"chmod","path":"kernel"}\n', 'EBADREQ', /^unknown sysctl op/],
    ['\n', 'EBADREQ', /^request is not JSON/],
    ['{"v":1,"type":"ping"', 'EBADREQ', /^connection closed before a complete request line$/],
  ]
  for (const [data, code, re] of cases) {
    const reply = JSON.parse(await raw(path, data))
    t.is(reply.ok, false, data)
    t.is(reply.error.code, code, data)
    t.regex(reply.error.message, re, data)
  }
  // a client that connects and leaves without a word
  await raw(path, '')
  // bytes after the request line are ignored
  const extra = JSON.parse((await raw(path, '{"v":1,"type":"ping"}\ngarbage\n')).split('\n')[0])
  t.deepEqual(extra, { ok: true, pid: process.pid })
  t.deepEqual(await request(path, { type: 'ping' }), { ok: true, pid: process.pid })
  t.deepEqual(sim.kernel.internalErrors, [])
})

test('a request that never ends, or is too long, is answered and dropped', async t => {
  const { path } = await serve(t, { requestTimeoutMs: 200, maxRequestBytes: 4096 })
  const slow = JSON.parse(await raw(path, '{"v":1,', false))
  t.is(slow.error.code, 'EBADREQ')
  t.is(slow.error.message, 'no complete request line before the timeout')
  const big = JSON.parse(await raw(path, Buffer.alloc(100_000, 0x20)))
  t.is(big.error.code, 'ETOOBIG')
  t.is(big.error.message, 'request longer than 4096 bytes')
  t.true((await request(path, { type: 'ping' })).ok)
})

test('a handler that fails becomes EINTERNAL, is logged, and the server goes on', async t => {
  const { srv, path, sim } = await serve(t)
  srv.router.register({ type: 'explode', describe: 'test', handle: () => { throw new TypeError('oops') } })
  t.throws(() => srv.router.register({ type: 'ping', describe: 'dup', handle: () => ({}) }), { message: /registered twice/ })
  const reply = await request(path, { type: 'explode' })
  t.deepEqual(reply, { ok: false, error: { code: 'EINTERNAL', message: 'explode failed inside klpsim: oops' } })
  t.is(sim.kernel.internalErrors.length, 1)
  t.regex(sim.kernel.printk.all().map(r => r.text).join('\n'), /klpsim: internal error in control request explode: TypeError: oops/)
  t.true((await request(path, { type: 'ping' })).ok)
})

test('the socket is 0600 in a 0700 directory; close removes it', async t => {
  const { srv, path } = await serve(t)
  t.is((await fsp.stat(path)).mode & 0o777, 0o600)
  t.is((await fsp.stat(join(path, '..'))).mode & 0o777, 0o700)
  await srv.close()
  await t.throwsAsync(fsp.stat(path), { code: 'ENOENT' })
  await t.throwsAsync(request(path, { type: 'ping' }), { instanceOf: NoDaemonError })
})

test('a stale socket of a dead daemon is taken over; a live one is refused; a non-socket is refused', async t => {
  const dir = await tmp(t)
  const path = join(dir, 'c.sock')
  // a daemon that died without cleaning up
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`])
    child.once('exit', () => resolve())
    child.once('error', reject)
  })
  t.true((await fsp.lstat(path)).isSocket())
  const sim = new Simulator({ clock: new VirtualClock(), bootTasks: false })
  const srv = await ControlServer.start({ sim, mountpoint: join(dir, 'mnt'), socketPath: path })
  t.teardown(() => srv.close())
  t.true((await request(path, { type: 'ping' })).ok)

  const err = await t.throwsAsync(ControlServer.start({ sim, mountpoint: join(dir, 'mnt'), socketPath: path }), { instanceOf: ControlServerError })
  t.regex(err!.message, new RegExp(`^another klpsim daemon \\(pid ${process.pid}\\) already serves .*/mnt on ${path}$`))
  t.true((await request(path, { type: 'ping' })).ok, 'the first one still serves')

  const file = join(dir, 'file')
  await fsp.writeFile(file, '')
  await t.throwsAsync(ControlServer.start({ sim, mountpoint: join(dir, 'mnt'), socketPath: file }), { instanceOf: ControlServerError, message: `${file} exists and is not a socket` })
})

test('socket paths: named by the canonical mount point; $KLPSIM_CONTROL wins', async t => {
  const dir = await tmp(t)
  await fsp.mkdir(join(dir, 'real'))
  await fsp.symlink(join(dir, 'real'), join(dir, 'link'))
  const a = controlSocketPath(join(dir, 'real', 'mnt'), {})
  t.is(controlSocketPath(join(dir, 'link', 'mnt'), {}), a, 'a symlinked parent names the same instance')
  t.is(controlSocketPath(join(dir, 'real', '.', 'x', '..', 'mnt'), {}), a)
  t.not(controlSocketPath(join(dir, 'real', 'mnt2'), {}), a)
  t.regex(a, /\/[0-9a-f]{20}\.sock$/)
  t.is(canonicalMountpoint(join(dir, 'link', 'mnt')), join(dir, 'real', 'mnt'))
  t.is(controlSocketPath(join(dir, 'real', 'mnt'), { KLPSIM_CONTROL: 'rel/ctl.sock' }), join(process.cwd(), 'rel', 'ctl.sock'))
})

test('the private directory must be ours and closed to others', async t => {
  const dir = await tmp(t)
  const ok = join(dir, 'ok')
  ensurePrivateDir(ok)
  t.is((await fsp.stat(ok)).mode & 0o777, 0o700)
  const open = join(dir, 'open')
  await fsp.mkdir(open, { mode: 0o755 })
  await fsp.chmod(open, 0o755)
  t.throws(() => ensurePrivateDir(open), { instanceOf: ControlDirError, message: /accessible to other users \(mode 755\)/ })
  if (process.getuid?.() === 0) {
    const foreign = join(dir, 'foreign')
    await fsp.mkdir(foreign, { mode: 0o700 })
    await fsp.chown(foreign, 65534, 65534)
    t.throws(() => ensurePrivateDir(foreign), { instanceOf: ControlDirError, message: /belongs to uid 65534/ })
  }
  await fsp.symlink(ok, join(dir, 'sym'))
  t.throws(() => ensurePrivateDir(join(dir, 'sym')), { instanceOf: ControlDirError, message: /is not a directory/ })
})

/** Runs a one-request client as user nobody; its output says what happened. */
function asNobody (socketPath: string): Promise<{ code: number, out: string }> {
  const client = join(REPO, 'dist', 'lib', 'control', 'client.js')
  const script = `require(${JSON.stringify(client)}).request(${JSON.stringify(socketPath)}, { type: 'ping' }).then(r => console.log('REPLY', JSON.stringify(r)), e => console.log('ERROR', e.constructor.name, e.message))`
  return new Promise((resolve) => {
    execFile('setpriv', [...AS_NOBODY, process.execPath, '-e', script], { cwd: '/' }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: String(stdout) + String(stderr) })
    })
  })
}

const canDropPrivileges = process.getuid?.() === 0
const nobodyTest = canDropPrivileges ? test : test.skip
nobodyTest(`another user cannot talk to the daemon${canDropPrivileges ? '' : ' (skipped: needs root to run a client as nobody)'}`, async t => {
  const which = await new Promise<boolean>((resolve) => execFile('setpriv', ['--version'], (err) => resolve(!err)))
  if (!which) {
    t.log('setpriv (util-linux) is not installed: not run')
    t.pass()
    return
  }
  // the socket in its 0700 directory
  const { path } = await serve(t)
  let r = await asNobody(path)
  t.regex(r.out, /^ERROR ControlPermissionError permission denied on .*: the daemon belongs to another user\n$/)
  // the socket alone, in a directory everyone may enter: its mode still keeps others out
  const dir = await tmp(t)
  const open = join(dir, 'open.sock')
  const sim = new Simulator({ clock: new VirtualClock(), bootTasks: false })
  const srv = await ControlServer.start({ sim, mountpoint: join(dir, 'mnt'), socketPath: open })
  t.teardown(() => srv.close())
  await fsp.chmod(dir, 0o755)
  r = await asNobody(open)
  t.regex(r.out, /^ERROR ControlPermissionError /)
  t.true((await request(open, { type: 'ping' })).ok, 'the owner still gets in')
})
