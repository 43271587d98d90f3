// The control channel of a running daemon (its own process, a real mount):
// malformed requests, other users, the socket's life.
import { execFile, spawn } from 'node:child_process'
import { AS_NOBODY } from '../helpers/nobody'
import { promises as fsp } from 'node:fs'
import { connect } from 'node:net'
import { dirname } from 'node:path'
import { request } from '../../lib/control/client'
import { fuseTest } from '../fuse/helpers/fuse'
import { BIN, startInstance } from './helpers/klpsim'

function raw (path: string, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(path)
    let out = ''
    sock.on('data', (d) => { out += String(d) })
    sock.on('error', reject)
    sock.on('close', () => resolve(out))
    sock.on('connect', () => sock.end(data))
  })
}

fuseTest('malformed control requests get error replies; the daemon stays up and keeps serving the mount', async t => {
  const inst = await startInstance(t)
  for (const bad of ['garbage\n', '{"v":1,"type":"insmod","ko":"%%%"}\n', '{"v":1,"type":"nope"}\n', '{"v":1,', '\u0000\u0001\u0002\n']) {
    const reply = JSON.parse(await raw(inst.socketPath, bad))
    t.false(reply.ok, bad)
    t.true(['EBADREQ', 'EUNKNOWN'].includes(reply.error.code), bad)
  }
  const r = await inst.sh('lsmod && cat mnt/sys/kernel/osrelease')
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, 'Module                  Size  Used by\n7.1.0-klpsim\n')
  t.is(inst.daemon.exitCode, null)
})

fuseTest('the socket is private to the daemon\'s owner; another user gets a clear refusal', async t => {
  const inst = await startInstance(t)
  const st = await fsp.stat(inst.socketPath)
  t.is(st.mode & 0o777, 0o600)
  t.is((await fsp.stat(dirname(inst.socketPath))).mode & 0o777, 0o700)
  if (process.getuid?.() !== 0) {
    t.log('not root: cannot run a client as another user here')
    return
  }
  const r = await new Promise<{ code: number, stderr: string }>((resolve) => {
    execFile('setpriv', [...AS_NOBODY, process.execPath, BIN, 'lsmod'], {
      cwd: '/', env: { ...inst.env, KLPSIM_CONTROL: inst.socketPath },
    }, (err, _stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code) : 0, stderr: String(stderr) }))
  })
  t.is(r.code, 77)
  t.is(r.stderr, `lsmod: cannot reach the klpsim daemon of ${inst.mnt}: permission denied (it belongs to another user)\n`)
  t.true((await request(inst.socketPath, { type: 'ping' })).ok)
})

fuseTest('a second daemon for the same mount point refuses to start; the socket goes with the daemon', async t => {
  const inst = await startInstance(t)
  const second = await inst.klpsim(['mount', inst.mnt])
  t.is(second.code, 1)
  t.regex(second.stderr, new RegExp(`^klpsim: another klpsim daemon \\(pid ${inst.daemon.pid}\\) already serves ${inst.mnt} on ${inst.socketPath}\n$`))
  t.is((await inst.sh('cat mnt/sys/kernel/osrelease')).stdout, '7.1.0-klpsim\n')
  const stopped = await inst.stop()
  t.is(stopped.code, 0)
  await t.throwsAsync(fsp.stat(inst.socketPath), { code: 'ENOENT' })
})

fuseTest('a daemon killed without cleanup leaves a stale socket that the next daemon takes over', async t => {
  const inst = await startInstance(t)
  inst.daemon.kill('SIGKILL')
  await inst.stop()
  t.is((await inst.sh('umount -l mnt')).code, 0)
  t.true((await fsp.lstat(inst.socketPath)).isSocket(), 'left behind')
  let r = await inst.sh('lsmod')
  t.is(r.code, 69, 'nobody listens on it')

  const next = spawn(process.execPath, [BIN, 'mount', inst.mnt], { env: inst.env, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => next.once('exit', (code) => resolve(code)))
  t.teardown(() => { if (next.exitCode === null) next.kill('SIGKILL') })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    next.stdout.on('data', (d) => { out += String(d); if (out.includes('mounted at')) resolve() })
    next.stderr.on('data', (d) => { out += String(d) })
    void exited.then(() => reject(new Error(out)))
  })
  r = await inst.sh('lsmod && cat mnt/sys/kernel/osrelease')
  t.is(r.code, 0, r.stderr)
  next.kill('SIGTERM')
  t.is(await exited, 0)
})
