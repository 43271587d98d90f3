// A child process that makes exact system calls on files of a mount and
// reports each result, for what a shell cannot show: the byte count a
// write(2) returned, a zero-length write, a read at an offset, the errno of
// an open. It is its own process, so its synchronous calls never wait on the
// process serving the mount.
//
//   node syscalls.js '<json list of calls>'
// prints one JSON list: per call the number it returned or the errno's name.
import * as fs from 'fs'

export type Call =
  | { op: 'open', path: string, flags: string[] }
  | { op: 'write', data: string }
  /** one write(2) of `count` bytes: `head` followed by `fill` repeated */
  | { op: 'writeFill', head: string, fill: string, count: number }
  | { op: 'pread', length: number, position: number }
  | { op: 'read', length: number }
  /** read(2) until it fails or returns 0: every chunk, and how it ended */
  | { op: 'readAll', length: number }
  | { op: 'close' }
  | { op: 'stat', path: string }

export type Outcome = number | string | { data: string } | { mode: string, size: number } | { chunks: string[], end: string | number }

function flagsOf (names: string[]): number {
  let flags = 0
  for (const n of names) {
    const v = (fs.constants as Record<string, number>)[n]
    if (typeof v !== 'number') throw new Error(`unknown open flag ${n}`)
    flags |= v
  }
  return flags
}

function run (calls: Call[]): Outcome[] {
  const out: Outcome[] = []
  let fd = -1
  for (const c of calls) {
    try {
      switch (c.op) {
        case 'open': fd = fs.openSync(c.path, flagsOf(c.flags)); out.push(0); break
        case 'write': out.push(fs.writeSync(fd, Buffer.from(c.data, 'latin1'))); break
        case 'writeFill': {
          const buf = Buffer.alloc(c.count, c.fill)
          buf.write(c.head, 0, 'latin1')
          out.push(fs.writeSync(fd, buf))
          break
        }
        case 'pread': {
          const buf = Buffer.alloc(c.length)
          const n = fs.readSync(fd, buf, 0, c.length, c.position)
          out.push({ data: buf.subarray(0, n).toString('latin1') })
          break
        }
        case 'read': {
          const buf = Buffer.alloc(c.length)
          const n = fs.readSync(fd, buf, 0, c.length, null)
          out.push({ data: buf.subarray(0, n).toString('latin1') })
          break
        }
        case 'readAll': {
          const chunks: string[] = []
          const buf = Buffer.alloc(c.length)
          let end: string | number = 0
          for (;;) {
            try {
              const n = fs.readSync(fd, buf, 0, c.length, null)
              if (n === 0) break
              chunks.push(buf.subarray(0, n).toString('latin1'))
            } catch (err) {
              end = (err as NodeJS.ErrnoException).code ?? String(err)
              break
            }
          }
          out.push({ chunks, end })
          break
        }
        case 'close': fs.closeSync(fd); fd = -1; out.push(0); break
        case 'stat': {
          const st = fs.statSync(c.path)
          out.push({ mode: (st.mode & 0o7777).toString(8), size: st.size })
          break
        }
      }
    } catch (err) {
      out.push((err as NodeJS.ErrnoException).code ?? String(err))
    }
  }
  return out
}

if (require.main === module) {
  process.stdout.write(JSON.stringify(run(JSON.parse(process.argv[2]) as Call[])) + '\n')
}
