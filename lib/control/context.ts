// What a control request handler works with.
import type { Simulator } from '../simulator'
import type { ControlRequest } from './protocol'

export interface ControlContext {
  sim: Simulator
  /** The instance's canonical mount point. */
  mountpoint: string
  /** When the daemon started (ms since the epoch). */
  startedAt: number
  /** Aborted when the client goes away: long waits stop early. */
  signal: AbortSignal
}

/**
 * One request type. The result is the reply's body (`ok: true` is added);
 * throwing BadRequest answers EBADREQ, anything else EINTERNAL.
 */
export interface RequestHandler {
  type: string
  /** One line for `klpsim` developers: what it does and its fields. */
  describe: string
  handle (req: ControlRequest, ctx: ControlContext): Promise<object> | object
}
