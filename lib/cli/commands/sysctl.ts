// sysctl: procps-ng's sysctl over the simulated kernel's /proc/sys.
import { promises as fsp } from 'node:fs'
import type { SysctlReply } from '../../control/requests/sysctl'
import { EACCES, EIO, EISDIR, ENOENT, EPERM, EROFS, strerror } from '../../kobject/errno'
import { call, Instance, MOUNT_OPTION, resolveInstance, runTool } from '../daemon-client'
import { getopt, GetoptResult } from '../getopt'
import { toolCommand } from '../tool'

const PROC_PATH = '/proc/sys/'
const DEFAULT_PRELOAD = '/etc/sysctl.conf'
const DEPRECATED = ['base_reachable_time', 'retrans_time']
const VERBOTEN = ['stat_refresh']

const USAGE = `
Usage:
 sysctl [options] [variable[=value] ...]

Options:
  -a, --all            display all variables
  -A                   alias of -a
  -X                   alias of -a
      --deprecated     include deprecated parameters to listing
      --dry-run        Print the key and values but do not write
  -b, --binary         print value without new line
  -e, --ignore         ignore unknown variables errors
  -N, --names          print variable names without values
  -n, --values         print only values of the given variable(s)
  -p, --load[=<file>]  read values from file
  -f                   alias of -p
  -r, --pattern <expression>
                       select setting that match expression
  -q, --quiet          do not echo variable set
  -w, --write          enable writing a value to variable
  -o                   does nothing
  -x                   does nothing
  -d                   alias of -h
      --mount <dir>    the klpsim instance (default $KLPSIM_MOUNT, else ./mountpoint)

 -h, --help     display this help and exit
 -V, --version  output version information and exit

For more details see sysctl(8).
`

/** procps' slashdot(): a key separated by '.' becomes a path and back; a key already in the target form stays. */
export function slashdot (s: string, from: '.' | '/', to: '.' | '/'): string {
  const first = s.search(/[/.]/)
  if (first < 0 || s[first] === to) return s
  return s.replace(/[/.]/g, (c) => (c === from ? to : from))
}

interface Flags {
  printName: boolean
  printNewline: boolean
  ignoreError: boolean
  nameOnly: boolean
  quiet: boolean
  dryRun: boolean
  ignoreDeprecated: boolean
  pattern: RegExp | null
}

interface Setting { key: string, path: string, value: string | null, ignoreFailure: boolean, globExclude: boolean }

class Sysctl {
  out = ''
  constructor (private readonly inst: Instance, private readonly f: Flags) {}

  private warn (msg: string): void {
    this.flush()
    process.stderr.write(`sysctl: ${msg}\n`)
  }

  flush (): void {
    if (this.out) process.stdout.write(this.out)
    this.out = ''
  }

  private async op (req: Record<string, unknown>): Promise<SysctlReply> {
    return call<SysctlReply>('sysctl', this.inst, { type: 'sysctl', ...req })
  }

  private rel (procPath: string): string { return procPath.slice(PROC_PATH.length) }

  async readSetting (name: string): Promise<number> {
    if (!name) {
      this.warn(`"${name}" is an unknown key`)
      return -1
    }
    const tmpname = PROC_PATH + slashdot(name, '.', '/')
    const outname = slashdot(name, '/', '.')
    const st = await this.op({ op: 'stat', path: this.rel(tmpname) })
    if ('errno' in st) {
      if (this.f.ignoreError) return 0
      this.warn(`cannot stat ${tmpname}: ${strerror(st.errno)}`)
      return 1
    }
    if (!('kind' in st)) return 1
    if ((st.mode & 0o400) === 0) return 0
    if (st.kind === 'dir') return this.displayAll(tmpname + '/')
    if (this.f.pattern && !this.f.pattern.test(outname)) return 0
    if (this.f.nameOnly) {
      this.out += `${outname}\n`
      return 0
    }
    const r = await this.op({ op: 'read', path: this.rel(tmpname) })
    if ('errno' in r) {
      switch (r.errno) {
        case ENOENT:
          if (this.f.ignoreError) return 0
          this.warn(`"${outname}" is an unknown key`)
          return 1
        case EACCES: this.warn(`permission denied on key '${outname}'`); return 1
        case EIO: return 1
        case EISDIR: return this.displayAll(tmpname + '/')
        default: this.warn(`reading key "${outname}": ${strerror(r.errno)}`); return 1
      }
    }
    if (!('value' in r)) return 1
    for (const line of splitLines(r.value)) {
      if (this.f.printName) this.out += `${outname} = ${line.endsWith('\n') ? line : line + '\n'}`
      else this.out += this.f.printNewline ? line : line.replace(/\n$/, '')
    }
    return 0
  }

  async displayAll (dir: string): Promise<number> {
    const listed = await this.op({ op: 'list', path: this.rel(dir) })
    if (!('files' in listed)) {
      this.warn(`unable to open directory "${dir}"`)
      return 1
    }
    let rc = 0
    for (const file of listed.files) {
      const parts = file.split('/')
      if (parts.some(p => VERBOTEN.includes(p))) continue
      if (this.f.ignoreDeprecated && DEPRECATED.includes(parts[parts.length - 1])) continue
      rc |= await this.readSetting(file)
    }
    return rc
  }

