// The FUSE front end: exposes a kobject tree (lib/kobject) as a mounted file
// system. It only translates FUSE operations into walk/openNode/truncateNode
// and OpenFile calls; the one piece of state it keeps is the table of open
// file handles.
//
// It drives fuse-native's addon directly instead of through its Fuse class:
// that class answers every operation through closures, a spread argument
// copy, a freshly allocated stat array, a 15 s setTimeout and a
// process.nextTick, which made an open+read+close about 1.5x slower than
// calling the addon's handler table ourselves (see bench/fuse.ts). The
// protocol with the addon (fuse-native 2.2.6, pinned in package.json) is:
//   handlers[op](handle, op, ...args) is called on the JS thread while a
//   libfuse worker thread waits; fuse_native_signal_<op>(handle, result, ...)
//   hands the result back and wakes the worker. Every handler must signal
//   exactly once, with arguments of the right types (a missing buffer makes
//   the addon throw without waking the worker), and must never throw.
import { execFile, spawnSync } from 'child_process'
import { promises as fsp } from 'fs'
import { constants as osConstants } from 'os'
import * as path from 'path'
import { performance } from 'perf_hooks'
import {
  EACCES, EBADF, EINTR, EIO, ENODEV, ENOENT, ENOTDIR, EPERM, EINVAL, ETIMEDOUT,
  KAttr, KDir, KNode, KSpecial, KSymlink, OpenFile,
  NO_ID, S_IFCHR, S_IFREG, chmodNode, chownNode, nodeMode, openNode, truncateNode, walk,
} from '../kobject'
import { FUSE_NATIVE_OPS, FuseBinding, NativeHandle, loadFuse } from './libfuse'
import { SpareCpu } from './spare-cpu'
import { CarriedRead } from './carried-read'

export interface MountOptions {
  /** Let other users access the mount (libfuse allow_other). Default: owner only. */
  allowOther?: boolean
  /** Source name shown in /proc/mounts. Default 'klpsim'. */
  fsName?: string
  /** File system subtype: the type shows as fuse.<subtype>. Default 'klpsim'. */
  subtype?: string
  /**
   * Called with exceptions thrown (or promises rejected) by show/store/open
   * code of the tree; the operation fails with EIO. Default: a line on stderr.
   */
  onError?: (err: unknown, op: string, path: string) => void
  /**
   * Answer an attribute show/store that returned a promise with ETIMEDOUT
   * after this many ms (0: wait forever). Reads and writes of special nodes
   * (KSpecial, e.g. a blocking /dev/kmsg reader) are never timed out.
   * Default 15000.
   */
  asyncTimeoutMs?: number
  /**
   * After an operation, keep the JS event loop polling (instead of sleeping)
   * for this many microseconds, so that the next request of a burst does
   * not pay a thread wake-up (costs CPU only while requests keep coming).
   * 0 disables it. Default 500. There is no polling while the machine has
   * no CPU to spare (sampled from /proc/stat): on busy CPUs it would only
   * slow down the threads that serve the requests.
   */
  spinMicros?: number
  /** More libfuse -o options (e.g. 'debug'). */
  extraOptions?: string[]
  /** ms to wait for the kernel's INIT after mount(2). Default 10000. */
  initTimeoutMs?: number
  /**
   * The signal libfuse sends to this process when the kernel interrupts a
   * request (libfuse -o intr,intr_signal=N); receiving it ends blocked reads
   * and writes of special nodes with EINTR, so that e.g. a `cat /dev/kmsg`
   * waiting for the next record can be stopped with Ctrl-C or kill. The
   * signal does not say which request: every blocked special read of this
   * process's mounts gets EINTR (cat and dd retry; `dmesg --follow` ends), and
   * no record is lost (the next read on that file returns it). null
   * disables it (a blocked reader then stays in the kernel, unkillable, until
   * its read is answered). Default 'SIGPWR'.
   */
  interruptSignal?: NodeJS.Signals | null
  /**
   * How often to check that the mount is still there (an unmount by someone
   * else ends libfuse's loop without telling us). 0 disables it. Default 1000.
   */
  watchIntervalMs?: number
}

