// Dynamic debug: every pr_debug site is registered here and prints only when its
// 'p' flag is set through <debugfs>/dynamic_debug/control.
import { E2BIG, EINVAL } from '../kobject/errno'

export interface DebugSite {
  readonly modname: string
  readonly filename: string
  readonly func: string
  readonly lineno: number
  readonly format: string
  flags: string // subset of "pmfslt", in that order
}

const FLAG_ORDER = 'pmfslt'

export class DynamicDebug {
  readonly sites: DebugSite[] = []
  /** Logs a pr_warn from the control file parser ("dynamic_debug: ..."). */
  warn: (msg: string) => void = () => {}

  site (modname: string, filename: string, func: string, lineno: number, format: string): DebugSite {
    const s: DebugSite = { modname, filename, func, lineno, format, flags: '' }
    this.sites.push(s)
    return s
  }

  removeModule (modname: string): void {
    for (let i = this.sites.length - 1; i >= 0; i--) if (this.sites[i].modname === modname) this.sites.splice(i, 1)
  }

  /** The prefix the m/f/s/l/t flags add in front of the message. */
  prefix (s: DebugSite, tid: number): string {
    let p = ''
    if (s.flags.includes('t')) p += `[${tid}] `
    const start = p.length
    if (s.flags.includes('m')) p += s.modname + ':'
    if (s.flags.includes('f')) p += s.func + ':'
    if (s.flags.includes('s')) p += s.filename + ':'
    if (s.flags.includes('l')) p += s.lineno + ':'
    if (p.length > start) p += ' '
    return p
  }

  /** The control file's content. */
  show (): string {
    let out = '# filename:lineno [module]function flags format\n'
    for (const s of this.sites) {
      out += `${s.filename}:${s.lineno} [${s.modname}]${s.func} =${s.flags || '_'} "${escapeFormat(s.format)}"\n`
    }
    return out
  }

  /** A write to the control file: queries separated by newlines or ';'. Bytes consumed or -errno. */
  write (data: string): number {
    if (data.length > 4095) {
      this.warn('expected <4096 bytes into control')
      return -E2BIG
    }
    let errs = 0
    let lastErr = 0
    for (const raw of data.split(/[\n;]/)) {
      const q = raw.replace(/#.*$/, '').trim()
      if (!q) continue
      const rc = this.execQuery(q)
      if (rc < 0) { errs++; lastErr = rc }
    }
    return errs ? lastErr : data.length
  }

  private execQuery (query: string): number {
    const words = tokenize(query)
    if (!words) { this.warn(`bad query: ${query}`); return -EINVAL }
    if (words.length === 0) return -EINVAL
    const flagWord = words[words.length - 1]
    const m = /^([-+=])([pmfslt_]*)$/.exec(flagWord)
    if (!m) { this.warn(`bad flag-op ${flagWord[0]}, at start of ${flagWord}`); return -EINVAL }
    const keys = words.slice(0, -1)
    if (keys.length % 2) { this.warn(`expecting pairs of match-spec <value>`); return -EINVAL }
    const match: { func?: string, file?: string, module?: string, format?: string, first?: number, last?: number } = {}
    for (let i = 0; i < keys.length; i += 2) {
      const [k, v] = [keys[i], keys[i + 1]]
      switch (k) {
        case 'func': match.func = v; break
        case 'file': {
          // "file name.c:line" is accepted as file plus line
          const fl = /^(.*):(\d+)$/.exec(v)
          if (fl) { match.file = fl[1]; match.first = match.last = Number(fl[2]) } else match.file = v
          break
        }
        case 'module': match.module = v; break
        case 'format': match.format = unescapeFormat(v); break
        case 'line': {
          const r = /^(\d*)(?:-(\d*))?$/.exec(v)
          if (!r) { this.warn(`bad line-number: ${v}`); return -EINVAL }
          match.first = r[1] ? Number(r[1]) : 0
          match.last = r[2] !== undefined ? (r[2] ? Number(r[2]) : Number.MAX_SAFE_INTEGER) : match.first
          if (!r[1] && r[2] === undefined) { this.warn(`bad line-number: ${v}`); return -EINVAL }
          break
        }
        default: this.warn(`unknown keyword "${k}"`); return -EINVAL
      }
    }
    const op = m[1]
    const flags = m[2].replace(/_/g, '')
    let n = 0
    for (const s of this.sites) {
      if (match.func !== undefined && !wildcard(match.func, s.func)) continue
      if (match.file !== undefined && !wildcard(match.file, s.filename) && !wildcard(match.file, basename(s.filename))) continue
      if (match.module !== undefined && !wildcard(match.module, s.modname)) continue
      if (match.format !== undefined && !s.format.includes(match.format)) continue
      if (match.first !== undefined && (s.lineno < match.first || s.lineno > match.last!)) continue
      const set = new Set(op === '=' ? '' : s.flags)
      if (op === '-') for (const f of flags) set.delete(f)
      else for (const f of flags) set.add(f)
      s.flags = [...FLAG_ORDER].filter(f => set.has(f)).join('')
      n++
    }
    return n
  }
}

function basename (p: string): string {
  const i = p.lastIndexOf('/')
  return i < 0 ? p : p.slice(i + 1)
}

/** Shell-style glob with '*' and '?' (match_wildcard). */
export function wildcard (pattern: string, str: string): boolean {
  let re = '^'
  for (const ch of pattern) re += ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  return new RegExp(re + '$').test(str)
}

function tokenize (q: string): string[] | null {
  const out: string[] = []
  let i = 0
  while (i < q.length) {
    while (i < q.length && /\s/.test(q[i])) i++
    if (i >= q.length) break
    if (q[i] === '"' || q[i] === "'") {
      const quote = q[i]
      const end = q.indexOf(quote, i + 1)
      if (end < 0) return null
      out.push(q.slice(i + 1, end))
      i = end + 1
    } else {
      let j = i
      while (j < q.length && !/\s/.test(q[j])) j++
      out.push(q.slice(i, j))
      i = j
    }
  }
  return out
}

function escapeFormat (f: string): string {
  let out = ''
  for (const ch of f) {
    const c = ch.charCodeAt(0)
    if (ch === '"' || ch === '\\' || c < 0x20 || c >= 0x7f) out += '\\' + c.toString(8).padStart(3, '0')
    else out += ch
  }
  return out
}

function unescapeFormat (f: string): string {
  return f.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))).replace(/\\n/g, '\n').replace(/\\t/g, '\t')
}