  async writeSetting (s: Setting): Promise<number> {
    const rel = this.rel(s.path)
    const st = await this.op({ op: 'stat', path: rel })
    if ('errno' in st) {
      if (this.f.ignoreError) return 0
      this.warn(`cannot stat ${s.path}: ${strerror(st.errno)}`)
      return 1
    }
    if (!('kind' in st)) return 1
    const dotted = slashdot(rel, '/', '.')
    if ((st.mode & 0o200) === 0) { this.warn(`setting key "${dotted}": ${strerror(EPERM)}`); return 1 }
    if (st.kind === 'dir') { this.warn(`setting key "${dotted}": ${strerror(EISDIR)}`); return 1 }
    const value = s.value ?? ''
    if (!this.f.dryRun) {
      const w = await this.op({ op: 'write', path: rel, value: value + '\n' })
      if ('errno' in w) {
        const ignoring = s.ignoreFailure ? ', ignoring' : ''
        if (w.syscall === 'open') {
          if (w.errno === ENOENT) {
            if (this.f.ignoreError) return 0
            this.warn(`"${dotted}" is an unknown key${ignoring}`)
          } else if (w.errno === EPERM || w.errno === EROFS || w.errno === EACCES) {
            this.warn(`permission denied on key "${dotted}"${ignoring}`)
          } else {
            this.warn(`setting key "${dotted}"${ignoring}: ${strerror(w.errno)}`)
          }
          return s.ignoreFailure ? 0 : 1
        }
        this.warn(`setting key "${dotted}": ${strerror(w.errno)}`)
        return 1
      }
    }
    if (!this.f.quiet || this.f.dryRun) {
      if (this.f.nameOnly) this.out += `${dotted}\n`
      else if (this.f.printName) this.out += `${dotted} = ${value}\n`
      else this.out += this.f.printNewline ? `${value}\n` : value
    }
    return 0
  }

  /** A `key = value` line (command line or file); null when it is not one. */
  parseSettingLine (where: string, lineno: number, raw: string): Setting | null {
    let key = raw.replace(/^\s+/, '')
    if (key.length < 2) return null
    if (key[0] === '#' || key[0] === ';') return null
    if (this.f.pattern && !this.f.pattern.test(key)) return null
    const eq = key.indexOf('=')
    let value: string | null = null
    let ignoreFailure = false
    let globExclude = false
    if (eq < 0) {
      if (key[0] !== '-') {
        this.warn(`${where}(${lineno}): invalid syntax, continuing...`)
        return null
      }
      globExclude = true
      key = key.slice(1).replace(/\s+$/, '')
    } else {
      value = key.slice(eq + 1).trim()
      key = key.slice(0, eq)
      if (key[0] === '-') { ignoreFailure = true; key = key.slice(1) }
      key = key.replace(/\s+$/, '')
    }
    return { key, path: PROC_PATH + slashdot(key, '.', '/'), value, ignoreFailure, globExclude }
  }

  /** Settings from files (-p): globbed keys expand over the simulated /proc/sys. */
  async writeSettingList (list: Setting[]): Promise<number> {
    let rc = 0
    let all: string[] | null = null
    const excluded = (path: string): boolean => list.some(s => s.globExclude && globRegExp(s.path).test(path))
    for (const s of list) {
      if (s.globExclude) continue
      if (/[*?[]/.test(s.path)) {
        if (all === null) {
          const listed = await this.op({ op: 'list', path: '' })
          all = 'files' in listed ? listed.files.map(f => PROC_PATH + f) : []
        }
        const re = globRegExp(s.path)
        for (const path of all.filter(p => re.test(p))) {
          if (list.some(o => o !== s && !o.globExclude && o.path === path) || excluded(path)) continue
          rc |= await this.writeSetting({ ...s, path })
        }
      } else {
        rc |= await this.writeSetting(s)
      }
    }
    return rc
  }

  async preload (file: string, list: Setting[]): Promise<number> {
    let text: string
    try {
      text = file === '-' ? await readStdin() : await fsp.readFile(file, 'utf8')
    } catch (e) {
      this.warn(`cannot open "${file}": ${strerror(errnoOfCode((e as NodeJS.ErrnoException).code))}`)
      return 1
    }
    let n = 0
    for (const line of text.split('\n')) {
      n++
      if (line.length < 1) continue
      const s = this.parseSettingLine(file, n, line)
      if (s) list.push(s)
    }
    return 0
  }
}

function errnoOfCode (code: string | undefined): number {
  return code === 'ENOENT' ? ENOENT : code === 'EACCES' ? EACCES : code === 'EISDIR' ? EISDIR : EIO
}

/** Lines of a value, each with its newline (the last one may have none). */
function splitLines (v: string): string[] {
  const out: string[] = []
  let start = 0
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '\n') { out.push(v.slice(start, i + 1)); start = i + 1 }
  }
  if (start < v.length) out.push(v.slice(start))
  return out
}

