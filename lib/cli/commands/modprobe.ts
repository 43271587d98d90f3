// modprobe: kmod's modprobe for the simulated kernel, kept to what its users
// need: load a module by name with its dependencies (modinfo depends=), -r to
// remove one and the dependencies it leaves unused, -a, -q, -n/--dry-run, -v,
// --first-time, -d/-S. Modules are looked up in <root>/lib/modules/<release>
// ($KLPSIM_MODULES replaces it), then among the modules klpsim ships.
import { resolve } from 'node:path'
import type { InfoReply } from '../../control/requests/info'
import type { ModuleStateReply } from '../../control/requests/module'
import { EBUSY, EEXIST, ENOENT, strerror } from '../../kobject/errno'
import { builtinKo } from '../../module-file'
import { call, Instance, MOUNT_OPTION, resolveInstance, runTool } from '../daemon-client'
import { getopt, has, lastValue } from '../getopt'
import { libkmodRemoveErrorLine, modnameOf, modprobeText } from '../kmod-text'
import { findModule, FoundModule, modulesDirs } from '../module-lookup'
import { readModinfo } from '../modinfo-reader'
import { readModuleFileFrom } from '../module-file-io'
import { toolCommand } from '../tool'
import type { InsmodReply } from '../../control/requests/insmod'

const USAGE = `Usage:
\tmodprobe [options] modulename [parameters...]
\tmodprobe [options] -a modulename [modulename...]
\tmodprobe [options] -r modulename [modulename...]
Options:
\t-a, --all                   Consider every non-argument to be a module name
\t-r, --remove                Remove modules instead of inserting
\t    --first-time            Fail if module already inserted or removed
\t-n, --dry-run               Do not execute operations, just print out
\t-d, --dirname=DIR           Use DIR as filesystem root for /lib/modules
\t-S, --set-version=VERSION   Use VERSION instead of the simulated kernel's release
\t-q, --quiet                 disable messages
\t-v, --verbose               enables more messages
\t-V, --version               show version
\t-h, --help                  show this help
\t    --mount DIR             the klpsim instance (default $KLPSIM_MOUNT, else ./mountpoint)
Modules are looked up in <root>/lib/modules/<release> (or the directories in
$KLPSIM_MODULES), then among the modules klpsim ships.
`

interface Ctx {
  inst: Instance
  /** The kernel release modules are for (the daemon's, or -S). */
  release: string
  dirs: string[]
  quiet: boolean
  verbose: boolean
  dryRun: boolean
  firstTime: boolean
}

type Module = { name: string, found: FoundModule | { kind: 'path', path: string } }

function log (c: Ctx, line: string): void {
  if (!c.quiet) process.stderr.write(line + '\n')
}

async function bytesOf (c: Ctx, m: Module): Promise<Buffer | number> {
  if (m.found.kind === 'shipped') return builtinKo(m.found.module, c.release)
  const r = await readModuleFileFrom(m.found.path)
  return 'data' in r ? r.data : -r.errno
}

async function dependsOf (c: Ctx, m: Module): Promise<string[]> {
  const bytes = await bytesOf(c, m)
  if (typeof bytes === 'number') return []
  const info = readModinfo(bytes)
  if ('errno' in info) return []
  const deps = info.entries.find(([k]) => k === 'depends')?.[1] ?? ''
  return deps.split(',').filter(d => d !== '')
}

async function stateOf (c: Ctx, name: string): Promise<ModuleStateReply> {
  return call<ModuleStateReply>('modprobe', c.inst, { type: 'module', name })
}

/** kmod's probe_insert: dependencies first, loaded modules skipped; 0 or -errno (already reported). */
async function insert (c: Ctx, m: Module, options: string[], seen: Set<string>, dependency = false): Promise<number> {
  if (seen.has(m.name)) return 0
  seen.add(m.name)
  for (const dep of await dependsOf(c, m)) {
    const found = await findModule(dep, c.dirs)
    if (!found) {
      log(c, modprobeText.notFoundIn(dep, c.dirs.join(':')))
      return -ENOENT
    }
    const rc = await insert(c, { name: modnameOf(dep, false), found }, [], seen, true)
    if (rc < 0) return rc
  }
  const st = await stateOf(c, m.name)
  if (st.present && st.initstate !== 'going') {
    // --first-time is about the module asked for; loaded dependencies are fine
    if (!c.firstTime || dependency) return 0
    log(c, modprobeText.insertFailed(m.name, EEXIST))
    return -EEXIST
  }
  if (c.verbose || c.dryRun) {
    if (c.verbose) process.stdout.write(`insmod ${m.found.path} ${options.join(' ')}\n`)
    if (c.dryRun) return 0
  }
  const bytes = await bytesOf(c, m)
  let ret: number
  if (typeof bytes === 'number') {
    ret = bytes
  } else {
    const reply = await call<InsmodReply>('modprobe', c.inst, { type: 'insmod', ko: bytes.toString('base64'), args: options, comm: 'modprobe' })
    ret = reply.ret
  }
  if (ret < 0) log(c, modprobeText.insertFailed(m.name, -ret))
  return ret
}

