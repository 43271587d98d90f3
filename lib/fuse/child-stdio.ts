// Child processes of a process that serves FUSE mounts inherit libfuse's
// /dev/fuse descriptors: libfuse 2 opens them without O_CLOEXEC and node
// cannot set the flag. A child holding one keeps the connection alive after
// the serving process died, so accesses to the mount hang instead of failing
// with ENOTCONN, and a child blocked on the mount can then never be killed
// (only an abort through /sys/fs/fuse/connections/N/abort frees it).
// childStdio() gives a child /dev/null in place of those descriptors.
import { openSync, readdirSync, readlinkSync } from 'fs'
import type { IOType, StdioNull, StdioPipe } from 'child_process'

type StdioEntry = IOType | 'ipc' | StdioNull | StdioPipe | number | null | undefined | import('stream').Stream

/** This process's open /dev/fuse descriptors. */
export function fuseDeviceFds (): number[] {
  const fds: number[] = []
  for (const name of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) === '/dev/fuse') fds.push(Number(name))
    } catch { /* closed meanwhile (e.g. the directory's own descriptor) */ }
  }
  return fds.sort((a, b) => a - b)
}

let devNull: number | undefined

/**
 * The stdio option for child_process.spawn(): the given stdio (default
 * 'pipe' for all three) followed by /dev/null for every inherited /dev/fuse
 * descriptor.
 */
export function childStdio (stdio: IOType | StdioEntry[] = 'pipe'): StdioEntry[] {
  const out: StdioEntry[] = Array.isArray(stdio) ? [...stdio] : [stdio, stdio, stdio]
  const fds = fuseDeviceFds().filter((fd) => fd > 2)
  if (fds.length === 0) return out
  // opened by node, so close-on-exec itself; the child gets dup2() copies
  devNull ??= openSync('/dev/null', 'r')
  for (let i = out.length; i <= fds[fds.length - 1]; i++) out.push('ignore')
  for (const fd of fds) if (out[fd] === 'ignore' || out[fd] === undefined) out[fd] = devNull
  return out
}
