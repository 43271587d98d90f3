// Module parameters: types, parsing as the kernel's param_set_* do, and show.
import { EINVAL, ENOENT, ENOSPC } from '../kobject/errno'
import { kstrtobool as mainlineKstrtobool, kstrtoint } from './kstrtox'

export type ParamType = 'bool' | 'invbool' | 'int' | 'uint' | 'short' | 'ushort' | 'long' | 'ulong' | 'byte' | 'charp' | 'string' |
  'int_array' | 'uint_array' | 'bool_array'

export interface ParamSpec {
  type: ParamType
  /** Permission of /sys/module/<m>/parameters/<p>; 0 = no file. */
  mode?: number
  default?: unknown
  /** Arrays: maximum number of elements (default NR_CPUS); string: maximum length. */
  max?: number
  description?: string
}

export type ParamValue = boolean | number | string | number[] | boolean[] | null

export const NR_CPUS = 8192

const INT_LIMITS: Record<string, [number, boolean]> = {
  int: [32, true], uint: [32, false], short: [16, true], ushort: [16, false], long: [64, true], ulong: [64, false], byte: [8, false],
}

export function defaultValue (spec: ParamSpec): ParamValue {
  if (spec.default !== undefined) return spec.default as ParamValue
  switch (spec.type) {
    case 'bool': case 'invbool': return false
    case 'charp': return null
    case 'string': return ''
    case 'int_array': case 'uint_array': case 'bool_array': return []
    default: return 0
  }
}

export interface ParamParseError { errno: number, message?: string }

/** Parses one value for a parameter; the message is the kernel's for that failure. */
export function parseParam (modname: string, name: string, spec: ParamSpec, raw: string | undefined, kstrtobool: (s: string) => boolean | number = mainlineKstrtobool): ParamValue | ParamParseError {
  const val = raw
  switch (spec.type) {
    case 'bool': case 'invbool': {
      // a bare "name" means true
      const b = val === undefined ? true : kstrtobool(val)
      if (typeof b === 'number') return { errno: b }
      return spec.type === 'invbool' ? !b : b
    }
    case 'charp':
      return val ?? null
    case 'string': {
      const s = val ?? ''
      const max = spec.max ?? 1024
      if (s.length + 1 > max) return { errno: -ENOSPC, message: `${modname}: string parameter too long` }
      return s
    }
    case 'int_array': case 'uint_array': case 'bool_array': {
      if (val === undefined) return { errno: -EINVAL }
      const max = spec.max ?? NR_CPUS
      const parts = val.split(',')
      if (parts.length > max) return { errno: -EINVAL, message: `${modname}: ${name}: can only take ${max} arguments` }
      const out: Array<number | boolean> = []
      for (const p of parts) {
        if (spec.type === 'bool_array') {
          const b = kstrtobool(p)
          if (typeof b === 'number') return { errno: b }
          out.push(b)
        } else {
          const n = kstrtoint(p, 0, 32, spec.type === 'int_array')
          if (typeof n !== 'number') return { errno: n.error }
          out.push(n)
        }
      }
      return out as number[] | boolean[]
    }
    default: {
      if (val === undefined) return { errno: -EINVAL }
      const [bits, signed] = INT_LIMITS[spec.type]
      const n = kstrtoint(val, 0, bits, signed)
      if (typeof n !== 'number') return { errno: n.error }
      return n
    }
  }
}

/** param_get_*: the content of the parameter's sysfs file. */
export function showParam (spec: ParamSpec, value: ParamValue): string {
  switch (spec.type) {
    case 'bool': return (value ? 'Y' : 'N') + '\n'
    case 'invbool': return (value ? 'N' : 'Y') + '\n'
    case 'charp': return (value === null ? '(null)' : String(value)) + '\n'
    case 'int_array': case 'uint_array': return (value as number[]).join(',') + '\n'
    case 'bool_array': return (value as boolean[]).map(b => (b ? 'Y' : 'N')).join(',') + '\n'
    default: return String(value) + '\n'
  }
}

/** parameq: '-' and '_' are the same in parameter names. */
export function paramKey (name: string): string {
  return name.replace(/-/g, '_')
}

/** Splits an insmod argument list ("a=1", "b", "c=\"x y\"") into name/value pairs. */
export function splitArgs (args: readonly string[]): Array<{ name: string, value: string | undefined }> {
  const out: Array<{ name: string, value: string | undefined }> = []
  for (const a of args) {
    const eq = a.indexOf('=')
    if (eq < 0) out.push({ name: a, value: undefined })
    else {
      let v = a.slice(eq + 1)
      if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1)
      out.push({ name: a.slice(0, eq), value: v })
    }
  }
  return out
}

export const UNKNOWN_PARAM = -ENOENT
