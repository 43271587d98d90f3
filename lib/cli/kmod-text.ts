// The texts kmod's tools (version 30, as Debian ships it) print.
import { EEXIST, ENOENT, ENOEXEC, ESRCH, EINVAL, strerror } from '../kobject/errno'

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

/** The failed finit_module() line; path exactly as given on the command line. */
export function insmodErrorLine (path: string, errno: number): string {
  return `insmod: ERROR: could not insert module ${path}: ${insmodErrorText(errno)}`
}

/** insmod could not even open the file (kmod_module_new_from_path failed). */
export function insmodLoadErrorLine (path: string, errno: number): string {
  return `insmod: ERROR: could not load module ${path}: ${strerror(errno)}`
}

/** The line libkmod logs when delete_module() fails (kmod 30: libkmod-module.c line 856). */
export function libkmodRemoveErrorLine (tool: string, name: string, errno: number): string {
  return `${tool}: ERROR: ../libkmod/libkmod-module.c:856 kmod_module_remove_module() could not remove '${name}': ${strerror(errno)}`
}

/** libkmod's complaint about a module directory without holders/ (kmod_module_get_holders, line 1998). */
export function libkmodHoldersErrorLine (tool: string, name: string): string {
  return `${tool}: ERROR: ../libkmod/libkmod-module.c:1998 kmod_module_get_holders() could not open '/sys/module/${name}/holders': No such file or directory`
}

export const rmmodText = {
  notLoaded: (name: string) => `rmmod: ERROR: Module ${name} is not currently loaded`,
  inUse: (name: string) => `rmmod: ERROR: Module ${name} is in use`,
  inUseBy: (name: string, holders: readonly string[]) => `rmmod: ERROR: Module ${name} is in use by:${holders.map(h => ` ${h}`).join('')}`,
  unloadingUnsupported: () => 'rmmod: ERROR: Module unloading is not supported',
  removeFailed: (arg: string, errno: number) => `rmmod: ERROR: could not remove module ${arg}: ${strerror(errno)}`,
  missingName: () => 'rmmod: ERROR: missing module name.',
}

/** rmmod's lines when delete_module() itself fails. */
export function rmmodErrorLines (name: string, errno: number, arg = name): string[] {
  return [libkmodRemoveErrorLine('rmmod', name, errno), rmmodText.removeFailed(arg, errno)]
}

export const modinfoText = {
  notFound: (arg: string) => `modinfo: ERROR: Module ${arg} not found.`,
  nameNotFound: (name: string) => `modinfo: ERROR: Module name ${name} not found.`,
  noModinfo: (name: string, errno: number) => `modinfo: ERROR: could not get modinfo from '${name}': ${strerror(errno)}`,
  missing: () => 'modinfo: ERROR: missing module or filename.',
}

export const modprobeText = {
  notFoundIn: (name: string, dir: string) => `modprobe: FATAL: Module ${name} not found in directory ${dir}`,
  notFound: (name: string) => `modprobe: FATAL: Module ${name} not found.`,
  inUse: (name: string) => `modprobe: FATAL: Module ${name} is in use.`,
  notInKernel: (name: string) => `modprobe: FATAL: Module ${name} is not in kernel.`,
  insertFailed (name: string, errno: number): string {
    const e = Math.abs(errno)
    if (e === EEXIST) return `modprobe: ERROR: could not insert '${name}': Module already in kernel`
    if (e === ENOENT) return `modprobe: ERROR: could not insert '${name}': Unknown symbol in module, or unknown parameter (see dmesg)`
    return `modprobe: ERROR: could not insert '${name}': ${strerror(e)}`
  },
  missingParameters: () => 'modprobe: ERROR: missing parameters. See -h.',
}

/**
 * kmod's module name of a file or argument: the base name up to the first
 * '.', with '-' turned into '_' (modname_normalize / path_to_modname).
 */
export function modnameOf (arg: string, fromPath: boolean): string {
  const base = fromPath ? arg.slice(arg.lastIndexOf('/') + 1) : arg
  const dot = base.indexOf('.')
  return (dot < 0 ? base : base.slice(0, dot)).replace(/-/g, '_')
}
