// Open-file semantics of the pseudo-files: the rules kernfs (sysfs) and seq_file
// (procfs, debugfs, tracefs) apply, shared by every front end.
import { EACCES, EINVAL, EIO, EISDIR, ENODEV, EPERM } from './errno'
import { KAttr, KDir, KNode, KSpecial, KSymlink, ShowValue, SpecialHandle } from './node'

export const O_ACCMODE = 0o3
export const O_RDONLY = 0o0
export const O_WRONLY = 0o1
export const O_RDWR = 0o2
export const O_CREAT = 0o100
export const O_TRUNC = 0o1000
export const O_APPEND = 0o2000
export const O_NONBLOCK = 0o4000

export const PAGE_SIZE = 4096

export interface OpenFile {
  readonly node: KNode
  readonly flags: number
  read (length: number, position: number): Buffer | number | Promise<Buffer | number>
  write (data: Buffer, position: number): number | Promise<number>
  release (): void
}

const wantsRead = (flags: number) => (flags & O_ACCMODE) !== O_WRONLY
const wantsWrite = (flags: number) => (flags & O_ACCMODE) !== O_RDONLY

/** open(2) on a node: an open file, or a negative errno. */
export function openNode (node: KNode, flags: number): OpenFile | number {
  if (node instanceof KDir) return wantsWrite(flags) ? -EISDIR : new DirFile(node, flags)
  if (node instanceof KAttr) {
    if (node.removed) return -ENODEV
    if (node.flavor === 'sysfs') {
      // kernfs checks the mode and the methods itself, regardless of CAP_DAC_OVERRIDE
      if (wantsWrite(flags) && (!(node.mode & 0o222) || !node.store)) return -EACCES
      if (wantsRead(flags) && (!(node.mode & 0o444) || !node.show)) return -EACCES
    } else if (wantsRead(flags) && !node.show) {
      return -EACCES
    }
    return new AttrFile(node, flags)
  }
  if (node instanceof KSpecial) {
    if (node.removed) return -ENODEV
    const handle = node.opener(flags)
    if (typeof handle === 'number') return handle
    return new SpecialFile(node, flags, handle)
  }
  if (node instanceof KSymlink) return -EINVAL
  return -EINVAL
}

/** truncate(2)/O_TRUNC on a node that is not open yet. */
export function truncateNode (node: KNode): number {
  if (node instanceof KDir) return -EISDIR
  if (node instanceof KAttr) {
    // sysfs accepts and ignores size changes; tracefs files reset on O_TRUNC
    if (node.flavor === 'seq' && node.truncate) node.truncate()
    return 0
  }
  return 0
}

/** chown's "leave unchanged" id ((uid_t)-1). */
export const NO_ID = 0xffffffff

/**
 * chmod(2) on a node whose permission checks have passed: the new permission
 * bits are kept on the node (kernfs keeps them in its iattrs) and open() checks
 * them from then on.
 */
export function chmodNode (node: KNode, mode: number): number {
  if (node instanceof KSymlink) return 0
  if (node.effectiveSetattrRule !== 'any') return -EPERM
  node.mode = mode & 0o7777
  return 0
}

/** chown(2) on a node whose permission checks have passed. */
export function chownNode (node: KNode, uid: number, gid: number): number {
  if (node.effectiveSetattrRule === 'none') return -EPERM
  if (uid !== NO_ID) node.uid = uid
  if (gid !== NO_ID) node.gid = gid
  return 0
}

function toBuffer (v: ShowValue): Buffer | number {
  if (typeof v === 'number') return v < 0 ? v : Buffer.from(String(v))
  return typeof v === 'string' ? Buffer.from(v) : v
}

class AttrFile implements OpenFile {
  private content: Buffer | null = null
  constructor (readonly node: KAttr, readonly flags: number) {}

  read (length: number, position: number): Buffer | number | Promise<Buffer | number> {
    const node = this.node
    if (node.removed && node.flavor === 'sysfs') return -ENODEV
    if (!node.show) return -EACCES
    if (position > 0 && this.content) return slice(this.content, length, position)
    const fault = node.injectedReadFault()
    if (fault !== undefined) return fault
    const shown = node.show()
    const finish = (v: ShowValue): Buffer | number => {
      let buf = toBuffer(v)
      if (typeof buf === 'number') return buf
      if (node.flavor === 'sysfs' && buf.length >= PAGE_SIZE) buf = buf.subarray(0, PAGE_SIZE - 1)
      this.content = buf
      return slice(buf, length, position)
    }
    return shown instanceof Promise ? shown.then(finish) : finish(shown)
  }

  write (data: Buffer, _position: number): number | Promise<number> {
    const node = this.node
    if (node.removed && node.flavor === 'sysfs') return -ENODEV
    if (!node.store) return node.flavor === 'sysfs' ? -EACCES : -EIO
    if (data.length === 0) return 0
    const len = node.flavor === 'sysfs' ? Math.min(data.length, PAGE_SIZE) : data.length
    const result = node.store(data.subarray(0, len).toString('latin1'))
    const finish = (r: number) => (r < 0 ? r : len)
    return result instanceof Promise ? result.then(finish) : finish(result)
  }

  release (): void { this.content = null }
}

function slice (buf: Buffer, length: number, position: number): Buffer {
  if (position >= buf.length) return Buffer.alloc(0)
  return buf.subarray(position, Math.min(buf.length, position + length))
}

class DirFile implements OpenFile {
  constructor (readonly node: KDir, readonly flags: number) {}
  read (): number { return -EISDIR }
  write (): number { return -EISDIR }
  release (): void {}
}

class SpecialFile implements OpenFile {
  constructor (readonly node: KSpecial, readonly flags: number, private handle: SpecialHandle) {}
  read (length: number, position: number) { return this.handle.read(length, position) }
  write (data: Buffer, position: number) { return this.handle.write(data, position) }
  release (): void { this.handle.release?.() }
}
