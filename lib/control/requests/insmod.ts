// insmod: finit_module() with the bytes of a module file. The client reads the
// file (the daemon may live in another mount namespace) and sends it base64.
// The reply comes after the module's init has finished: for a livepatch, the
// transition has started by then.
import { KERN_ERR } from '../../kernel/printk'
import { MAX_MODULE_FILE, ModuleFileError, readModuleFile } from '../../module-file'
import type { RequestHandler } from '../context'
import { BadRequest, field } from '../protocol'
import { joinModuleArgs, splitModuleArgs } from '../module-args'

export interface InsmodReply {
  /** 0 or -errno, as finit_module returns it. */
  ret: number
  /** The module's name from .gnu.linkonce.this_module, when the file was readable. */
  name?: string
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

export const insmod: RequestHandler = {
  type: 'insmod',
  describe: 'load a module: {ko: base64 file bytes, args: [param=value...], comm?}',
  async handle (req, ctx): Promise<InsmodReply> {
    const encoded = field.string(req, 'ko')
    if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) throw new BadRequest('"ko" must be the module file in base64')
    if (encoded.length / 4 * 3 > MAX_MODULE_FILE + 3) throw new BadRequest(`"ko" is larger than ${MAX_MODULE_FILE >> 20} MiB`)
    const args = splitModuleArgs(joinModuleArgs(field.strings(req, 'args')))
    const comm = field.optionalString(req, 'comm') ?? 'insmod'
    const k = ctx.sim.kernel
    let loaded
    try {
      loaded = readModuleFile(Buffer.from(encoded, 'base64'))
    } catch (e) {
      if (!(e instanceof ModuleFileError)) throw e
      k.printk.log(KERN_ERR, e.message)
      return { ret: -e.errno }
    }
    const ret = await ctx.sim.insmod(loaded.image, args, comm.slice(0, 15) || 'insmod')
    return { ret, name: loaded.ko.name }
  },
}
