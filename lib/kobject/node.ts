// The kernfs-like node tree: the single copy of every pseudo-file's state. The
// kernel and the livepatch core create and remove nodes; front ends (FUSE, the
// in-process fs view) only translate operations on paths into operations here.
import { EEXIST, ENOENT } from './errno'

export type ShowValue = string | Buffer | number
/** A show method: the file's content, or a negative errno. */
export type ShowFn = () => ShowValue | Promise<ShowValue>
/** A store method: bytes consumed, or a negative errno. */
export type StoreFn = (data: string) => number | Promise<number>

/**
 * How open/read/write behave:
 * - 'sysfs': kernfs attribute rules (EACCES at open without the mode bit or the
 *   method, even for root; one page per write; ENODEV once removed).
 * - 'seq': a procfs/debugfs/tracefs seq_file (root passes permission checks;
 *   a write without a store method fails EIO).
 */
export type AttrFlavor = 'sysfs' | 'seq'

/**
 * Which attribute changes a file system's setattr accepts for the nodes below:
 * 'any' (kernfs, debugfs, tracefs, procfs entries), 'owner' (proc_setattr of
 * /proc/<pid>: chown only, chmod EPERM), 'none' (proc_sys_setattr: EPERM).
 */
export type SetattrRule = 'any' | 'owner' | 'none'

let nextIno = 2

export abstract class KNode {
  readonly ino = nextIno++
  parent: KDir | null = null
  removed = false
  readonly ctime = new Date()
  /** Owner and group as chown set them; 0 is the simulated kernel's root. */
  uid = 0
  gid = 0
  /** Set on the root of a subtree whose setattr rule differs from its parent's. */
  setattrRule?: SetattrRule
  constructor (public name: string, public mode: number) {}

  /** The setattr rule of the nearest node up the tree that sets one. */
  get effectiveSetattrRule (): SetattrRule {
    for (let n: KNode | null = this; n; n = n.parent) if (n.setattrRule) return n.setattrRule
    return 'any'
  }

  /** Path from the tree root, e.g. "/sys/kernel/livepatch/p". */
  get path (): string {
    const parts: string[] = []
    for (let n: KNode | null = this; n && n.parent; n = n.parent) parts.unshift(n.name)
    return '/' + parts.join('/')
  }

  /** Path relative to the nearest kernfs root (sysfs prints these), e.g. "/kernel/livepatch/p". */
  get kernfsPath (): string {
    const parts: string[] = []
    for (let n: KNode | null = this; n && n.parent && !(n instanceof KDir && n.kernfsRoot); n = n.parent) parts.unshift(n.name)
    return '/' + parts.join('/')
  }
}

export interface DirProvider {
  list (): Iterable<string>
  lookup (name: string): KNode | undefined
}

export class KDir extends KNode {
  readonly children = new Map<string, KNode>()
  provider?: DirProvider
  /** Marks the root of a kernfs instance (e.g. /sys) for path printing. */
  kernfsRoot = false
  /** Called when a duplicate name is added (sysfs warns). */
  onDuplicate?: (path: string) => void
  /** Fault injection for reads of attributes below this directory: an errno, or undefined. */
  readFault?: (node: KAttr) => number | undefined

  constructor (name: string, mode = 0o755) { super(name, mode) }

  lookup (name: string): KNode | undefined {
    return this.children.get(name) ?? this.provider?.lookup(name)
  }

  names (): string[] {
    const out = [...this.children.keys()]
    if (this.provider) for (const n of this.provider.list()) if (!this.children.has(n)) out.push(n)
    return out
  }

  /** Adds a child; -EEXIST (and the duplicate warning) if the name is taken. */
  add<T extends KNode> (child: T): T | number {
    if (this.children.has(child.name)) {
      const warn = this.findDuplicateHandler()
      warn?.(joinPath(this.kernfsPath, child.name))
      return -EEXIST
    }
    child.parent = this
    child.removed = false
    this.children.set(child.name, child)
    return child
  }

  private findDuplicateHandler (): ((path: string) => void) | undefined {
    for (let d: KDir | null = this; d; d = d.parent) if (d.onDuplicate) return d.onDuplicate
    return undefined
  }

  mkdir (name: string, mode = 0o755): KDir | number {
    return this.add(new KDir(name, mode))
  }

  /** Returns the existing directory or creates it. */
  ensureDir (name: string, mode = 0o755): KDir {
    const existing = this.children.get(name)
    if (existing instanceof KDir) return existing
    const created = this.add(new KDir(name, mode))
    if (typeof created === 'number') throw new Error(`cannot create directory ${name} in ${this.path}`)
    return created
  }

  addAttr (name: string, mode: number, ops: { show?: ShowFn, store?: StoreFn, truncate?: () => void }, flavor: AttrFlavor = 'sysfs'): KAttr | number {
    return this.add(new KAttr(name, mode, ops.show, ops.store, flavor, ops.truncate))
  }

  /** Detaches a child by name and marks its subtree removed. */
  remove (name: string): number {
    const child = this.children.get(name)
    if (!child) return -ENOENT
    this.children.delete(name)
    markRemoved(child)
    return 0
  }

  /** Detaches this directory from its parent (kobject_del). */
  detach (): void {
    if (this.parent) this.parent.remove(this.name)
    else markRemoved(this)
  }
}

function markRemoved (node: KNode): void {
  node.removed = true
  if (node instanceof KDir) for (const c of node.children.values()) markRemoved(c)
}

function joinPath (dir: string, name: string): string {
  return dir === '/' ? '/' + name : dir + '/' + name
}

export class KAttr extends KNode {
  constructor (
    name: string,
    mode: number,
    public show: ShowFn | undefined,
    public store: StoreFn | undefined,
    public flavor: AttrFlavor = 'sysfs',
    public truncate?: () => void,
  ) { super(name, mode) }

  /** An injected read failure (negative errno) from the nearest directory that has a read fault hook. */
  injectedReadFault (): number | undefined {
    for (let d = this.parent; d; d = d.parent) if (d.readFault) return d.readFault(this)
    return undefined
  }

  /** sysfs reports PAGE_SIZE for attributes, procfs and debugfs 0. */
  get size (): number { return this.flavor === 'sysfs' ? 4096 : 0 }
}

export class KSymlink extends KNode {
  constructor (name: string, public target: string | (() => string)) { super(name, 0o777) }
  resolveTarget (): string { return typeof this.target === 'string' ? this.target : this.target() }
}

/** An open file of a special node: its own read/write protocol (e.g. /dev/kmsg). */
export interface SpecialHandle {
  read (length: number, position: number): Buffer | number | Promise<Buffer | number>
  write (data: Buffer, position: number): number | Promise<number>
  truncate? (): number
  release? (): void
}

export class KSpecial extends KNode {
  constructor (name: string, mode: number, public opener: (flags: number) => SpecialHandle | number, public charDevice = true) {
    super(name, mode)
  }
}

/** Walks an absolute or root-relative path; undefined when a component is missing. */
export function walk (root: KDir, path: string): KNode | undefined {
  let node: KNode = root
  let start = 0
  const len = path.length
  while (start < len) {
    if (path.charCodeAt(start) === 47) { start++; continue }
    let end = path.indexOf('/', start)
    if (end === -1) end = len
    if (!(node instanceof KDir)) return undefined
    const next: KNode | undefined = node.lookup(path.slice(start, end))
    if (!next) return undefined
    node = next
    start = end + 1
  }
  return node
}
