// Where the control socket of an instance lives. An instance is named by its
// mount point; the socket sits in a private per-user directory under a name
// derived from the canonical mount point, unless $KLPSIM_CONTROL names it.
import { createHash } from 'node:crypto'
import { accessSync, constants, lstatSync, mkdirSync, realpathSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'

export const CONTROL_ENV = 'KLPSIM_CONTROL'

/**
 * The mount point as an absolute path with its parent's symlinks resolved.
 * The mount point itself is never touched: it may be a dead FUSE mount
 * (ENOTCONN), or served by the calling process, which must not stat itself.
 */
export function canonicalMountpoint (mountpoint: string): string {
  const abs = resolve(mountpoint)
  const parent = dirname(abs)
  if (parent === abs) return abs
  let realParent = parent
  try {
    realParent = realpathSync(parent)
  } catch {
    // a parent that does not exist yet names the same instance either way
  }
  return join(realParent, basename(abs))
}

/** The private directory holding this user's control sockets. */
export function runtimeDir (): string {
  const uid = process.getuid?.() ?? 0
  const xdg = process.env.XDG_RUNTIME_DIR
  if (xdg && xdg.startsWith('/')) return join(xdg, 'klpsim')
  if (uid === 0 && writableDir('/run')) return '/run/klpsim'
  return `/tmp/klpsim-${uid}`
}

function writableDir (dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK)
    return lstatSync(dir).isDirectory()
  } catch {
    return false
  }
}

/** The socket path for the instance at this mount point ($KLPSIM_CONTROL wins). */
export function controlSocketPath (mountpoint: string, env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env[CONTROL_ENV]
  if (explicit) return resolve(explicit)
  const hash = createHash('sha256').update(canonicalMountpoint(mountpoint)).digest('hex').slice(0, 20)
  return join(runtimeDir(), `${hash}.sock`)
}

export class ControlDirError extends Error {}

/**
 * Creates the socket's directory (0700) if needed and checks that nobody else
 * can reach into it: owned by us, no group or other permissions, not a symlink.
 */
export function ensurePrivateDir (dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
  } catch (e) {
    throw new ControlDirError(`cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`)
  }
  const st = lstatSync(dir)
  const uid = process.getuid?.() ?? 0
  if (!st.isDirectory()) throw new ControlDirError(`${dir} is not a directory`)
  if (st.uid !== uid) throw new ControlDirError(`${dir} belongs to uid ${st.uid}, not to us (uid ${uid})`)
  if (st.mode & 0o077) throw new ControlDirError(`${dir} is accessible to other users (mode ${(st.mode & 0o777).toString(8)}); it must be 0700`)
}