export interface FuseMount {
  /** Canonical absolute path of the mount point. */
  readonly mountpoint: string
  /** The libfuse option string the file system was mounted with. */
  readonly options: string
  readonly mounted: boolean
  /** Lazily unmounts (umount -l) and lets the process exit; idempotent. */
  unmount (): Promise<void>
  /**
   * Resolves once the file system is no longer mounted: by unmount(), or by
   * someone else (`klpsim umount`, `umount -l`, `fusermount -u`), which is
   * noticed within MountOptions.watchIntervalMs.
   */
  readonly closed: Promise<void>
}

const S_IFMT = 0o170000
const TWO32 = 4294967296
const MAX_ERRNO = 511
const EMPTY_NAMES: string[] = []
const EMPTY_STATS: Uint32Array[] = []

/** Thread buffers must outlive their mounts: libfuse's thread uses them after unmount. */
const threadBuffers: Buffer[] = []
const liveMounts = new Set<Server>()
const mounting = new Set<string>()
let exitHookInstalled = false

interface Pending {
  /** Ends with EINTR when the kernel interrupts a request (special nodes' blocking calls). */
  interruptible: boolean
  done: boolean
  timer: NodeJS.Timeout | undefined
  finish (res: number): void
}

function errnoOf (r: number): number {
  // results of simulated code: keep real errnos, anything else is a bug
  return r < 0 && r >= -MAX_ERRNO && Number.isInteger(r) ? r : -EIO
}

function describe (err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err)
}

class Server implements FuseMount {
  readonly options: string
  mounted = false
  private readonly b: FuseBinding
  private readonly thread: Buffer
  private readonly stat = new Uint32Array(18)
  private readonly ownerUid = process.getuid?.() ?? 0
  private readonly ownerGid = process.getgid?.() ?? 0
  private readonly files: (OpenFile | null)[] = [null]
  private readonly freeSlots: number[] = []
  private readonly pending = new Set<Pending>()
  private readonly carried = new WeakMap<OpenFile, CarriedRead>()
  private readonly onError: (err: unknown, op: string, path: string) => void
  private readonly asyncTimeoutMs: number
  private readonly spinMs: number
  private spinning = false
  private active = false
  private lastActive = 0
  private readonly spareCpu = new SpareCpu()
  private unmounting: Promise<void> | undefined
  private readyResolve: (() => void) | undefined
  private readonly interruptSignal: NodeJS.Signals | null
  private watchTimer: NodeJS.Timeout | undefined
  private closedResolve: () => void = noop
  readonly closed = new Promise<void>((resolve) => { this.closedResolve = resolve })

  constructor (readonly root: KDir, readonly mountpoint: string, opts: MountOptions) {
    this.b = loadFuse()
    this.thread = Buffer.alloc(this.b.sizeof_fuse_thread_t)
    threadBuffers.push(this.thread)
    this.onError = opts.onError ?? ((err, op, p) => {
      process.stderr.write(`klpsim fuse: ${op} ${p}: ${describe(err)}\n`)
    })
    this.asyncTimeoutMs = opts.asyncTimeoutMs ?? 15000
    this.spinMs = (opts.spinMicros ?? 500) / 1000
    this.interruptSignal = opts.interruptSignal === undefined ? 'SIGPWR' : opts.interruptSignal
    this.options = buildOptions(opts, this.interruptSignal)
  }

  // --- lifecycle ---------------------------------------------------------

