// The front ends' end of the control channel: connect, send one request line,
// read one reply line.
import { connect } from 'node:net'
import { PROTOCOL_VERSION, ControlReply } from './protocol'

/** Nothing listens on the socket: no daemon runs for this instance. */
export class NoDaemonError extends Error {
  constructor (readonly socketPath: string, readonly code: string) {
    super(`no klpsim daemon listens on ${socketPath} (${code})`)
  }
}

/** The socket exists but belongs to someone else. */
export class ControlPermissionError extends Error {
  constructor (readonly socketPath: string) {
    super(`permission denied on ${socketPath}: the daemon belongs to another user`)
  }
}

export class ControlProtocolError extends Error {}

export interface RequestOptions {
  /** Give up after this many milliseconds (default: wait as long as the daemon works). */
  timeoutMs?: number
  /** The largest reply accepted. */
  maxReplyBytes?: number
  /** Abandons the request: the connection is closed and the promise rejects with RequestAborted. */
  signal?: AbortSignal
}

export class RequestAborted extends Error {}

const NO_DAEMON = new Set(['ENOENT', 'ECONNREFUSED', 'ENOTSOCK', 'ENOTDIR'])

export function request<T extends object = Record<string, unknown>> (
  socketPath: string, req: { type: string, [field: string]: unknown }, opts: RequestOptions = {},
): Promise<ControlReply<T>> {
  const maxReply = opts.maxReplyBytes ?? 512 * 1024 * 1024
  return new Promise((resolve, reject) => {
    const sock = connect({ path: socketPath, allowHalfOpen: true })
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    let timer: NodeJS.Timeout | undefined
    const onAbort = (): void => settle(() => reject(new RequestAborted('request abandoned')))
    const settle = (fn: () => void): void => {
      if (settled) return
      settled = true
      if (timer) clearTimeout(timer)
      // a signal shared by many requests (a watch loop) must not collect listeners
      opts.signal?.removeEventListener('abort', onAbort)
      sock.destroy()
      fn()
    }
    if (opts.signal) {
      if (opts.signal.aborted) return onAbort()
      opts.signal.addEventListener('abort', onAbort, { once: true })
    }
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => settle(() => reject(new ControlProtocolError(`no reply from the daemon within ${opts.timeoutMs} ms`))), opts.timeoutMs)
    }
    sock.on('error', (e: NodeJS.ErrnoException) => settle(() => {
      if (e.code === 'EACCES' || e.code === 'EPERM') reject(new ControlPermissionError(socketPath))
      else if (e.code && NO_DAEMON.has(e.code)) reject(new NoDaemonError(socketPath, e.code))
      else reject(e)
    }))
    sock.on('connect', () => {
      sock.write(JSON.stringify({ v: PROTOCOL_VERSION, ...req }) + '\n')
    })
    sock.on('data', (d: Buffer) => {
      size += d.length
      if (size > maxReply) return settle(() => reject(new ControlProtocolError(`reply larger than ${maxReply} bytes`)))
      chunks.push(d)
      if (d.includes(0x0a)) finish()
    })
    sock.on('end', () => finish())
    const finish = (): void => {
      const text = Buffer.concat(chunks).toString('utf8')
      const nl = text.indexOf('\n')
      if (nl < 0) return settle(() => reject(new ControlProtocolError('the daemon closed the connection without a reply')))
      settle(() => {
        try {
          resolve(JSON.parse(text.slice(0, nl)) as ControlReply<T>)
        } catch {
          reject(new ControlProtocolError('the daemon sent a reply that is not JSON'))
        }
      })
    }
  })
}
