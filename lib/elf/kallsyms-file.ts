export interface KallsymsEntry {
  addr: bigint
  /** nm-style type letter (T, t, D, d, ...). */
  type: string
  name: string
  /** Module of the symbol, null for vmlinux. */
  module: string | null
}

export interface SizedKallsymsEntry extends KallsymsEntry {
  size: bigint
}

// Hex digit values by byte, -1 for anything else.
const HEX = new Int8Array(256).fill(-1)
for (let c = 0; c < 10; c++) HEX[0x30 + c] = c
for (let c = 0; c < 6; c++) HEX[0x41 + c] = HEX[0x61 + c] = 10 + c

function lineError(text: string, start: number, lineNo: number, why: string): Error {
  let end = text.indexOf('\n', start)
  if (end < 0) end = text.length
  if (end > start && text[end - 1] === '\r') end--
  const line = Buffer.from(text.slice(start, end), 'latin1').toString('utf8')
  return new Error(`kallsyms line ${lineNo}: ${why}: ${JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}...` : line)}`)
}

/** UTF-8 text of a byte range that was sliced from the one-char-per-byte `text`. */
function utf8(s: string, hasHigh: boolean): string {
  return hasHigh ? Buffer.from(s, 'latin1').toString('utf8') : s
}

// Field separators: space, tab and (so that CRLF files parse) carriage return.
function isSep(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d
}

/**
 * Parse a /proc/kallsyms dump (`ffffffff81000000 T _stext`, module symbols
 * `ffffffffc0a01000 t foo\t[mod]`) or a System.map (no module column) into entries in
 * file order.  Fields may be separated by runs of spaces or tabs; blank lines are
 * ignored; anything else that does not parse throws an Error naming the line.
 */
export function parseKallsyms(input: string | Buffer): KallsymsEntry[] {
  // One pass over the bytes (per-line indexOf() calls into C++ cost more than the scan);
  // names are sliced from a latin1 view of the same bytes, so byte and string offsets
  // coincide, and re-decoded as UTF-8 when they contain non-ASCII bytes.
  let bytes: Buffer
  let text: string
  if (typeof input === 'string') {
    bytes = Buffer.byteLength(input, 'utf8') === input.length ? Buffer.from(input, 'latin1') : Buffer.from(input, 'utf8')
    text = bytes.length === input.length ? input : bytes.toString('latin1')
  } else {
    bytes = input
    text = input.toString('latin1')
  }
  const out: KallsymsEntry[] = []
  // Addresses are built from two 32-bit halves; the high half rarely changes.
  let lastHi = -1
  let lastTop = 0
  let lastHigh = 0n
  let lastModule = ''
  let lineNo = 0
  const n = bytes.length
  let p = 0
  let c = 0
  while (p < n) {
    const lineStart = p
    lineNo++
    while (p < n && isSep(c = bytes[p])) p++
    if (p === n || c === 0x0a) {
      p++
      continue
    }
    const a0 = p
    while (p < n && HEX[bytes[p]] >= 0) p++
    if (p === a0 || p - a0 > 16 || p === n || !isSep(bytes[p])) throw lineError(text, lineStart, lineNo, 'bad address')
    const split = p - a0 > 8 ? p - 8 : a0
    let hi = 0
    for (let q = a0; q < split; q++) hi = hi * 16 + HEX[bytes[q]]
    let lo = 0
    for (let q = split; q < p; q++) lo = lo * 16 + HEX[bytes[q]]
    while (p < n && isSep(bytes[p])) p++
    if (p === n || (c = bytes[p]) === 0x0a || c >= 0x80) throw lineError(text, lineStart, lineNo, 'missing symbol type')
    const type = text[p++]
    if (p === n || !isSep(bytes[p])) throw lineError(text, lineStart, lineNo, 'bad symbol type')
    while (p < n && isSep(bytes[p])) p++
    const n0 = p
    let high = false
    while (p < n && !isSep(c = bytes[p]) && c !== 0x0a) {
      if (c >= 0x80) high = true
      p++
    }
    if (p === n0) throw lineError(text, lineStart, lineNo, 'missing symbol name')
    const name = utf8(text.slice(n0, p), high)
    while (p < n && isSep(c = bytes[p])) p++
    let module: string | null = null
    if (p < n && c !== 0x0a) {
      if (c !== 0x5b /* [ */) throw lineError(text, lineStart, lineNo, 'unexpected text after the symbol name')
      const m0 = ++p
      high = false
      while (p < n && (c = bytes[p]) !== 0x5d /* ] */ && c !== 0x0a) {
        if (c >= 0x80) high = true
        p++
      }
      if (p === n || c !== 0x5d || p === m0) throw lineError(text, lineStart, lineNo, 'bad module column')
      if (lastModule.length === p - m0 && text.startsWith(lastModule, m0)) {
        module = lastModule
      } else {
        module = text.slice(m0, p)
        lastModule = module
      }
      if (high) module = utf8(module, true)
      p++
      while (p < n && isSep(c = bytes[p])) p++
      if (p < n && c !== 0x0a) throw lineError(text, lineStart, lineNo, 'unexpected text after the module name')
    }
    p++ // the newline
    // lo may exceed the Smi range; its top bit goes into the cached high part.
    const top = lo >= 0x80000000 ? 1 : 0
    if (hi !== lastHi || top !== lastTop) {
      lastHi = hi
      lastTop = top
      lastHigh = (BigInt(hi) << 32n) | (top ? 0x80000000n : 0n)
    }
    const low = top ? lo - 0x80000000 : lo
    const addr = low === 0 ? lastHigh : lastHigh | BigInt(low)
    out.push({ addr, type, name, module })
  }
  return out
}

/**
 * Symbol sizes as kallsyms_lookup_size_offset() derives them: the distance from a
 * symbol's address to the next higher address of the same object (vmlinux, or one
 * module); aliases at one address share a size.  Rule for the highest address of an
 * object: size 0 -- end markers such as `_etext`/`_end` are symbols themselves, so the
 * symbols before them get a size up to the marker, and the marker (or the last symbol
 * when no marker is listed) gets 0.  Output is in input order.
 */
export function deriveSizes(entries: readonly KallsymsEntry[]): SizedKallsymsEntry[] {
  const groups = new Map<string | null, number[]>()
  entries.forEach((e, i) => {
    const g = groups.get(e.module)
    if (g) g.push(i)
    else groups.set(e.module, [i])
  })
  const sizes: bigint[] = new Array<bigint>(entries.length)
  for (const idx of groups.values()) {
    let sorted = true
    for (let k = 1; k < idx.length; k++) {
      if (entries[idx[k]].addr < entries[idx[k - 1]].addr) { sorted = false; break }
    }
    if (!sorted) {
      idx.sort((a, b) => {
        const x = entries[a].addr
        const y = entries[b].addr
        return x < y ? -1 : x > y ? 1 : a - b
      })
    }
    let k = 0
    while (k < idx.length) {
      const addr = entries[idx[k]].addr
      let j = k + 1
      while (j < idx.length && entries[idx[j]].addr === addr) j++
      const size = j < idx.length ? entries[idx[j]].addr - addr : 0n
      for (let m = k; m < j; m++) sizes[idx[m]] = size
      k = j
    }
  }
  return entries.map((e, i) => ({ addr: e.addr, type: e.type, name: e.name, module: e.module, size: sizes[i] }))
}