  async start (initTimeoutMs: number, watchIntervalMs: number): Promise<void> {
    const b = this.b
    const handlers: Function[] = new Array(FUSE_NATIVE_OPS).fill(noop)
    const implemented = new Uint32Array(FUSE_NATIVE_OPS)
    const on = (op: number, fn: Function) => { handlers[op] = fn; implemented[op] = 1 }
    on(b.op_init, this.opInit)
    on(b.op_getattr, this.opGetattr)
    on(b.op_readdir, this.opReaddir)
    on(b.op_readlink, this.opReadlink)
    on(b.op_open, this.opOpen)
    on(b.op_read, this.opRead)
    on(b.op_write, this.opWrite)
    on(b.op_release, this.opRelease)
    on(b.op_truncate, this.opTruncate)
    on(b.op_ftruncate, this.opFtruncate)
    on(b.op_utimens, this.opUtimens)
    on(b.op_create, this.opCreate)
    on(b.op_mknod, this.opMknod)
    on(b.op_chmod, this.opChmod)
    on(b.op_chown, this.opChown)
    on(b.op_mkdir, this.voidOp(b.fuse_native_signal_mkdir, -EPERM))
    on(b.op_rmdir, this.voidOp(b.fuse_native_signal_rmdir, -EPERM))
    on(b.op_unlink, this.voidOp(b.fuse_native_signal_unlink, -EPERM))
    on(b.op_rename, this.voidOp(b.fuse_native_signal_rename, -EPERM))
    on(b.op_link, this.voidOp(b.fuse_native_signal_link, -EPERM))
    on(b.op_symlink, this.voidOp(b.fuse_native_signal_symlink, -EPERM))

    const ready = new Promise<void>((resolve) => { this.readyResolve = resolve })
    const threadLocals: Buffer[] = []
    const malloc = (size: number): Buffer => {
      const buf = Buffer.alloc(size)
      threadLocals.push(buf)
      return buf
    }
    // the listener must exist before libfuse looks at the signal's handler
    if (this.interruptSignal) claimInterruptSignal(this, this.interruptSignal)
    try {
      b.fuse_native_mount(this.mountpoint, '-o' + this.options, this.thread, this, malloc, handlers, implemented)
    } catch (err) {
      releaseInterruptSignal(this)
      // fuse_new() can fail after mount(2) succeeded (e.g. a bad option),
      // leaving the addon's uv handle referenced: release both
      this.b.fuse_native_unmount(this.mountpoint, this.thread)
      if (await isMountPoint(this.mountpoint)) await lazyUnmount(this.mountpoint).catch(() => {})
      throw new Error(`cannot mount FUSE file system on ${this.mountpoint}: ${err instanceof Error ? err.message : err} (libfuse printed the reason on stderr)`)
    }
    this.mounted = true
    liveMounts.add(this)
    installExitHook()
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), initTimeoutMs) })
    const first = await Promise.race([ready, timeout])
    clearTimeout(timer)
    if (first === 'timeout') {
      await this.unmount().catch(() => {})
      throw new Error(`FUSE mount on ${this.mountpoint}: the kernel did not send INIT within ${initTimeoutMs} ms`)
    }
    this.watch(watchIntervalMs, await mountEntryOf(this.mountpoint).catch(() => undefined))
  }

  unmount (): Promise<void> {
    if (!this.unmounting) this.unmounting = this.doUnmount()
    return this.unmounting
  }

  private async doUnmount (): Promise<void> {
    if (!this.mounted) return
    try {
      await lazyUnmount(this.mountpoint)
    } catch (err) {
      if (await isMountPoint(this.mountpoint)) {
        this.unmounting = undefined
        throw err
      }
    }
    this.release()
  }

  /** The mount is gone: let go of everything that served it. */
  private release (): void {
    if (!this.mounted) return
    this.mounted = false
    clearTimeout(this.watchTimer)
    liveMounts.delete(this)
    // unrefs the addon's uv handle so the process can exit; libfuse's thread
    // ends by itself once the kernel aborts the connection
    this.b.fuse_native_unmount(this.mountpoint, this.thread)
    this.spinning = false
    releaseInterruptSignal(this)
    // readers blocked in a special file would otherwise wait forever
    for (const p of [...this.pending]) p.finish(-ENODEV)
    this.closedResolve()
  }

  /** Notices an unmount done by someone else. */
  private watch (intervalMs: number, mount: MountEntry | undefined): void {
    if (intervalMs <= 0 || mount === undefined) return
    const tick = (): void => {
      if (!this.mounted || this.unmounting) return
      mountPresent(mount).then((present) => {
        if (!this.mounted || this.unmounting) return
        if (!present) {
          this.unmounting = Promise.resolve()
          this.release()
          return
        }
        this.watchTimer = setTimeout(tick, intervalMs).unref()
      }, () => { this.watchTimer = setTimeout(tick, intervalMs).unref() })
    }
    this.watchTimer = setTimeout(tick, intervalMs).unref()
  }

  /**
   * libfuse signalled an interrupted request. The signal does not say which
   * one, so every blocking call of a special node ends with EINTR: the
   * interrupted one among them is freed, others see a spurious EINTR.
   */
  interrupted (): void {
    for (const p of [...this.pending]) if (p.interruptible) p.finish(-EINTR)
  }

  /** For the exit hook: detach without waiting (no request goes to this process). */
  detachSync (): void {
    spawnSync('umount', ['-l', '-c', this.mountpoint], { stdio: 'ignore' })
  }

  // --- helpers -------------------------------------------------------------

  private fail (err: unknown, op: string, p: string): number {
    try { this.onError(err, op, p) } catch { /* a failing reporter must not take us down */ }
    return -EIO
  }

  /** Marks activity; starts the polling window. */
  private touch (): void {
    this.active = true
    if (!this.spinning && this.spinMs > 0 && this.mounted) {
      const now = performance.now()
      if (!this.spareCpu.available(now)) return
      this.spinning = true
      this.lastActive = now
      setImmediate(this.spin)
    }
  }

  private readonly spin = (): void => {
    if (!this.spinning) return
    const now = performance.now()
    if (this.active) {
      this.active = false
      this.lastActive = now
    } else if (now - this.lastActive > this.spinMs || !this.spareCpu.available(now)) {
      this.spinning = false
      return
    }
    setImmediate(this.spin)
  }

  private allocFd (file: OpenFile): number {
    const slot = this.freeSlots.pop()
    if (slot !== undefined) {
      this.files[slot] = file
      return slot
    }
    this.files.push(file)
    return this.files.length - 1
  }

  private fillStat (node: KNode, st: Uint32Array): void {
    let mode = nodeMode(node)
    // a character device inode on FUSE would be opened as the real device
    // (or refused: the mount is nodev), so special files are shown as
    // regular files to keep their reads and writes coming here
    if ((mode & S_IFMT) === S_IFCHR) mode = (mode & ~S_IFMT) | S_IFREG
    let nlink = 1
    if (node instanceof KDir) {
      nlink = 2
      for (const child of node.children.values()) if (child instanceof KDir) nlink++
    }
    const size = node instanceof KAttr ? node.size : 0
    const ms = node.ctime.getTime()
    const lo = ms % TWO32
    const hi = (ms - lo) / TWO32
    st[0] = mode
    // the simulated kernel's root is the daemon's owner
    st[1] = node.uid === 0 ? this.ownerUid : node.uid
    st[2] = node.gid === 0 ? this.ownerGid : node.gid
    st[3] = size
    st[4] = 0
    st[5] = 0 // dev
    st[6] = nlink
    st[7] = node.ino
    st[8] = 0 // rdev
    st[9] = 4096 // blksize
    st[10] = 0 // blocks
    st[11] = 0
    st[12] = lo; st[13] = hi // atime
    st[14] = lo; st[15] = hi // mtime
    st[16] = lo; st[17] = hi // ctime
  }

  /**
   * A request answered later; the worker thread stays blocked meanwhile.
   * finish answers it once, whoever comes first: the result, the timeout,
   * an interrupt (interruptible requests) or the unmount.
   */
  private track (op: string, p: string, timeoutMs: number, interruptible: boolean, answer: (res: number) => void): Pending {
    const pending: Pending = {
      interruptible,
      done: false,
      timer: undefined,
      finish: (res: number) => {
        if (pending.done) return
        pending.done = true
        if (pending.timer) clearTimeout(pending.timer)
        this.pending.delete(pending)
        answer(res)
      },
    }
    this.pending.add(pending)
    if (timeoutMs > 0) {
      pending.timer = setTimeout(() => {
        this.fail(new Error(`${op} did not complete within ${timeoutMs} ms`), op, p)
        pending.finish(-ETIMEDOUT)
      }, timeoutMs)
    }
    return pending
  }

  /** Waits for a promised result of an attribute's show/store or a special write. */
  private settle<T> (promise: Promise<T>, timeoutMs: number, op: string, p: string,
    convert: (v: T) => number, answer: (res: number) => void, interruptible = false): void {
    const pending = this.track(op, p, timeoutMs, interruptible, answer)
    promise.then((v) => {
      let res: number
      try { res = convert(v) } catch (err) { res = this.fail(err, op, p) }
      pending.finish(res)
    }, (err) => pending.finish(this.fail(err, op, p)))
  }

  /** Copies a read result into libfuse's buffer: the byte count or an errno. */
  private copyOut (r: Buffer | number, buf: Buffer, len: number, p: string): number {
    if (typeof r === 'number') return r < 0 ? errnoOf(r) : this.fail(new Error(`read returned ${r} instead of a Buffer`), 'read', p)
    if (!Buffer.isBuffer(r)) return this.fail(new Error('read returned no Buffer'), 'read', p)
    const n = r.length < len ? r.length : len
    r.copy(buf, 0, 0, n)
    return n
  }

  private writeResult (r: number, len: number, p: string): number {
    if (typeof r !== 'number' || Number.isNaN(r)) return this.fail(new Error(`write returned ${String(r)}`), 'write', p)
    if (r < 0) return errnoOf(r)
    return r > len ? len : Math.floor(r)
  }

  private voidOp (signal: (h: NativeHandle, res: number) => void, res: number) {
    return (h: NativeHandle): void => {
      this.touch()
      signal(h, res)
    }
  }

  // --- operations ----------------------------------------------------------

  private readonly opInit = (h: NativeHandle): void => {
    this.b.fuse_native_signal_init(h, 0)
    const resolve = this.readyResolve
    this.readyResolve = undefined
    resolve?.()
  }

  private readonly opGetattr = (h: NativeHandle, _op: number, p: string): void => {
    this.touch()
    let res = 0
    try {
      const node = walk(this.root, p)
      if (node === undefined) res = -ENOENT
      else this.fillStat(node, this.stat)
    } catch (err) {
      res = this.fail(err, 'getattr', p)
    }
    this.b.fuse_native_signal_getattr(h, res, this.stat)
  }

  private readonly opReaddir = (h: NativeHandle, _op: number, p: string): void => {
    this.touch()
    let res = 0
    let names = EMPTY_NAMES
    let stats = EMPTY_STATS
    try {
      const dir = walk(this.root, p)
      if (dir === undefined) res = -ENOENT
      else if (!(dir instanceof KDir)) res = -ENOTDIR
      else {
        names = ['.', '..', ...dir.names()]
        const all = new Uint32Array(18 * names.length)
        stats = new Array<Uint32Array>(names.length)
        for (let i = 0; i < names.length; i++) {
          const st = all.subarray(18 * i, 18 * i + 18)
          stats[i] = st
          const node = i === 0 ? dir : i === 1 ? (dir === this.root ? dir : dir.parent ?? dir) : dir.lookup(names[i])
          if (node) this.fillStat(node, st)
        }
      }
    } catch (err) {
      res = this.fail(err, 'readdir', p)
      names = EMPTY_NAMES
      stats = EMPTY_STATS
    }
    this.b.fuse_native_signal_readdir(h, res, names, stats)
  }

  private readonly opReadlink = (h: NativeHandle, _op: number, p: string): void => {
    this.touch()
    let res = 0
    let target = ''
    try {
      const node = walk(this.root, p)
      if (node === undefined) res = -ENOENT
      else if (!(node instanceof KSymlink)) res = -EINVAL
      else target = String(node.resolveTarget())
    } catch (err) {
      res = this.fail(err, 'readlink', p)
    }
    this.b.fuse_native_signal_readlink(h, res, target)
  }

  private readonly opOpen = (h: NativeHandle, _op: number, p: string, flags: number): void => {
    this.touch()
    let res = 0
    let fd = 0
    try {
      const node = walk(this.root, p)
      if (node === undefined) res = -ENOENT
      else {
        const file = openNode(node, flags)
        if (typeof file === 'number') res = errnoOf(file)
        else fd = this.allocFd(file)
      }
    } catch (err) {
      res = this.fail(err, 'open', p)
    }
    this.b.fuse_native_signal_open(h, res, fd)
  }

  private readonly opRead = (h: NativeHandle, _op: number, p: string, fd: number, buf: Buffer, len: number, lo: number, hi: number): void => {
    this.touch()
    const file = this.files[fd]
    let res: number
    if (!file) {
      res = -EBADF
    } else {
      if (file.node instanceof KSpecial) {
        this.readSpecial(h, file, p, buf, len, lo + hi * TWO32)
        return
      }
      try {
        const r = file.read(len, lo + hi * TWO32)
        if (r instanceof Promise) {
          this.settle(r, this.asyncTimeoutMs, 'read', p, (v) => this.copyOut(v, buf, len, p),
            (n) => this.b.fuse_native_signal_read(h, n, 0, buf.buffer))
          return
        }
        res = this.copyOut(r, buf, len, p)
      } catch (err) {
        res = this.fail(err, 'read', p)
      }
    }
    this.b.fuse_native_signal_read(h, res, 0, buf.buffer)
  }

  /** A read of a special file may block for good (no timeout) and be interrupted. */
  private readSpecial (h: NativeHandle, file: OpenFile, p: string, buf: Buffer, len: number, position: number): void {
    let carried = this.carried.get(file)
    if (!carried) {
      carried = new CarriedRead()
      this.carried.set(file, carried)
    }
    let abandon = noop
    const pending = this.track('read', p, 0, true, (n) => {
      abandon()
      this.b.fuse_native_signal_read(h, n, 0, buf.buffer)
    })
    abandon = carried.request(() => file.read(len, position), (o) => {
      let res: number
      try {
        res = o.ok ? this.copyOut(o.value, buf, len, p) : this.fail(o.error, 'read', p)
      } catch (err) {
        res = this.fail(err, 'read', p)
      }
      pending.finish(res)
    })
  }

  private readonly opWrite = (h: NativeHandle, _op: number, p: string, fd: number, buf: Buffer, len: number, lo: number, hi: number): void => {
    this.touch()
    const file = this.files[fd]
    let res: number
    if (!file) {
      res = -EBADF
    } else {
      try {
        const special = file.node instanceof KSpecial
        // libfuse's buffer is only ours until we answer: special handles
        // may keep the data, so they get a copy
        const r = file.write(special ? Buffer.from(buf) : buf, lo + hi * TWO32)
        if (r instanceof Promise) {
          this.settle(r, special ? 0 : this.asyncTimeoutMs, 'write', p, (v) => this.writeResult(v, len, p),
            (n) => this.b.fuse_native_signal_write(h, n, 0, buf.buffer), special)
          return
        }
        res = this.writeResult(r, len, p)
      } catch (err) {
        res = this.fail(err, 'write', p)
      }
    }
    this.b.fuse_native_signal_write(h, res, 0, buf.buffer)
  }

  private readonly opRelease = (h: NativeHandle, _op: number, p: string, fd: number): void => {
    this.touch()
    const file = this.files[fd]
    if (file && fd > 0) {
      this.files[fd] = null
      this.freeSlots.push(fd)
      try { file.release() } catch (err) { this.fail(err, 'release', p) }
    }
    this.b.fuse_native_signal_release(h, 0)
  }

  private truncate (node: KNode | undefined, p: string): number {
    if (node === undefined) return -ENOENT
    try {
      return normalize(truncateNode(node))
    } catch (err) {
      return this.fail(err, 'truncate', p)
    }
  }

  private readonly opTruncate = (h: NativeHandle, _op: number, p: string): void => {
    this.touch()
    let node: KNode | undefined
    let res: number
    try {
      node = walk(this.root, p)
      res = this.truncate(node, p)
    } catch (err) {
      res = this.fail(err, 'truncate', p)
    }
    this.b.fuse_native_signal_truncate(h, res)
  }

  /** ftruncate(2), and the truncation the kernel does after an O_TRUNC open. */
  private readonly opFtruncate = (h: NativeHandle, _op: number, p: string, fd: number): void => {
    this.touch()
    let res: number
    try {
      const file = this.files[fd]
      res = this.truncate(file ? file.node : walk(this.root, p), p)
    } catch (err) {
      res = this.fail(err, 'truncate', p)
    }
    this.b.fuse_native_signal_ftruncate(h, res)
  }

  private readonly opUtimens = (h: NativeHandle, _op: number, p: string): void => {
    this.touch()
    let res = 0
    try {
      if (walk(this.root, p) === undefined) res = -ENOENT
    } catch (err) {
      res = this.fail(err, 'utimens', p)
    }
    this.b.fuse_native_signal_utimens(h, res)
  }

  private readonly opChmod = (h: NativeHandle, _op: number, p: string, mode: number): void => {
    this.touch()
    let res: number
    try {
      const node = walk(this.root, p)
      res = node === undefined ? -ENOENT : chmodNode(node, mode)
    } catch (err) {
      res = this.fail(err, 'chmod', p)
    }
    this.b.fuse_native_signal_chmod(h, res)
  }

  private readonly opChown = (h: NativeHandle, _op: number, p: string, uid: number, gid: number): void => {
    this.touch()
    let res: number
    try {
      const node = walk(this.root, p)
      const toSim = (id: number, owner: number) => (id === owner ? 0 : id)
      res = node === undefined ? -ENOENT : (chownNode(node, uid === NO_ID ? NO_ID : toSim(uid, this.ownerUid), gid === NO_ID ? NO_ID : toSim(gid, this.ownerGid)))
    } catch (err) {
      res = this.fail(err, 'chown', p)
    }
    this.b.fuse_native_signal_chown(h, res)
  }

  private readonly opCreate = (h: NativeHandle): void => {
    this.touch()
    this.b.fuse_native_signal_create(h, -EACCES, 0)
  }

  private readonly opMknod = (h: NativeHandle): void => {
    this.touch()
    this.b.fuse_native_signal_mknod(h, -EACCES)
  }
}