function globRegExp (glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]
    if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2)
      if (end < 0) { re += '\\['; continue }
      const body = glob.slice(i + 1, end)
      re += `[${body.startsWith('!') ? '^' + body.slice(1) : body}]`
      i = end
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

function readStdin (): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = ''
    process.stdin.setEncoding('utf8')
    process.stdin.on('data', (d) => { data += d })
    process.stdin.on('end', () => resolve(data))
    process.stdin.on('error', reject)
  })
}

function parse (argv: string[]): GetoptResult {
  return getopt(argv, {
    short: 'bneNwfp::qoxaAXr:Vdh',
    long: [
      { name: 'all', arg: 'none', key: 'a' },
      { name: 'deprecated', arg: 'none', key: 'deprecated' },
      { name: 'dry-run', arg: 'none', key: 'dry-run' },
      { name: 'binary', arg: 'none', key: 'b' },
      { name: 'ignore', arg: 'none', key: 'e' },
      { name: 'names', arg: 'none', key: 'N' },
      { name: 'values', arg: 'none', key: 'n' },
      { name: 'load', arg: 'optional', key: 'p' },
      { name: 'quiet', arg: 'none', key: 'q' },
      { name: 'write', arg: 'none', key: 'w' },
      { name: 'system', arg: 'none', key: 'system' },
      { name: 'pattern', arg: 'required', key: 'r' },
      { name: 'help', arg: 'none', key: 'h' },
      { name: 'version', arg: 'none', key: 'V' },
      MOUNT_OPTION,
    ],
  })
}

export const command = toolCommand('sysctl', 'read and write the simulated kernel\'s sysctls (procps-ng sysctl)', (argv) => runTool(async () => {
  if (argv.length === 0) {
    process.stderr.write(USAGE)
    return 1
  }
  const parsed = parse(argv)
  if (!parsed.ok) {
    // procps answers an unknown option with the usage on stdout, and success
    process.stderr.write(`sysctl: ${parsed.error}\n`)
    process.stdout.write(USAGE)
    return 0
  }
  const f: Flags = { printName: true, printNewline: true, ignoreError: false, nameOnly: false, quiet: false, dryRun: false, ignoreDeprecated: true, pattern: null }
  let writeMode = false
  let displayAll = false
  let preloadOpt = false
  let preloadFile: string | undefined
  let mount: string | undefined
  for (const o of parsed.options) {
    switch (o.key) {
      case 'b': f.printNewline = false; f.printName = false; break
      case 'n': f.printName = false; break
      case 'e': f.ignoreError = true; break
      case 'N': f.nameOnly = true; break
      case 'w': writeMode = true; break
      case 'f': case 'p': preloadOpt = true; if (o.value !== undefined) preloadFile = o.value; break
      case 'q': f.quiet = true; break
      case 'a': case 'A': case 'X': displayAll = true; break
      case 'deprecated': f.ignoreDeprecated = false; break
      case 'dry-run': f.dryRun = true; break
      case 'r':
        try { f.pattern = new RegExp(o.value ?? '') } catch { f.pattern = /(?!)/ }
        break
      case 'system':
        process.stderr.write('sysctl: --system: the simulated kernel has no system sysctl.d directories; use -p FILE\n')
        return 1
      case 'mount': mount = o.value; break
      case 'V': process.stdout.write('sysctl from procps-ng 4.0.2 (klpsim)\n'); return 0
      case 'd': case 'h': process.stdout.write(USAGE); return 0
    }
  }
  const inst = resolveInstance(mount)
  const s = new Sysctl(inst, f)
  try {
    const args = parsed.operands
    if (displayAll) return await s.displayAll(PROC_PATH)
    if (preloadOpt) {
      const list: Setting[] = []
      let rc = 0
      if (preloadFile === undefined) {
        if (args.length === 0) rc |= await s.preload(DEFAULT_PRELOAD, list)
      } else {
        rc |= await s.preload(preloadFile, list)
      }
      for (const a of args) rc |= await s.preload(a, list)
      return rc | await s.writeSettingList(list)
    }
    if (args.length === 0) {
      process.stderr.write("sysctl: no variables specified\nTry `sysctl --help' for more information.\n")
      return 1
    }
    if (f.nameOnly && f.quiet) {
      process.stderr.write("sysctl: options -N and -q cannot coexist\nTry `sysctl --help' for more information.\n")
      return 1
    }
    let rc = 0
    for (const a of args) {
      if (writeMode || a.includes('=')) {
        const setting = s.parseSettingLine('command line', 0, a)
        if (setting && !setting.globExclude) rc |= await s.writeSetting(setting)
        else rc |= 1
      } else {
        rc += await s.readSetting(a)
      }
    }
    return rc === 0 ? 0 : (rc < 0 ? 255 : Math.min(rc, 255))
  } finally {
    s.flush()
  }
}))
