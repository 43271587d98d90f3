// A request the daemon understood but the simulated world refuses (an unknown
// task, a fault kind that does not exist, advancing a real clock): a result for
// the front end to print as one line, not a protocol error.
import { errnoName } from '../../kobject/errno'

export interface Refused {
  /** One line saying what is wrong. */
  failed: string
  /** The errno the kernel-side code answered, by name (ENOENT), when there is one. */
  errno?: string
}

export function refused (message: string, errno?: number): Refused {
  return errno ? { failed: message, errno: errnoName(Math.abs(errno)) } : { failed: message }
}

export function isRefused (reply: object): reply is Refused {
  return typeof (reply as Refused).failed === 'string'
}
