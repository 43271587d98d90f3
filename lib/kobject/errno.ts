// Linux errno numbers (asm-generic/errno-base.h, errno.h) and their strerror texts.
export const EPERM = 1
export const ENOENT = 2
export const ESRCH = 3
export const EINTR = 4
export const EIO = 5
export const ENXIO = 6
export const E2BIG = 7
export const ENOEXEC = 8
export const EBADF = 9
export const EAGAIN = 11
export const EWOULDBLOCK = 11
export const ENOMEM = 12
export const EACCES = 13
export const EFAULT = 14
export const EBUSY = 16
export const EEXIST = 17
export const ENODEV = 19
export const ENOTDIR = 20
export const EISDIR = 21
export const EINVAL = 22
export const EFBIG = 27
export const ENOSPC = 28
export const ESPIPE = 29
export const EROFS = 30
export const EPIPE = 32
export const ERANGE = 34
export const ENAMETOOLONG = 36
export const ENOSYS = 38
export const ENOTEMPTY = 39
export const ENODATA = 61
export const ENOPKG = 65
export const EPROTO = 71
export const EBADMSG = 74
export const EOVERFLOW = 75
export const EOPNOTSUPP = 95
export const ENOTCONN = 107
export const ETIMEDOUT = 110

const texts: Record<number, [string, string]> = {
  [EPERM]: ['EPERM', 'Operation not permitted'],
  [ENOENT]: ['ENOENT', 'No such file or directory'],
  [ESRCH]: ['ESRCH', 'No such process'],
  [EINTR]: ['EINTR', 'Interrupted system call'],
  [EIO]: ['EIO', 'Input/output error'],
  [ENXIO]: ['ENXIO', 'No such device or address'],
  [E2BIG]: ['E2BIG', 'Argument list too long'],
  [ENOEXEC]: ['ENOEXEC', 'Exec format error'],
  [EBADF]: ['EBADF', 'Bad file descriptor'],
  [EAGAIN]: ['EAGAIN', 'Resource temporarily unavailable'],
  [ENOMEM]: ['ENOMEM', 'Cannot allocate memory'],
  [EACCES]: ['EACCES', 'Permission denied'],
  [EFAULT]: ['EFAULT', 'Bad address'],
  [EBUSY]: ['EBUSY', 'Device or resource busy'],
  [EEXIST]: ['EEXIST', 'File exists'],
  [ENODEV]: ['ENODEV', 'No such device'],
  [ENOTDIR]: ['ENOTDIR', 'Not a directory'],
  [EISDIR]: ['EISDIR', 'Is a directory'],
  [EINVAL]: ['EINVAL', 'Invalid argument'],
  [EFBIG]: ['EFBIG', 'File too large'],
  [ENOSPC]: ['ENOSPC', 'No space left on device'],
  [ESPIPE]: ['ESPIPE', 'Illegal seek'],
  [EROFS]: ['EROFS', 'Read-only file system'],
  [EPIPE]: ['EPIPE', 'Broken pipe'],
  [ERANGE]: ['ERANGE', 'Numerical result out of range'],
  [ENAMETOOLONG]: ['ENAMETOOLONG', 'File name too long'],
  [ENOSYS]: ['ENOSYS', 'Function not implemented'],
  [ENOTEMPTY]: ['ENOTEMPTY', 'Directory not empty'],
  [ENODATA]: ['ENODATA', 'No data available'],
  [ENOPKG]: ['ENOPKG', 'Package not installed'],
  [EPROTO]: ['EPROTO', 'Protocol error'],
  [EBADMSG]: ['EBADMSG', 'Bad message'],
  [EOVERFLOW]: ['EOVERFLOW', 'Value too large for defined data type'],
  [EOPNOTSUPP]: ['EOPNOTSUPP', 'Operation not supported'],
  [ENOTCONN]: ['ENOTCONN', 'Transport endpoint is not connected'],
  [ETIMEDOUT]: ['ETIMEDOUT', 'Connection timed out'],
}

/** strerror() of a positive or negative errno. */
export function strerror(errno: number): string {
  const e = Math.abs(errno)
  return texts[e]?.[1] ?? `Unknown error ${e}`
}

/** Symbolic name ("EINVAL") of a positive or negative errno. */
export function errnoName(errno: number): string {
  const e = Math.abs(errno)
  return texts[e]?.[0] ?? `E${e}`
}

export function errnoFromName(name: string): number | undefined {
  const upper = name.toUpperCase()
  if (upper === 'EWOULDBLOCK') return EAGAIN
  for (const [num, [n]] of Object.entries(texts)) if (n === upper) return Number(num)
  return undefined
}

/** An Error carrying a kernel errno (positive), thrown at API edges. */
export class ErrnoError extends Error {
  readonly errno: number
  readonly code: string
  constructor (errno: number, message?: string) {
    super(message ?? strerror(errno))
    this.errno = Math.abs(errno)
    this.code = errnoName(this.errno)
  }
}
