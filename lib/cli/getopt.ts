// Command-line parsing the way glibc's getopt_long does it, for the front ends
// that stand in for kmod, procps and util-linux tools: same option syntax
// (bundled short options, -Fvalue, --long=value, unambiguous prefixes of long
// options, `--`), same permutation of operands, same error texts.

export type ArgKind = 'none' | 'required' | 'optional'

export interface LongOption {
  name: string
  arg: ArgKind
  /** The short option it is an alias of, or its own key. */
  key: string
}

export interface GetoptSpec {
  /** getopt's optstring: letters, `:` after one that takes an argument, `::` for an optional one. */
  short: string
  long?: LongOption[]
  /** Stop at the first operand (optstring starting with '+', or POSIXLY_CORRECT). */
  stopAtOperand?: boolean
}

export interface ParsedOption { key: string, value?: string }

export type GetoptResult =
  | { ok: true, options: ParsedOption[], operands: string[] }
  | { ok: false, error: string }

function shortTable (optstring: string): Map<string, ArgKind> {
  const out = new Map<string, ArgKind>()
  for (let i = 0; i < optstring.length; i++) {
    const c = optstring[i]
    if (c === ':' || c === '+' || c === '-') continue
    let kind: ArgKind = 'none'
    if (optstring[i + 1] === ':') {
      kind = optstring[i + 2] === ':' ? 'optional' : 'required'
    }
    out.set(c, kind)
  }
  return out
}

/**
 * Parses argv (without the program name). Errors are glibc's texts without
 * the program prefix, e.g. `invalid option -- 'z'`.
 */
export function getopt (argv: readonly string[], spec: GetoptSpec): GetoptResult {
  const shorts = shortTable(spec.short)
  const longs = spec.long ?? []
  const options: ParsedOption[] = []
  const operands: string[] = []
  let i = 0
  while (i < argv.length) {
    const arg = argv[i++]
    if (arg === '--') {
      operands.push(...argv.slice(i))
      break
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const name = arg.slice(2, eq < 0 ? undefined : eq)
      const exact = longs.find(l => l.name === name)
      const matches = exact ? [exact] : longs.filter(l => l.name.startsWith(name))
      const distinct = [...new Set(matches.map(m => m.key + '\0' + m.arg))]
      if (matches.length === 0) return { ok: false, error: `unrecognized option '--${name}'` }
      if (distinct.length > 1) {
        return { ok: false, error: `option '--${name}' is ambiguous; possibilities:${matches.map(m => ` '--${m.name}'`).join('')}` }
      }
      const opt = matches[0]
      if (opt.arg === 'none') {
        if (eq >= 0) return { ok: false, error: `option '--${opt.name}' doesn't allow an argument` }
        options.push({ key: opt.key })
      } else if (eq >= 0) {
        options.push({ key: opt.key, value: arg.slice(eq + 1) })
      } else if (opt.arg === 'required') {
        if (i >= argv.length) return { ok: false, error: `option '--${opt.name}' requires an argument` }
        options.push({ key: opt.key, value: argv[i++] })
      } else {
        options.push({ key: opt.key })
      }
      continue
    }
    if (arg.startsWith('-') && arg.length > 1) {
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j]
        const kind = shorts.get(c)
        if (kind === undefined) return { ok: false, error: `invalid option -- '${c}'` }
        if (kind === 'none') {
          options.push({ key: c })
          continue
        }
        const rest = arg.slice(j + 1)
        if (rest.length > 0) {
          options.push({ key: c, value: rest })
        } else if (kind === 'required') {
          if (i >= argv.length) return { ok: false, error: `option requires an argument -- '${c}'` }
          options.push({ key: c, value: argv[i++] })
        } else {
          options.push({ key: c })
        }
        break
      }
      continue
    }
    operands.push(arg)
    if (spec.stopAtOperand) {
      operands.push(...argv.slice(i))
      break
    }
  }
  return { ok: true, options, operands }
}

/** The last value given for an option, or undefined. */
export function lastValue (options: readonly ParsedOption[], key: string): string | undefined {
  let v: string | undefined
  for (const o of options) if (o.key === key) v = o.value
  return v
}

export function has (options: readonly ParsedOption[], key: string): boolean {
  return options.some(o => o.key === key)
}
