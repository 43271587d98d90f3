// Which klpsim instance a command talks to: named by its mount point
// (--mount DIR, else $KLPSIM_MOUNT, else ./mountpoint).
import { resolve } from 'node:path'

export function defaultMountpoint (): string {
  return resolve(process.env.KLPSIM_MOUNT || 'mountpoint')
}
