// fault: fault injection (`klpsim fault add|list|clear`). Each fault makes the
// simulated kernel take its own failure path the next time it gets there.
import { Fault, FaultError, FAULT_KINDS, FaultKind } from '../../faults'
import type { RequestHandler } from '../context'
import { BadRequest, field } from '../protocol'
import { refused, Refused } from './refused'

export interface FaultInfo {
  id: number
  kind: FaultKind
  args: string[]
  once: boolean
  /** How often it fired so far. */
  hits: number
  description: string
}

export type FaultReply = { fault: FaultInfo } | { faults: FaultInfo[] } | { removed: number } | { kinds: Record<string, string> } | Refused

function info (f: Fault): FaultInfo {
  return { id: f.id, kind: f.kind, args: [...f.args], once: !!f.once, hits: f.hits, description: f.description }
}

export const fault: RequestHandler = {
  type: 'fault',
  describe: 'fault injection: {op: add, kind, args: [...], once?} | {op: list} | {op: clear, id?} | {op: kinds}',
  handle (req, ctx): FaultReply {
    const op = field.string(req, 'op')
    const faults = ctx.sim.faults
    switch (op) {
      case 'add': {
        const kind = field.string(req, 'kind')
        const args = field.strings(req, 'args')
        if (args.length > 8 || args.some(a => a.length > 4096)) throw new BadRequest('"args" must be at most 8 strings of at most 4096 characters')
        try {
          return { fault: info(faults.add({ kind: kind as FaultKind, args, once: field.boolean(req, 'once') })) }
        } catch (e) {
          if (e instanceof FaultError) return refused(e.message)
          throw e
        }
      }
      case 'list': return { faults: faults.list().map(info) }
      case 'clear': {
        const id = field.integer(req, 'id', 1, Number.MAX_SAFE_INTEGER)
        if (id === undefined) return { removed: faults.clear() }
        if (!faults.remove(id)) {
          const ids = faults.list().map(f => f.id)
          return refused(`no fault with id ${id} (${ids.length ? `active: ${ids.join(', ')}` : 'none is active'})`)
        }
        return { removed: 1 }
      }
      case 'kinds': return { kinds: { ...FAULT_KINDS } }
      default:
        throw new BadRequest(`unknown fault op '${op}' (add, list, clear, kinds)`)
    }
  },
}