function normalize (r: number): number {
  return r < 0 ? errnoOf(r) : 0
}

function noop (): void {}

function buildOptions (opts: MountOptions, interruptSignal: NodeJS.Signals | null): string {
  const safe = (v: string, what: string) => {
    if (!/^[A-Za-z0-9_.:@+=/-]+$/.test(v)) throw new Error(`invalid FUSE ${what}: ${JSON.stringify(v)}`)
    return v
  }
  const o = [
    `fsname=${safe(opts.fsName ?? 'klpsim', 'fsName')}`,
    `subtype=${safe(opts.subtype ?? 'klpsim', 'subtype')}`,
    // every read and write goes to the tree; no page cache
    'direct_io',
    // no dentry, attribute or negative dentry caching: a node that vanished
    // is gone for the very next lookup and new nodes show up at once
    'entry_timeout=0',
    'negative_timeout=0',
    'attr_timeout=0',
    // st_ino (and readdir d_ino) are the kernfs inode numbers
    'use_ino',
    'readdir_ino',
    // one WRITE request per write(2) up to 128 KiB, like a kernel write handler sees it
    'big_writes',
    // mount over directories that have files (e.g. a placeholder)
    'nonempty',
    'noexec',
  ]
  if (interruptSignal) {
    const signo = osConstants.signals[interruptSignal]
    if (signo === undefined || interruptSignal === 'SIGUSR1') throw new Error(`invalid interruptSignal ${interruptSignal}`)
    // libfuse then signals the worker thread of an interrupted request
    o.push('intr', `intr_signal=${signo}`)
  }
  // shared with other users, the kernel checks modes and owners as for real
  // sysfs: a world-readable attribute reads, only the owner writes
  if (opts.allowOther) o.push('allow_other', 'default_permissions')
  for (const extra of opts.extraOptions ?? []) o.push(safe(extra, 'option'))
  return o.join(',')
}

