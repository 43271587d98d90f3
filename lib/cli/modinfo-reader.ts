// .modinfo as kmod reads it for `modinfo FILE`: any ELF class and byte order,
// no kernel-side validation, errors as kmod reports them (EINVAL for a file
// too short or malformed, ENOEXEC without the ELF magic, ENOENT without a
// .modinfo section).
import { EINVAL, ENOENT, ENOEXEC } from '../kobject/errno'

export type ModinfoResult = { entries: Array<[string, string]> } | { errno: number }

const EI_NIDENT = 16

interface Layout { is64: boolean, le: boolean }

function reader (buf: Buffer, { is64, le }: Layout) {
  const u16 = (o: number): number => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o))
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o))
  const addr = (o: number): number => {
    if (!is64) return u32(o)
    const v = le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o)
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v)
  }
  return { u16, u32, addr }
}

export function readModinfo (buf: Buffer): ModinfoResult {
  if (buf.length < EI_NIDENT) return { errno: EINVAL }
  if (buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46) return { errno: ENOEXEC }
  const cls = buf[4]
  const data = buf[5]
  if ((cls !== 1 && cls !== 2) || (data !== 1 && data !== 2)) return { errno: EINVAL }
  const layout = { is64: cls === 2, le: data === 1 }
  const ehdrSize = layout.is64 ? 64 : 52
  const shdrSize = layout.is64 ? 64 : 40
  if (buf.length < ehdrSize) return { errno: EINVAL }
  const r = reader(buf, layout)
  const shoff = r.addr(layout.is64 ? 0x28 : 0x20)
  const shentsize = r.u16(layout.is64 ? 0x3a : 0x2e)
  const shnum = r.u16(layout.is64 ? 0x3c : 0x30)
  const shstrndx = r.u16(layout.is64 ? 0x3e : 0x32)
  if (shentsize !== shdrSize || shnum === 0 || shoff + shnum * shdrSize > buf.length || shstrndx >= shnum) return { errno: EINVAL }

  const section = (i: number): { name: number, offset: number, size: number, type: number } => {
    const o = shoff + i * shdrSize
    return layout.is64
      ? { name: r.u32(o), type: r.u32(o + 4), offset: r.addr(o + 0x18), size: r.addr(o + 0x20) }
      : { name: r.u32(o), type: r.u32(o + 4), offset: r.u32(o + 0x10), size: r.u32(o + 0x14) }
  }
  const inFile = (s: { offset: number, size: number }): boolean => s.offset <= buf.length && s.size <= buf.length - s.offset
  const names = section(shstrndx)
  if (!inFile(names)) return { errno: EINVAL }
  const nameOf = (off: number): string | null => {
    if (off >= names.size) return null
    const start = names.offset + off
    const end = buf.indexOf(0, start)
    if (end < 0 || end >= names.offset + names.size) return null
    return buf.toString('latin1', start, end)
  }
  for (let i = 1; i < shnum; i++) {
    const s = section(i)
    if (nameOf(s.name) !== '.modinfo') continue
    if (!inFile(s)) return { errno: EINVAL }
    const entries: Array<[string, string]> = []
    for (const str of buf.toString('utf8', s.offset, s.offset + s.size).split('\0')) {
      if (str === '') continue
      const eq = str.indexOf('=')
      if (eq < 0) continue
      entries.push([str.slice(0, eq), str.slice(eq + 1)])
    }
    return { entries }
  }
  return { errno: ENOENT }
}
