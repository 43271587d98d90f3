// rmmod: delete_module(name, O_NONBLOCK) on a simulated rmmod task.
import type { RequestHandler } from '../context'
import { BadRequest, field } from '../protocol'

export const rmmod: RequestHandler = {
  type: 'rmmod',
  describe: 'unload a module: {name} → {ret: 0 or -errno}',
  async handle (req, ctx): Promise<{ ret: number }> {
    const name = field.string(req, 'name')
    if (name.length > 4096) throw new BadRequest('"name" is too long')
    const comm = field.optionalString(req, 'comm') ?? 'rmmod'
    // delete_module copies at most MODULE_NAME_LEN - 1 bytes of the name
    const ret = await ctx.sim.rmmod(name.slice(0, 55), comm.slice(0, 15) || 'rmmod')
    return { ret }
  },
}
