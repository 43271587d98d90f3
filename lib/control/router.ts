// Dispatches a parsed request to the handler of its type and turns every
// outcome, including a handler's bug, into a reply.
import type { ControlContext, RequestHandler } from './context'
import { BadRequest, ControlReply, ControlRequest, errorReply } from './protocol'
import { REQUEST_HANDLERS } from './requests'

export class Router {
  private readonly handlers = new Map<string, RequestHandler>()

  constructor (handlers: readonly RequestHandler[] = REQUEST_HANDLERS) {
    for (const h of handlers) this.register(h)
  }

  register (handler: RequestHandler): void {
    if (this.handlers.has(handler.type)) throw new Error(`control request type '${handler.type}' is registered twice`)
    this.handlers.set(handler.type, handler)
  }

  types (): string[] { return [...this.handlers.keys()].sort() }

  /** Never throws: a failing handler becomes an EINTERNAL reply and is reported through onInternalError. */
  async dispatch (req: ControlRequest, ctx: ControlContext, onInternalError: (type: string, e: unknown) => void): Promise<ControlReply> {
    const handler = this.handlers.get(req.type)
    if (!handler) return errorReply('EUNKNOWN', `unknown request type '${req.type}' (known: ${this.types().join(', ')})`)
    try {
      const result = await handler.handle(req, ctx)
      return { ...result, ok: true }
    } catch (e) {
      if (e instanceof BadRequest) return errorReply('EBADREQ', e.message)
      onInternalError(req.type, e)
      return errorReply('EINTERNAL', `${req.type} failed inside klpsim: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
}
