// The texts kmod's tools print for a failed system call.
import { EBUSY, EEXIST, EINVAL, ENOENT, ENOEXEC, ESRCH, strerror } from '../kobject/errno'

/** kmod insmod's mod_strerror(): a few errnos get kmod's own wording, the rest strerror(). */
export function insmodErrorText (errno: number): string {
  switch (Math.abs(errno)) {
    case ENOEXEC: return 'Invalid module format'
    case ENOENT: return 'Unknown symbol in module'
    case ESRCH: return 'Module has wrong symbol version'
    case EINVAL: return 'Invalid parameters'
    default: return strerror(errno)
  }
}

export function insmodErrorLine (path: string, errno: number): string {
  return `insmod: ERROR: could not insert module ${path}: ${insmodErrorText(errno)}`
}

export function rmmodErrorLines (name: string, errno: number): string[] {
  const e = Math.abs(errno)
  if (e === ENOENT) return [`rmmod: ERROR: Module ${name} is not currently loaded`]
  if (e === EBUSY || e === 11) return [`rmmod: ERROR: Module ${name} is in use`]
  return [`rmmod: ERROR: could not remove '${name}': ${strerror(e)}`, `rmmod: ERROR: could not remove module ${name}: ${strerror(e)}`]
}

export const ERR_EXISTS_TEXT = strerror(EEXIST)
