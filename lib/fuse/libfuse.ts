// Loading fuse-native's addon on hosts without a system libfuse2.
//
// The addon (fuse.node) is linked against libfuse.so.2 without an rpath, so
// the dynamic loader only finds a system copy. fuse-shared-library ships one;
// loading it first with RTLD_GLOBAL (and RTLD_NODELETE, so it stays when
// process.dlopen gives up on it for not being a Node module) makes the
// addon's NEEDED entry resolve to the already loaded library.
//
// mount.ts talks to the addon directly (see there for why); this module
// returns the addon with the functions it relies on checked.
import * as fs from 'fs'
import * as os from 'os'
import * as path from 'path'

/** fuse_thread_locals_t buffer of one libfuse worker thread, passed back in signals. */
export type NativeHandle = Buffer

/** The parts of fuse-native 2.2.6's addon that mount.ts uses. */
export interface FuseBinding {
  readonly sizeof_fuse_thread_t: number
  fuse_native_mount (mnt: string, opts: string, thread: Buffer, ctx: object,
    malloc: (size: number) => Buffer, handlers: Function[], implemented: Uint32Array): void
  fuse_native_unmount (mnt: string, thread: Buffer): void

  fuse_native_signal_init (h: NativeHandle, res: number): void
  fuse_native_signal_getattr (h: NativeHandle, res: number, stat: Uint32Array): void
  fuse_native_signal_readdir (h: NativeHandle, res: number, names: string[], stats: Uint32Array[]): void
  fuse_native_signal_readlink (h: NativeHandle, res: number, target: string): void
  fuse_native_signal_open (h: NativeHandle, res: number, fd: number): void
  fuse_native_signal_create (h: NativeHandle, res: number, fd: number): void
  fuse_native_signal_read (h: NativeHandle, res: number, unused: number, buf: ArrayBuffer): void
  fuse_native_signal_write (h: NativeHandle, res: number, unused: number, buf: ArrayBuffer): void
  fuse_native_signal_release (h: NativeHandle, res: number): void
  fuse_native_signal_truncate (h: NativeHandle, res: number): void
  fuse_native_signal_ftruncate (h: NativeHandle, res: number): void
  fuse_native_signal_utimens (h: NativeHandle, res: number): void
  fuse_native_signal_chmod (h: NativeHandle, res: number): void
  fuse_native_signal_chown (h: NativeHandle, res: number): void
  fuse_native_signal_mknod (h: NativeHandle, res: number): void
  fuse_native_signal_mkdir (h: NativeHandle, res: number): void
  fuse_native_signal_rmdir (h: NativeHandle, res: number): void
  fuse_native_signal_unlink (h: NativeHandle, res: number): void
  fuse_native_signal_rename (h: NativeHandle, res: number): void
  fuse_native_signal_link (h: NativeHandle, res: number): void
  fuse_native_signal_symlink (h: NativeHandle, res: number): void

  readonly op_init: number
  readonly op_getattr: number
  readonly op_readdir: number
  readonly op_readlink: number
  readonly op_open: number
  readonly op_create: number
  readonly op_read: number
  readonly op_write: number
  readonly op_release: number
  readonly op_truncate: number
  readonly op_ftruncate: number
  readonly op_utimens: number
  readonly op_chmod: number
  readonly op_chown: number
  readonly op_mknod: number
  readonly op_mkdir: number
  readonly op_rmdir: number
  readonly op_unlink: number
  readonly op_rename: number
  readonly op_link: number
  readonly op_symlink: number
}

/** Number of operation slots in fuse-native's handler table. */
export const FUSE_NATIVE_OPS = 35

const RTLD_NODELETE = 0x1000

let cached: FuseBinding | undefined
let cachedError: Error | undefined

/** Thrown when FUSE cannot be used on this host; the message is one line. */
export class FuseUnavailableError extends Error {
  constructor (reason: string) {
    super(`FUSE unavailable: ${reason}`)
    this.name = 'FuseUnavailableError'
  }
}

function oneLine (err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err)
  return msg.split('\n')[0]
}

function packageDir (name: string, from?: string): string {
  const opts = from ? { paths: [from] } : undefined
  return path.dirname(require.resolve(`${name}/package.json`, opts))
}

