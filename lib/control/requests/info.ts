// info: who answers on this socket. Also a cheap liveness check (`ping`).
import type { RequestHandler } from '../context'
import { PROTOCOL_VERSION } from '../protocol'

export interface InfoReply {
  protocol: number
  pid: number
  uid: number
  mountpoint: string
  release: string
  vermagic: string
  mode: string
  arch: string
  /** Kernel uptime in microseconds (the simulated clock). */
  uptimeUs: number
  startedAt: number
  modules: number
}

export const info: RequestHandler = {
  type: 'info',
  describe: 'the instance: pid, mount point, kernel release and mode, uptime',
  handle (_req, ctx): InfoReply {
    const k = ctx.sim.kernel
    return {
      protocol: PROTOCOL_VERSION,
      pid: process.pid,
      uid: process.getuid?.() ?? 0,
      mountpoint: ctx.mountpoint,
      release: k.release,
      vermagic: k.vermagic,
      mode: ctx.sim.mode,
      arch: k.arch,
      uptimeUs: k.clock.nowUs(),
      startedAt: ctx.startedAt,
      modules: k.modules.list().length,
    }
  },
}

export const ping: RequestHandler = {
  type: 'ping',
  describe: 'answers {pid}: the daemon is alive',
  handle: () => ({ pid: process.pid }),
}
