// Module arguments as they travel: insmod joins its arguments with spaces into
// one string (kmod), and the kernel splits that string again (parse_args).

/** kmod insmod: the arguments after the file name, joined by single spaces. */
export function joinModuleArgs (args: readonly string[]): string {
  return args.join(' ')
}

/**
 * The kernel's splitting of a module argument string into `name[=value]`
 * items: whitespace separates items except inside double quotes; a value that
 * starts with a quote loses it and its closing quote, and so does an item
 * that is quoted as a whole.
 */
export function splitModuleArgs (s: string): string[] {
  const out: string[] = []
  let i = 0
  const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f'
  while (i < s.length) {
    while (i < s.length && isSpace(s[i])) i++
    if (i >= s.length) break
    let quoted = false
    let inQuote = false
    if (s[i] === '"') {
      quoted = true
      inQuote = true
      i++
    }
    const start = i
    let equals = -1
    while (i < s.length && (inQuote || !isSpace(s[i]))) {
      if (equals < 0 && s[i] === '=') equals = i
      if (s[i] === '"') inQuote = !inQuote
      i++
    }
    let item = s.slice(start, i)
    if (equals >= 0) {
      const name = s.slice(start, equals)
      let value = s.slice(equals + 1, i)
      if (value.startsWith('"')) {
        value = value.slice(1)
        if (value.endsWith('"')) value = value.slice(0, -1)
      } else if (quoted && value.endsWith('"')) {
        value = value.slice(0, -1)
      }
      item = `${name}=${value}`
    } else if (quoted && item.endsWith('"')) {
      item = item.slice(0, -1)
    }
    out.push(item)
  }
  return out
}
