// An in-process, fs-like view of the tree for library users and tests on hosts
// without /dev/fuse. It goes through the same open/read/write rules as FUSE.
import { ENOENT, ENOTDIR, errnoName, strerror, EPERM, EACCES } from './errno'
import { KAttr, KDir, KNode, KSpecial, KSymlink, walk } from './node'
import { chmodNode, chownNode, NO_ID, O_NONBLOCK, O_RDONLY, O_TRUNC, O_WRONLY, openNode, OpenFile, truncateNode } from './kernfs'

export interface ViewStats {
  mode: number
  uid: number
  gid: number
  size: number
  ino: number
  mtime: Date
  isDirectory (): boolean
  isFile (): boolean
  isSymbolicLink (): boolean
  isCharacterDevice (): boolean
}

export class FsViewError extends Error {
  readonly code: string
  readonly errno: number
  constructor (errno: number, readonly syscall: string, readonly path: string) {
    const e = Math.abs(errno)
    super(`${errnoName(e)}: ${strerror(e).toLowerCase()}, ${syscall} '${path}'`)
    this.code = errnoName(e)
    this.errno = -e
  }
}

export const S_IFDIR = 0o040000
export const S_IFREG = 0o100000
export const S_IFLNK = 0o120000
export const S_IFCHR = 0o020000

/** The full st_mode of a node (type bits and permission bits). */
export function nodeMode (node: KNode): number {
  if (node instanceof KDir) return S_IFDIR | node.mode
  if (node instanceof KSymlink) return S_IFLNK | 0o777
  if (node instanceof KSpecial) return (node.charDevice ? S_IFCHR : S_IFREG) | node.mode
  return S_IFREG | node.mode
}

export function nodeStats (node: KNode): ViewStats {
  const mode = nodeMode(node)
  const type = mode & 0o170000
  return {
    mode,
    uid: node.uid,
    gid: node.gid,
    size: node instanceof KAttr ? node.size : 0,
    ino: node.ino,
    mtime: node.ctime,
    isDirectory: () => type === S_IFDIR,
    isFile: () => type === S_IFREG,
    isSymbolicLink: () => type === S_IFLNK,
    isCharacterDevice: () => type === S_IFCHR,
  }
}

function check<T> (r: T | number, syscall: string, path: string): T {
  if (typeof r === 'number' && r < 0) throw new FsViewError(r, syscall, path)
  return r as T
}

/** Reads a whole pseudo-file through an open file, one read at a time. */
async function readAll (file: OpenFile, path: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  let pos = 0
  for (;;) {
    const r = check(await file.read(65536, pos), 'read', path)
    if (r.length === 0) break
    chunks.push(r)
    pos += r.length
    if (file.node instanceof KSpecial) break
  }
  return Buffer.concat(chunks)
}

export class FsView {
  constructor (readonly root: KDir) {}

  private resolve (path: string, syscall: string, followLast = true): KNode {
    let node = walk(this.root, path)
    if (!node) {
      // distinguish a missing component from a non-directory component
      throw new FsViewError(-ENOENT, syscall, path)
    }
    let hops = 0
    while (followLast && node instanceof KSymlink && hops++ < 8) {
      const target = node.resolveTarget()
      const base = target.startsWith('/') ? target : parentPath(node) + '/' + target
      node = walk(this.root, base)
      if (!node) throw new FsViewError(-ENOENT, syscall, path)
    }
    return node
  }

  existsSync (path: string): boolean {
    try { this.resolve(path, 'access'); return true } catch { return false }
  }

  statSync (path: string): ViewStats { return nodeStats(this.resolve(path, 'stat')) }
  lstatSync (path: string): ViewStats { return nodeStats(this.resolve(path, 'lstat', false)) }

  readdirSync (path: string): string[] {
    const node = this.resolve(path, 'scandir')
    if (!(node instanceof KDir)) throw new FsViewError(-ENOTDIR, 'scandir', path)
    return node.names().sort()
  }

  readlinkSync (path: string): string {
    const node = this.resolve(path, 'readlink', false)
    if (!(node instanceof KSymlink)) throw new FsViewError(-22, 'readlink', path)
    return node.resolveTarget()
  }

  /** Opens a file; the caller owns the returned handle. */
  open (path: string, flags = O_RDONLY): OpenFile {
    const node = this.resolve(path, 'open')
    if (flags & O_TRUNC) check(truncateNode(node), 'open', path)
    return check(openNode(node, flags), 'open', path)
  }

  async readFile (path: string, encoding: BufferEncoding = 'utf8'): Promise<string> {
    const file = this.open(path, O_RDONLY | O_NONBLOCK)
    try { return (await readAll(file, path)).toString(encoding) } finally { file.release() }
  }

  /** Like a shell redirection: open(O_WRONLY|O_CREAT|O_TRUNC), one write(), close. */
  async writeFile (path: string, data: string | Buffer): Promise<void> {
    if (!walk(this.root, path)) throw new FsViewError(-EACCES, 'open', path)
    const file = this.open(path, O_WRONLY | O_TRUNC)
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data
      if (buf.length === 0) return
      check(await file.write(buf, 0), 'write', path)
    } finally { file.release() }
  }

  /** Synchronous read; throws if a show method has to wait. */
  readFileSync (path: string, encoding: BufferEncoding = 'utf8'): string {
    const file = this.open(path, O_RDONLY | O_NONBLOCK)
    try {
      const chunks: Buffer[] = []
      let pos = 0
      for (;;) {
        const r = file.read(65536, pos)
        if (r instanceof Promise) throw new Error(`readFileSync: ${path} needs an asynchronous read; use readFile`)
        const buf = check(r, 'read', path)
        if (buf.length === 0) break
        chunks.push(buf)
        pos += buf.length
        if (file.node instanceof KSpecial) break
      }
      return Buffer.concat(chunks).toString(encoding)
    } finally { file.release() }
  }

  writeFileSync (path: string, data: string | Buffer): void {
    if (!walk(this.root, path)) throw new FsViewError(-EACCES, 'open', path)
    const file = this.open(path, O_WRONLY | O_TRUNC)
    try {
      const buf = typeof data === 'string' ? Buffer.from(data) : data
      if (buf.length === 0) return
      const r = file.write(buf, 0)
      if (r instanceof Promise) throw new Error(`writeFileSync: ${path} needs an asynchronous write; use writeFile`)
      check(r, 'write', path)
    } finally { file.release() }
  }

  /** chmod(2), following symlinks: the caller is the simulated kernel's root. */
  chmodSync (path: string, mode: number): void {
    check(chmodNode(this.resolve(path, 'chmod'), mode), 'chmod', path)
  }

  /** chown(2), following symlinks; -1 leaves an id unchanged. */
  chownSync (path: string, uid: number, gid: number): void {
    check(chownNode(this.resolve(path, 'chown'), uid === -1 ? NO_ID : uid, gid === -1 ? NO_ID : gid), 'chown', path)
  }

  mkdirSync (path: string): never { throw new FsViewError(-EPERM, 'mkdir', path) }
  unlinkSync (path: string): never { throw new FsViewError(-EPERM, 'unlink', path) }
}

function parentPath (node: KNode): string {
  return node.parent ? node.parent.path : '/'
}