function run (cmd: string, args: string[]): Promise<{ code: number, stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, (err, _stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null
      if (e && typeof e.code === 'string') resolve({ code: 127, stderr: `${cmd}: ${e.message}` })
      else resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stderr: String(stderr) })
    })
  })
}

/**
 * umount -l without canonicalizing (-c): util-linux then does not stat the
 * mount point, which could be a dead FUSE mount or one served by the
 * calling process itself.
 */
export async function lazyUnmount (mountpoint: string): Promise<void> {
  const r = await run('umount', ['-l', '-c', mountpoint])
  if (r.code === 0) return
  // without CAP_SYS_ADMIN only a setuid fusermount can unmount (if installed)
  const f = process.getuid?.() !== 0 ? await run('fusermount', ['-u', '-z', mountpoint]) : r
  if (f.code !== 0) throw new Error(`umount -l ${mountpoint} failed: ${r.stderr.trim().split('\n')[0] || `exit ${r.code}`}`)
}

function unescapeMountinfo (s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))
}

/** A line of /proc/self/mountinfo: mount id, device and mount point. */
interface MountEntry { id: string, dev: string, path: string }

async function mountEntries (): Promise<MountEntry[]> {
  const info = await fsp.readFile('/proc/self/mountinfo', 'utf8')
  const out: MountEntry[] = []
  for (const line of info.split('\n')) {
    const fields = line.split(' ')
    if (fields.length > 4) out.push({ id: fields[0], dev: fields[2], path: unescapeMountinfo(fields[4]) })
  }
  return out
}

