// sysctl: the files under /proc/sys, as procps' sysctl uses them (stat, read,
// write, walk a directory). The client keeps procps' logic and texts.
import type { FsViewError } from '../../kobject/view'
import { ENOENT } from '../../kobject/errno'
import type { RequestHandler } from '../context'
import { BadRequest, field } from '../protocol'

export type SysctlReply =
  | { errno: number, syscall?: string }
  | { kind: 'file' | 'dir', mode: number }
  | { value: string }
  | { written: true }
  | { files: string[] }

const PROC_SYS = '/proc/sys'
const MAX_VALUE = 65536

/** A path below /proc/sys ('' for itself); no '..', no empty components. */
function checkPath (p: string): string {
  const parts = p.split('/').filter(s => s !== '')
  if (parts.some(s => s === '.' || s === '..' || s.includes('\0'))) throw new BadRequest('"path" must stay below /proc/sys')
  return parts.length ? `${PROC_SYS}/${parts.join('/')}` : PROC_SYS
}

function errnoOf (e: unknown): number {
  const n = (e as FsViewError).errno
  return typeof n === 'number' ? Math.abs(n) : ENOENT
}

export const sysctl: RequestHandler = {
  type: 'sysctl',
  describe: '/proc/sys files: {op: stat|read|write|list, path (below /proc/sys), value (write)}',
  async handle (req, ctx): Promise<SysctlReply> {
    const op = field.string(req, 'op')
    const path = checkPath(field.string(req, 'path'))
    const fs = ctx.sim.fs
    switch (op) {
      case 'stat': {
        try {
          const st = fs.statSync(path)
          return { kind: st.isDirectory() ? 'dir' : 'file', mode: st.mode & 0o7777 }
        } catch (e) { return { errno: errnoOf(e) } }
      }
      case 'read': {
        try { return { value: await fs.readFile(path) } } catch (e) { return { errno: errnoOf(e) } }
      }
      case 'write': {
        const value = field.string(req, 'value')
        if (value.length > MAX_VALUE) throw new BadRequest('"value" is too long')
        try {
          await fs.writeFile(path, value)
          return { written: true }
        } catch (e) { return { errno: errnoOf(e), syscall: (e as FsViewError).syscall ?? 'write' } }
      }
      case 'list': {
        const files: string[] = []
        const walk = (dir: string): void => {
          for (const name of fs.readdirSync(dir)) {
            const p = `${dir}/${name}`
            if (fs.statSync(p).isDirectory()) walk(p)
            else files.push(p.slice(PROC_SYS.length + 1))
          }
        }
        try { walk(path) } catch (e) { return { errno: errnoOf(e) } }
        return { files }
      }
      default:
        throw new BadRequest(`unknown sysctl op '${op}' (stat, read, write, list)`)
    }
  },
}
