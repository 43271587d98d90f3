// module: what kmod reads of one module in sysfs before it acts (rmmod's and
// modprobe -r's checks): /sys/module/<m>, its initstate, holders/ and refcnt.
import type { RequestHandler } from '../context'
import { field } from '../protocol'

export interface ModuleStateReply {
  /** /sys/module/<name> exists. */
  present: boolean
  /** initstate's content (live, coming, going), or null when the file is missing. */
  initstate: string | null
  /** The entries of holders/, or null when the directory is missing. */
  holders: string[] | null
  /** refcnt's value, or null when the file is missing. */
  refcnt: number | null
}

const NAME = /^[^/\0]{1,255}$/

export const moduleState: RequestHandler = {
  type: 'module',
  describe: "one module's sysfs state as kmod reads it: {name} → {present, initstate, holders, refcnt}",
  async handle (req, ctx): Promise<ModuleStateReply> {
    const name = field.string(req, 'name')
    const fs = ctx.sim.fs
    const dir = `/sys/module/${name}`
    if (!NAME.test(name) || name === '.' || name === '..' || !fs.existsSync(dir)) {
      return { present: false, initstate: null, holders: null, refcnt: null }
    }
    const read = async (p: string): Promise<string | null> => {
      try { return (await fs.readFile(p)).trim() } catch { return null }
    }
    const initstate = await read(`${dir}/initstate`)
    let holders: string[] | null = null
    try { holders = fs.readdirSync(`${dir}/holders`) } catch { holders = null }
    const refText = await read(`${dir}/refcnt`)
    const refcnt = refText === null || !/^-?\d+$/.test(refText) ? null : Number(refText)
    return { present: true, initstate, holders, refcnt }
  },
}
