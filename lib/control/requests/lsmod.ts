// lsmod: what kmod's lsmod reads: /proc/modules for names and sizes, then
// each module's refcnt and holders/ from sysfs.
import type { RequestHandler } from '../context'

export interface LsmodEntry {
  name: string
  size: number
  /** /sys/module/<m>/refcnt, or null when missing. */
  refcnt: number | null
  holders: string[]
}

export const lsmod: RequestHandler = {
  type: 'lsmod',
  describe: 'loaded modules, newest first: {modules: [{name, size, refcnt, holders}]}',
  async handle (_req, ctx): Promise<{ modules: LsmodEntry[] }> {
    const fs = ctx.sim.fs
    const text = await fs.readFile('/proc/modules')
    const modules: LsmodEntry[] = []
    for (const line of text.split('\n')) {
      const [name, size] = line.split(' ')
      if (!name) continue
      let refcnt: number | null = null
      try {
        const r = (await fs.readFile(`/sys/module/${name}/refcnt`)).trim()
        refcnt = /^-?\d+$/.test(r) ? Number(r) : null
      } catch { refcnt = null }
      let holders: string[] = []
      try { holders = fs.readdirSync(`/sys/module/${name}/holders`) } catch { holders = [] }
      modules.push({ name, size: Number(size) || 0, refcnt, holders })
    }
    return { modules }
  },
}
