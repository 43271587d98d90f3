// /dev/kmsg: one record per write, one record per read, a cursor per open file.
import { EAGAIN, EINVAL, EPIPE } from '../kobject/errno'
import { O_ACCMODE, O_NONBLOCK, O_WRONLY } from '../kobject/kernfs'
import { KSpecial, SpecialHandle } from '../kobject/node'
import { formatKmsgRecord, Printk } from './printk'

/** Longest record a /dev/kmsg write may carry (PRINTKRB_RECORD_MAX). */
const MAX_WRITE = 1024

export function createDevKmsg (printk: Printk): KSpecial {
  return new KSpecial('kmsg', 0o644, (flags: number): SpecialHandle => {
    let cursor = printk.firstSeq
    const nonblock = (flags & O_NONBLOCK) !== 0
    const readable = (flags & O_ACCMODE) !== O_WRONLY
    return {
      read (length: number): Buffer | number | Promise<Buffer | number> {
        if (!readable) return -EINVAL
        const take = (): Buffer | number | undefined => {
          if (cursor < printk.firstSeq) {
            // records were overwritten: report it once, continue at the oldest
            cursor = printk.firstSeq
            return -EPIPE
          }
          const rec = printk.get(cursor)
          if (!rec) return undefined
          const line = Buffer.from(formatKmsgRecord(rec))
          if (line.length > length) return -EINVAL
          cursor++
          return line
        }
        const now = take()
        if (now !== undefined) return now
        if (nonblock) return -EAGAIN
        return new Promise(resolve => {
          const off = printk.subscribe(() => {
            const r = take()
            if (r !== undefined) { off(); resolve(r) }
          })
        })
      },
      write (data: Buffer): number {
        if (data.length === 0) return 0
        if (data.length > MAX_WRITE) return -EINVAL
        printk.devkmsgWrite(data.toString('utf8'))
        return data.length
      },
    }
  })
}