/** Path of the libfuse.so.2 shipped by fuse-shared-library. */
export function bundledLibfuse (): { lib: string, include: string } {
  const fuseNative = packageDir('fuse-native')
  // index.js only: 'fuse-shared-library/lib' is a gyp helper that prints the path
  const shared = require(require.resolve('fuse-shared-library', { paths: [fuseNative] })) as { lib: string, include: string }
  return { lib: shared.lib, include: shared.include }
}

function preloadBundledLibfuse (): void {
  const { lib } = bundledLibfuse()
  if (!fs.existsSync(lib)) throw new Error(`${lib} is missing`)
  const { RTLD_NOW, RTLD_GLOBAL } = os.constants.dlopen
  try {
    process.dlopen({ exports: {} }, lib, (RTLD_NOW ?? 2) | (RTLD_GLOBAL ?? 0x100) | RTLD_NODELETE)
  } catch (err) {
    // the library is loaded (and stays, RTLD_NODELETE); it just is no Node module
    if (!/Module did not self-register/.test(oneLine(err))) throw err
  }
}

function requireAddon (): unknown {
  const dir = packageDir('fuse-native')
  const gypBuild = require(require.resolve('node-gyp-build', { paths: [dir] })) as (dir: string) => unknown
  return gypBuild(dir)
}

const REQUIRED = [
  'fuse_native_mount', 'fuse_native_unmount', 'fuse_native_signal_init', 'fuse_native_signal_getattr',
  'fuse_native_signal_readdir', 'fuse_native_signal_readlink', 'fuse_native_signal_open',
  'fuse_native_signal_create', 'fuse_native_signal_read', 'fuse_native_signal_write',
  'fuse_native_signal_release', 'fuse_native_signal_truncate', 'fuse_native_signal_ftruncate',
  'fuse_native_signal_utimens', 'fuse_native_signal_chmod', 'fuse_native_signal_chown',
  'fuse_native_signal_mknod', 'fuse_native_signal_mkdir', 'fuse_native_signal_rmdir',
  'fuse_native_signal_unlink', 'fuse_native_signal_rename', 'fuse_native_signal_link',
  'fuse_native_signal_symlink',
]

function check (addon: unknown): FuseBinding {
  const b = addon as Record<string, unknown>
  for (const name of REQUIRED) {
    if (typeof b[name] !== 'function') throw new Error(`fuse-native's addon has no ${name} (klpsim expects fuse-native 2.2.6)`)
  }
  if (typeof b.sizeof_fuse_thread_t !== 'number' || typeof b.op_getattr !== 'number') {
    throw new Error('fuse-native\'s addon has an unexpected layout (klpsim expects fuse-native 2.2.6)')
  }
  return addon as FuseBinding
}

/** Why FUSE cannot be used here, or null when it can (loads the addon). */
export function fuseUnavailableReason (): string | null {
  try {
    loadFuse()
    return null
  } catch (err) {
    return oneLine(err)
  }
}

/**
 * Loads fuse-native's addon, using the system libfuse.so.2 if there is one
 * and fuse-shared-library's copy otherwise. Throws FuseUnavailableError
 * (one-line message) when /dev/fuse is missing or nothing can be loaded.
 */
export function loadFuse (): FuseBinding {
  if (cached) return cached
  if (cachedError) throw cachedError
  try {
    if (!fs.existsSync('/dev/fuse')) {
      throw new FuseUnavailableError('/dev/fuse is missing (load the fuse kernel module, or give the container --device /dev/fuse)')
    }
    let addon: unknown
    try {
      addon = requireAddon()
    } catch (first) {
      if (!/libfuse\.so/.test(oneLine(first))) throw new FuseUnavailableError(`cannot load fuse-native: ${oneLine(first)}`)
      try {
        preloadBundledLibfuse()
        addon = requireAddon()
      } catch (second) {
        throw new FuseUnavailableError(`cannot load libfuse.so.2 (no system libfuse2, and fuse-shared-library's copy failed: ${oneLine(second)})`)
      }
    }
    try {
      cached = check(addon)
    } catch (err) {
      throw new FuseUnavailableError(oneLine(err))
    }
    return cached
  } catch (err) {
    cachedError = err instanceof FuseUnavailableError ? err : new FuseUnavailableError(oneLine(err))
    throw cachedError
  }
}
