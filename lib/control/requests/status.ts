// status: the patch stack, the live version of every patched function and the
// transition with the tasks holding it (`klpsim status`); the report is
// lib/status.ts's, format klpsim-status/1.
import { buildStatus, StatusReport } from '../../status'
import type { RequestHandler } from '../context'

export const status: RequestHandler = {
  type: 'status',
  describe: 'the livepatch status report (format klpsim-status/1): patches, functions, transition',
  handle (_req, ctx): { report: StatusReport } {
    return { report: buildStatus(ctx.sim) }
  },
}
