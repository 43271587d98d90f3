// The daemon's end of the control channel: a Unix domain socket, mode 0600 in
// a 0700 directory, serving one request per connection.
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs'
import { createServer, Server, Socket } from 'node:net'
import { dirname } from 'node:path'
import type { Simulator } from '../simulator'
import { request, NoDaemonError } from './client'
import type { ControlContext, RequestHandler } from './context'
import { canonicalMountpoint, CONTROL_ENV, controlSocketPath, ensurePrivateDir } from './paths'
import { BadRequest, ControlReply, errorReply, MAX_REQUEST_BYTES, parseRequest } from './protocol'
import { Router } from './router'

export interface ControlServerOptions {
  sim: Simulator
  mountpoint: string
  /** The socket path; by default derived from the mount point (or $KLPSIM_CONTROL). */
  socketPath?: string
  /** Milliseconds a client may take to send its request line. */
  requestTimeoutMs?: number
  /** The longest request line read (MAX_REQUEST_BYTES by default). */
  maxRequestBytes?: number
  handlers?: readonly RequestHandler[]
}

export class ControlServerError extends Error {}

export class ControlServer {
  readonly socketPath: string
  readonly mountpoint: string
  readonly router: Router
  private readonly server: Server
  private readonly sockets = new Set<Socket>()
  private readonly startedAt = Date.now()
  private listening = false

  private constructor (private readonly opts: ControlServerOptions, socketPath: string) {
    this.socketPath = socketPath
    this.mountpoint = canonicalMountpoint(opts.mountpoint)
    this.router = new Router(opts.handlers)
    this.server = createServer({ allowHalfOpen: true }, (sock) => this.serve(sock))
  }

  /** Creates the directory, takes over a stale socket, listens, and restricts the socket to its owner. */
  static async start (opts: ControlServerOptions): Promise<ControlServer> {
    const explicit = opts.socketPath ?? (process.env[CONTROL_ENV] ? controlSocketPath(opts.mountpoint) : undefined)
    const socketPath = explicit ?? controlSocketPath(opts.mountpoint, {})
    if (explicit) {
      mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 })
    } else {
      ensurePrivateDir(dirname(socketPath))
    }
    const srv = new ControlServer(opts, socketPath)
    await srv.takeOverStale()
    await new Promise<void>((resolve, reject) => {
      srv.server.once('error', reject)
      srv.server.listen(socketPath, () => {
        srv.server.off('error', reject)
        resolve()
      })
    })
    srv.listening = true
    chmodSync(socketPath, 0o600)
    srv.server.on('error', (e) => opts.sim.kernel.reportInternalError('control socket', e))
    return srv
  }

  /** A socket file left by a daemon that died is removed; a live daemon is an error. */
  private async takeOverStale (): Promise<void> {
    let st
    try { st = lstatSync(this.socketPath) } catch { return }
    if (!st.isSocket()) throw new ControlServerError(`${this.socketPath} exists and is not a socket`)
    try {
      const reply = await request(this.socketPath, { type: 'info' }, { timeoutMs: 2000 })
      const pid = reply.ok ? ` (pid ${String(reply.pid)})` : ''
      throw new ControlServerError(`another klpsim daemon${pid} already serves ${this.mountpoint} on ${this.socketPath}`)
    } catch (e) {
      if (e instanceof ControlServerError) throw e
      if (!(e instanceof NoDaemonError)) throw new ControlServerError(`${this.socketPath} is in use by something that is not a klpsim daemon: ${(e as Error).message}`)
    }
    unlinkSync(this.socketPath)
  }

  private serve (sock: Socket): void {
    this.sockets.add(sock)
    const abort = new AbortController()
    const chunks: Buffer[] = []
    let size = 0
    let handled = false
    sock.setTimeout(this.opts.requestTimeoutMs ?? 30_000)
    sock.on('timeout', () => {
      if (!handled) this.finish(sock, errorReply('EBADREQ', 'no complete request line before the timeout'))
    })
    sock.on('error', () => { /* the client went away; nothing to tell it */ })
    sock.on('close', () => {
      this.sockets.delete(sock)
      abort.abort()
    })
    const onEnd = (): void => {
      if (!handled) this.finish(sock, errorReply('EBADREQ', 'connection closed before a complete request line'))
    }
    sock.on('end', onEnd)
    sock.on('data', (data: Buffer) => {
      if (handled) return
      const nl = data.indexOf(0x0a)
      const take = nl < 0 ? data : data.subarray(0, nl)
      size += take.length
      const max = this.opts.maxRequestBytes ?? MAX_REQUEST_BYTES
      if (size > max) {
        handled = true
        this.finish(sock, errorReply('ETOOBIG', `request longer than ${max} bytes`))
        return
      }
      chunks.push(take)
      if (nl < 0) return
      handled = true
      sock.setTimeout(0)
      sock.off('end', onEnd)
      const line = Buffer.concat(chunks).toString('utf8')
      chunks.length = 0
      this.handle(line, abort.signal).then(
        (reply) => this.finish(sock, reply),
        (e) => this.finish(sock, errorReply('EINTERNAL', e instanceof Error ? e.message : String(e))),
      )
    })
  }

  private async handle (line: string, signal: AbortSignal): Promise<ControlReply> {
    let req
    try {
      req = parseRequest(line)
    } catch (e) {
      if (e instanceof BadRequest) return errorReply('EBADREQ', e.message)
      throw e
    }
    const ctx: ControlContext = { sim: this.opts.sim, mountpoint: this.mountpoint, startedAt: this.startedAt, signal }
    return this.router.dispatch(req, ctx, (type, e) => this.opts.sim.kernel.reportInternalError(`control request ${type}`, e))
  }

  private finish (sock: Socket, reply: ControlReply): void {
    if (sock.destroyed) return
    sock.end(JSON.stringify(reply) + '\n')
    // a client that never reads its reply must not keep the connection open
    sock.setTimeout(10_000, () => sock.destroy())
  }

  /** Stops accepting, drops open connections and removes the socket file. */
  async close (): Promise<void> {
    if (!this.listening) return
    this.listening = false
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const s of this.sockets) s.destroy()
    await closed
    try { unlinkSync(this.socketPath) } catch { /* already gone */ }
  }
}