/** Whether a canonical path is a mount point (per /proc/self/mountinfo). */
export async function isMountPoint (mountpoint: string): Promise<boolean> {
  return (await mountEntryOf(mountpoint)) !== undefined
}

/** The topmost mount on a canonical path, if any. */
async function mountEntryOf (mountpoint: string): Promise<MountEntry | undefined> {
  return (await mountEntries()).filter((e) => e.path === mountpoint).pop()
}

/**
 * Whether a mount is still in this process's mount table. Mount ids and
 * anonymous device numbers are reused as soon as they are free, so the id
 * alone could name somebody else's new mount: id, device and path must match.
 */
async function mountPresent (m: MountEntry): Promise<boolean> {
  return (await mountEntries()).some((e) => e.id === m.id && e.dev === m.dev && e.path === m.path)
}

/**
 * Servers interested in each interrupt signal. The process-wide listener is
 * never removed: libfuse may still signal while a mount goes away, and
 * without a listener the signal's default action would end the process.
 */
const interruptServers = new Map<NodeJS.Signals, Set<Server>>()

function claimInterruptSignal (server: Server, signal: NodeJS.Signals): void {
  let servers = interruptServers.get(signal)
  if (!servers) {
    const set = new Set<Server>()
    servers = set
    interruptServers.set(signal, set)
    process.on(signal, () => { for (const s of set) s.interrupted() })
  }
  servers.add(server)
}

