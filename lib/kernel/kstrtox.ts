// The kernel's string-to-number conversions (lib/kstrtox.c) as sysfs and
// module parameters use them: strict, a single trailing newline allowed.
import { EINVAL, ERANGE } from '../kobject/errno'

/**
 * kstrtobool: the first character decides (1yYtTeE true, 0nNfFdD false); for
 * 'o'/'O' the second decides (nN on, fF off). Anything else is -EINVAL.
 */
export function kstrtobool (s: string): boolean | number {
  if (!s) return -EINVAL
  switch (s[0]) {
    case 'y': case 'Y': case 't': case 'T': case 'e': case 'E': case '1': return true
    case 'n': case 'N': case 'f': case 'F': case 'd': case 'D': case '0': return false
    case 'o': case 'O':
      switch (s[1]) {
        case 'n': case 'N': return true
        case 'f': case 'F': return false
      }
  }
  return -EINVAL
}

/**
 * Which spellings a kernel's kstrtobool knows: mainline (1yYtTeE/0nNfFdD, on/off),
 * no-ed (t/f but not yet e/d: 5.19 to early 6.x, OLK-6.6), legacy (1yY/0nN, on/off).
 */
export type BoolSyntax = 'mainline' | 'no-ed' | 'legacy'

export function kstrtoboolFor (syntax: BoolSyntax): (s: string) => boolean | number {
  if (syntax === 'mainline') return kstrtobool
  const extra = syntax === 'no-ed' ? 'tTfF' : ''
  return (s: string) => {
    const c = s[0]
    if (c !== undefined && 'eEdD'.includes(c)) return -EINVAL
    if (c !== undefined && 'tTfF'.includes(c) && !extra.includes(c)) return -EINVAL
    return kstrtobool(s)
  }
}

/** kstrtoll/kstrtoull with base 0 (auto: 0x hex, leading 0 octal) or a given base. */
export function kstrtoint (s: string, base = 0, bits = 32, signed = true): number | { error: number } {
  let str = s.endsWith('\n') ? s.slice(0, -1) : s
  let neg = false
  if (str.startsWith('+')) str = str.slice(1)
  else if (signed && str.startsWith('-')) { neg = true; str = str.slice(1) }
  let b = base
  if (b === 0 || b === 16) {
    if (/^0[xX]/.test(str) && str.length > 2) { str = str.slice(2); b = 16 }
  }
  if (b === 0) b = str.length > 1 && str[0] === '0' ? 8 : 10
  const digits = b === 16 ? /^[0-9a-fA-F]+$/ : b === 8 ? /^[0-7]+$/ : /^[0-9]+$/
  if (!digits.test(str)) return { error: -EINVAL }
  const v = BigInt(b === 16 ? '0x' + str : b === 8 ? '0o' + str : str)
  const value = neg ? -v : v
  const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n
  const min = signed ? -(1n << BigInt(bits - 1)) : 0n
  if (value > max || value < min) return { error: -ERANGE }
  return Number(value)
}
