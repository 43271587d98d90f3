// The pseudo-file trees of a sandboxed command: the simulated /proc and /sys/kernel,
// with everything the simulation does not provide passed through to the real
// procfs and sysfs — as symlinks into the instances mounted inside the sandbox
// (so /proc/self, real processes and /dev/fd keep working), and as read-only
// copies for /proc/sys (procps' sysctl refuses keys that resolve outside /proc/sys).
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { EPERM } from '../kobject/errno'
import { DirProvider, KAttr, KDir, KNode, KSymlink } from '../kobject/node'
import type { Kernel } from '../kernel/kernel'

function hostEntries (dir: string): string[] {
  try { return readdirSync(dir) } catch { return [] }
}

/**
 * A directory of the host's /proc/sys: subdirectories mirrored, files readable
 * with the host's content; writes are refused (they would change the host).
 */
function hostSysctlProvider (hostDir: string, shadowed: KDir): DirProvider {
  return {
    list: () => hostEntries(hostDir).filter(n => !shadowed.children.has(n)),
    lookup: (name) => {
      if (shadowed.children.has(name) || name.includes('/')) return undefined
      const path = join(hostDir, name)
      let st
      try { st = statSync(path) } catch { return undefined }
      if (st.isDirectory()) {
        const d = new KDir(name, 0o555)
        d.provider = hostSysctlProvider(path, d)
        d.parent = shadowed
        return d
      }
      const node = new KAttr(name, st.mode & 0o777, () => {
        try { return readFileSync(path) } catch (e) { return (e as NodeJS.ErrnoException).errno ?? -5 }
      }, (st.mode & 0o222) ? () => -EPERM : undefined, 'seq')
      node.parent = shadowed
      return node
    },
  }
}

/** Mirrors host directories below an existing simulated one (e.g. /proc/sys over the simulated /proc/sys/kernel). */
function mirrorSysctl (dir: KDir, hostDir: string): void {
  dir.provider = hostSysctlProvider(hostDir, dir)
  for (const child of dir.children.values()) {
    if (child instanceof KDir) mirrorSysctl(child, join(hostDir, child.name))
  }
}

export interface OverlayPaths {
  /** Where the sandbox mounts a real procfs (the symlink targets). */
  realProc: string
  /** Where the sandbox mounts a real sysfs. */
  realSys: string
  /** The daemon's view of the host procfs (normally /proc). */
  hostProc?: string
}

/** Turns the kernel's /proc and /sys/kernel into overlays of the real ones. */
export function installOverlays (k: Kernel, paths: OverlayPaths): void {
  const hostProc = paths.hostProc ?? '/proc'
  const proc = k.procfs.root
  const simulated = proc.provider!
  proc.provider = {
    list: () => {
      const names = new Set<string>(simulated.list())
      for (const n of hostEntries(hostProc)) if (!proc.children.has(n)) names.add(n)
      return names
    },
    lookup: (name) => {
      const pid = /^[1-9]\d*$/.test(name) ? Number(name) : undefined
      const task = pid !== undefined ? k.sched.find(pid) : undefined
      if (task && task.origin === 'host-process') return hostProcessDir(simulated.lookup(name) as KDir | undefined, name, paths.realProc)
      const sim = simulated.lookup(name)
      if (sim) return sim
      if (proc.children.has(name)) return undefined
      if (hostEntries(hostProc).includes(name) || (pid !== undefined && exists(join(hostProc, name)))) {
        return new KSymlink(name, `${paths.realProc}/${name}`)
      }
      return undefined
    },
  }
  mirrorSysctl(proc.ensureDir('sys', 0o555), join(hostProc, 'sys'))

  const sysKernel = k.sysKernel
  const realKernel = `${paths.realSys}/kernel`
  sysKernel.provider = {
    list: () => hostEntries('/sys/kernel').filter(n => !sysKernel.children.has(n)),
    lookup: (name) => (sysKernel.children.has(name) || !hostEntries('/sys/kernel').includes(name) ? undefined : new KSymlink(name, `${realKernel}/${name}`)),
  }
}

function exists (path: string): boolean {
  try { statSync(path); return true } catch { return false }
}

/**
 * A real process the simulation mirrors (e.g. a getpid hammer): its simulated
 * patch_state and stack, everything else from the real procfs.
 */
function hostProcessDir (sim: KDir | undefined, name: string, realProc: string): KNode {
  const d = new KDir(name, 0o555)
  if (sim) {
    for (const file of ['patch_state', 'stack']) {
      const node = sim.children.get(file)
      if (node) d.children.set(file, node)
    }
  }
  d.provider = {
    list: () => hostEntries(`/proc/${name}`).filter(n => !d.children.has(n)),
    lookup: (entry) => (d.children.has(entry) ? undefined : new KSymlink(entry, `${realProc}/${name}/${entry}`)),
  }
  return d
}