function releaseInterruptSignal (server: Server): void {
  for (const servers of interruptServers.values()) servers.delete(server)
}

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  // a process that exits with mounts left would leave them dead (ENOTCONN)
  process.on('exit', () => {
    for (const m of liveMounts) m.detachSync()
  })
}

/** Canonical mount point path; clears a dead mount left by a killed daemon. */
async function prepareMountpoint (dir: string): Promise<string> {
  const abs = path.resolve(dir)
  // the parent is canonicalized, not the directory itself: it may be a dead mount
  const mnt = abs === '/' ? abs : path.join(await fsp.realpath(path.dirname(abs)), path.basename(abs))
  for (let attempt = 0; ; attempt++) {
    try {
      const st = await fsp.stat(mnt)
      if (!st.isDirectory()) throw new Error(`cannot mount on ${mnt}: not a directory`)
      break
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if ((code === 'ENOTCONN' || code === 'ECONNABORTED') && attempt < 8) {
        // a FUSE daemon died without unmounting (e.g. SIGKILL)
        await lazyUnmount(mnt)
        continue
      }
      if (code === 'ENOENT') throw new Error(`cannot mount on ${mnt}: no such directory`)
      throw err
    }
  }
  if (await isMountPoint(mnt)) {
    throw new Error(`Mountpoint in use: ${mnt} is already a mount point (unmount it first)`)
  }
  return mnt
}

/**
 * Mounts a kobject tree with FUSE at mountpoint. Resolves once the kernel has
 * initialized the connection. Never access the mount with synchronous calls
 * from this process: its JS thread serves the requests.
 */
export async function mountTree (root: KDir, mountpoint: string, options: MountOptions = {}): Promise<FuseMount> {
  loadFuse()
  const mnt = await prepareMountpoint(mountpoint)
  // two concurrent mountTree calls on one directory would both pass the check
  if (mounting.has(mnt)) throw new Error(`Mountpoint in use: ${mnt} is being mounted by this process`)
  mounting.add(mnt)
  try {
    const server = new Server(root, mnt, options)
    await server.start(options.initTimeoutMs ?? 10000, options.watchIntervalMs ?? 1000)
    return server
  } finally {
    mounting.delete(mnt)
  }
}
