// What `klpsim run` needs from the host, each missing piece named in one line
// with its own exit code (sysexits.h).
import { accessSync, constants, existsSync, readFileSync } from 'node:fs'

export const EX_UNAVAILABLE = 69
export const EX_OSFILE = 72
export const EX_NOPERM = 77

export class SandboxUnavailable extends Error {
  constructor (message: string, readonly exitCode: number) { super(message) }
}

const CAP_SYS_ADMIN = 21

function hasCapSysAdmin (): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))
    return m ? (BigInt('0x' + m[1]) & (1n << BigInt(CAP_SYS_ADMIN))) !== 0n : false
  } catch {
    return false
  }
}

function onPath (tool: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try { accessSync(`${dir}/${tool}`, constants.X_OK); return true } catch {}
  }
  return false
}

export function checkSandboxHost (): void {
  if (process.getuid?.() !== 0) throw new SandboxUnavailable('klpsim run needs root: it mounts file systems in a private mount namespace', EX_NOPERM)
  if (!hasCapSysAdmin()) throw new SandboxUnavailable('klpsim run needs CAP_SYS_ADMIN to create a mount namespace (this process lacks it)', EX_NOPERM)
  if (!existsSync('/dev/fuse')) throw new SandboxUnavailable('klpsim run needs /dev/fuse (load the fuse kernel module, or pass --device /dev/fuse to the container)', EX_UNAVAILABLE)
  for (const tool of ['unshare', 'mount']) {
    if (!onPath(tool)) throw new SandboxUnavailable(`klpsim run needs the util-linux '${tool}' command on PATH`, EX_OSFILE)
  }
}