async function removeModule (c: Ctx, name: string): Promise<number> {
  if (c.verbose || c.dryRun) {
    if (c.verbose) process.stdout.write(`rmmod ${name}\n`)
    if (c.dryRun) return 0
  }
  const { ret } = await call<{ ret: number }>('modprobe', c.inst, { type: 'rmmod', name, comm: 'modprobe' })
  if (ret < 0) log(c, libkmodRemoveErrorLine('modprobe', name, -ret))
  return ret
}

/** kmod's rmmod_do_module: not loaded is success, in use is refused, unused dependencies follow. */
async function remove (c: Ctx, m: Module): Promise<number> {
  const st = await stateOf(c, m.name)
  if (!st.present) {
    if (!c.firstTime) return 0
    log(c, modprobeText.notInKernel(m.name))
    return -ENOENT
  }
  if ((st.refcnt ?? 0) > 0) {
    log(c, modprobeText.inUse(m.name))
    return -EBUSY
  }
  const ret = await removeModule(c, m.name)
  if (ret < 0) return ret
  for (const dep of await dependsOf(c, m)) {
    const d = await stateOf(c, modnameOf(dep, false))
    if (d.present && d.refcnt === 0) await removeModule(c, modnameOf(dep, false))
  }
  return 0
}

/** A module argument: a path (/... or ./...) or a name looked up in the modules directories. */
async function lookup (c: Ctx, arg: string, removing: boolean): Promise<Module | number> {
  if (!removing && (arg.startsWith('/') || arg.startsWith('./'))) {
    const r = await readModuleFileFrom(arg)
    if ('stage' in r && r.stage === 'open') {
      log(c, `modprobe: FATAL: Failed to get module from path ${arg}: ${strerror(r.errno)}`)
      return -ENOENT
    }
    return { name: modnameOf(arg, true), found: { kind: 'path', path: resolve(arg) } }
  }
  const found = await findModule(arg, c.dirs)
  if (!found) {
    log(c, removing ? modprobeText.notFound(arg) : modprobeText.notFoundIn(arg, c.dirs.join(':')))
    return -ENOENT
  }
  return { name: found.kind === 'shipped' ? found.module.def.name : modnameOf(found.path, true), found }
}

/** modprobe's options_from_array: values with spaces get quoted for the kernel. */
function moduleOptions (args: string[]): string[] {
  return args.map((a) => {
    const eq = a.indexOf('=')
    if (eq < 0) return a
    const value = a.slice(eq + 1)
    if (value.startsWith('"') || value.startsWith("'") || !value.includes(' ')) return a
    return `${a.slice(0, eq + 1)}"${value}"`
  })
}

export const command = toolCommand('modprobe', 'load or remove modules by name with their dependencies (kmod modprobe)', (argv) => runTool(async () => {
  const parsed = getopt(argv, {
    short: 'arnd:S:qvVh',
    long: [
      { name: 'all', arg: 'none', key: 'a' },
      { name: 'remove', arg: 'none', key: 'r' },
      { name: 'first-time', arg: 'none', key: 'first-time' },
      { name: 'dry-run', arg: 'none', key: 'n' },
      { name: 'show', arg: 'none', key: 'n' },
      { name: 'dirname', arg: 'required', key: 'd' },
      { name: 'set-version', arg: 'required', key: 'S' },
      { name: 'quiet', arg: 'none', key: 'q' },
      { name: 'verbose', arg: 'none', key: 'v' },
      { name: 'version', arg: 'none', key: 'V' },
      { name: 'help', arg: 'none', key: 'h' },
      MOUNT_OPTION,
    ],
  })
  if (!parsed.ok) {
    process.stderr.write(`modprobe: ${parsed.error}\n`)
    return 1
  }
  const o = parsed.options
  if (has(o, 'h')) { process.stdout.write(USAGE); return 0 }
  if (has(o, 'V')) { process.stdout.write('kmod version 30 (klpsim modprobe)\n'); return 0 }
  const quiet = has(o, 'q')
  if (parsed.operands.length === 0) {
    if (!quiet) process.stderr.write(modprobeText.missingParameters() + '\n')
    return 1
  }
  const inst = resolveInstance(lastValue(o, 'mount'))
  let release = lastValue(o, 'S')
  if (release === undefined) release = (await call<InfoReply>('modprobe', inst, { type: 'info' })).release
  const c: Ctx = {
    inst,
    release,
    dirs: modulesDirs(release, lastValue(o, 'd') ?? ''),
    quiet,
    verbose: has(o, 'v') && !quiet,
    dryRun: has(o, 'n'),
    firstTime: has(o, 'first-time'),
  }
  const removing = has(o, 'r')
  const names = removing || has(o, 'a') ? parsed.operands : [parsed.operands[0]]
  const options = removing || has(o, 'a') ? [] : moduleOptions(parsed.operands.slice(1))
  let failed = false
  for (const name of names) {
    const m = await lookup(c, name, removing)
    if (typeof m === 'number') { failed = true; continue }
    const rc = removing ? await remove(c, m) : await insert(c, m, options, new Set())
    if (rc < 0) failed = true
  }
  return failed ? 1 : 0
}))
