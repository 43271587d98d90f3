// A subset of the kernel's vsprintf: the conversions the simulated kernel and
// its modules print with (%s %d %i %u %x %X %c %p %%, length modifiers h l ll z L,
// flags '-' '0' '+' ' ', width and precision, '*' widths).
export type PointerFormatter = (spec: string, value: unknown) => string | undefined

const SPEC = /%([-0+ #]*)(\*|\d+)?(?:\.(\*|\d+))?(hh|h|ll|l|z|L|t|j)?([diouxXcsp%])/y

export function kvsprintf (fmt: string, args: readonly unknown[], pointer?: PointerFormatter): string {
  let argi = 0
  const next = (): unknown => args[argi++]
  let out = ''
  let i = 0
  while (i < fmt.length) {
    const pct = fmt.indexOf('%', i)
    if (pct < 0) { out += fmt.slice(i); break }
    out += fmt.slice(i, pct)
    SPEC.lastIndex = pct
    const m = SPEC.exec(fmt)
    if (!m) { out += '%'; i = pct + 1; continue }
    i = SPEC.lastIndex
    const [, flags, width, prec, , conv] = m
    if (conv === '%') { out += '%'; continue }
    let w = width === '*' ? Number(next()) : width !== undefined ? Number(width) : 0
    let left = flags.includes('-')
    if (w < 0) { left = true; w = -w }
    const p = prec === '*' ? Number(next()) : prec !== undefined ? Number(prec) : undefined
    let body: string
    if (conv === 's') {
      const v = next()
      body = v === null || v === undefined ? '(null)' : String(v)
      if (p !== undefined) body = body.slice(0, p)
    } else if (conv === 'c') {
      body = String.fromCharCode(Number(next()) & 0xff)
    } else if (conv === 'p') {
      // %p extensions are the alphanumerics that follow (%pS, %px, %pGg)
      const ext = /^[A-Za-z]*/.exec(fmt.slice(i))![0]
      i += ext.length
      const v = next()
      body = pointer?.('p' + ext, v) ?? defaultPointer(v)
    } else {
      body = formatInt(next(), conv, flags, p)
    }
    const zero = flags.includes('0') && !left && 'diouxX'.includes(conv) && p === undefined
    out += pad(body, w, left, zero)
  }
  return out
}

function defaultPointer (v: unknown): string {
  if (v === null || v === undefined || v === 0 || v === 0n) return '0000000000000000'
  if (typeof v === 'bigint') return v.toString(16).padStart(16, '0')
  if (typeof v === 'number') return Math.abs(v).toString(16).padStart(16, '0')
  return '00000000' + 'deadbeef'
}

function formatInt (v: unknown, conv: string, flags: string, precision: number | undefined): string {
  let n: bigint
  if (typeof v === 'bigint') n = v
  else if (typeof v === 'boolean') n = v ? 1n : 0n
  else {
    const num = Number(v ?? 0)
    n = BigInt(Number.isFinite(num) ? Math.trunc(num) : 0)
  }
  let s: string
  let sign = ''
  switch (conv) {
    case 'd': case 'i':
      if (n < 0n) { sign = '-'; n = -n } else if (flags.includes('+')) sign = '+'; else if (flags.includes(' ')) sign = ' '
      s = n.toString(10)
      break
    case 'u': s = (n < 0n ? n + (1n << 64n) : n).toString(10); break
    case 'o': s = (n < 0n ? n + (1n << 64n) : n).toString(8); break
    case 'x': s = (n < 0n ? n + (1n << 64n) : n).toString(16); if (flags.includes('#') && n !== 0n) s = '0x' + s; break
    case 'X': s = (n < 0n ? n + (1n << 64n) : n).toString(16).toUpperCase(); if (flags.includes('#') && n !== 0n) s = '0X' + s; break
    default: s = n.toString()
  }
  if (precision !== undefined) s = s.padStart(precision, '0')
  return sign + s
}

function pad (s: string, width: number, left: boolean, zero: boolean): string {
  if (s.length >= width) return s
  if (left) return s + ' '.repeat(width - s.length)
  if (zero) {
    const signed = /^[-+ ]/.test(s)
    return signed ? s[0] + s.slice(1).padStart(width - 1, '0') : s.padStart(width, '0')
  }
  return s.padStart(width, ' ')
}
