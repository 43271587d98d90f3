// modinfo FILE.ko|NAME: kmod's modinfo. Reads the file only; no daemon needed.
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { DEFAULT_RELEASE } from '../../kernel/kernel'
import { EFBIG, errnoFromName, EIO } from '../../kobject/errno'
import { builtinKo, MAX_MODULE_FILE } from '../../module-file'
import { getopt, lastValue } from '../getopt'
import { modinfoText, modnameOf } from '../kmod-text'
import { findModule, FoundModule, modulesDirs } from '../module-lookup'
import { readModinfo } from '../modinfo-reader'
import { toolCommand } from '../tool'

const USAGE = `Usage:
\tmodinfo [options] <modulename|filename> [args]
Options:
\t-a, --author                Print only 'author'
\t-d, --description           Print only 'description'
\t-l, --license               Print only 'license'
\t-p, --parameters            Print only 'parm'
\t-n, --filename              Print only 'filename'
\t-0, --null                  Use \\0 instead of \\n
\t-m, --modname               Handle argument as module name instead of alias or filename
\t-F, --field=FIELD           Print only provided FIELD
\t-k, --set-version=VERSION   Use VERSION instead of $KLPSIM_RELEASE or the simulated kernel's release
\t-b, --basedir=DIR           Use DIR as filesystem root for /lib/modules
\t-V, --version               Show version
\t-h, --help                  Show this help
`

const MODULE_FILE = /\.ko(\.(gz|xz|zst))?$/

interface Param { name: string, desc?: string, type?: string }

/** parm/parmtype entries merged per parameter, newest parameter first (kmod keeps a prepended list). */
function collectParams (entries: ReadonlyArray<[string, string]>, errors: string[]): Param[] {
  const list: Param[] = []
  for (const [key, value] of entries) {
    if (key !== 'parm' && key !== 'parmtype') continue
    const colon = value.indexOf(':')
    if (colon < 0) {
      errors.push(`modinfo: ERROR: Found invalid "${key}=${value}": missing ':'`)
      continue
    }
    const name = value.slice(0, colon)
    let p = list.find(x => x.name === name)
    if (!p) { p = { name }; list.unshift(p) }
    if (key === 'parm') p.desc = value.slice(colon + 1)
    else p.type = value.slice(colon + 1)
  }
  return list
}

/** kmod's `%s:%-*s` with width 15 - strlen(key): a negative width pads on the left-justified side too. */
function keyColumn (key: string): string {
  return `${key}:${' '.repeat(Math.abs(15 - key.length))}`
}

interface Options { field?: string, sep: string, release: string }

async function bytesOf (found: FoundModule | { kind: 'path', path: string }, release: string): Promise<Buffer | number> {
  if (found.kind === 'shipped') return builtinKo(found.module, release)
  try {
    const st = await fsp.stat(found.path)
    if (st.size > MAX_MODULE_FILE) return EFBIG
    return await fsp.readFile(found.path)
  } catch (e) {
    return errnoFromName(String((e as NodeJS.ErrnoException).code)) ?? EIO
  }
}

/** modinfo_do(): prints one module; false when it failed. */
async function show (found: FoundModule | { kind: 'path', path: string }, filename: string, opts: Options, out: string[], err: string[]): Promise<boolean> {
  const { field, sep } = opts
  if (field === 'filename') { out.push(filename + sep); return true }
  if (field === undefined) out.push(`${'filename:'.padEnd(16)}${filename}${sep}`)
  const bytes = await bytesOf(found, opts.release)
  const info = typeof bytes === 'number' ? { errno: bytes } : readModinfo(bytes)
  if ('errno' in info) {
    const name = found.kind === 'shipped' ? found.module.def.name : modnameOf(found.path, true)
    err.push(modinfoText.noModinfo(name, info.errno))
    return false
  }
  if (field === 'parm') {
    for (const p of collectParams(info.entries, err)) {
      if (p.desc === undefined) out.push(`${p.name}: (${p.type})${sep}`)
      else if (p.type !== undefined) out.push(`${p.name}:${p.desc} (${p.type})${sep}`)
      else out.push(`${p.name}:${p.desc}${sep}`)
    }
    return true
  }
  for (const [key, value] of info.entries) {
    if (field !== undefined) {
      if (key === field) out.push(value + sep)
      continue
    }
    if (key === 'parm' || key === 'parmtype') continue
    out.push(sep === '\0' ? `${key}=${value}\0` : `${keyColumn(key)}${value}${sep}`)
  }
  if (field !== undefined) return true
  for (const p of collectParams(info.entries, err)) {
    const head = 'parm:'.padEnd(16)
    if (p.desc === undefined) out.push(`${head}${p.name}:${p.type}${sep}`)
    else if (p.type !== undefined) out.push(`${head}${p.name}:${p.desc} (${p.type})${sep}`)
    else out.push(`${head}${p.name}:${p.desc}${sep}`)
  }
  return true
}

async function isModuleFilename (arg: string): Promise<boolean> {
  if (!MODULE_FILE.test(arg)) return false
  try { return (await fsp.stat(arg)).isFile() } catch { return false }
}

export const command = toolCommand('modinfo', 'show the information in a module file (kmod modinfo)', async (argv) => {
  const parsed = getopt(argv, {
    short: 'adlpn0mF:k:b:Vh',
    long: [
      { name: 'author', arg: 'none', key: 'a' },
      { name: 'description', arg: 'none', key: 'd' },
      { name: 'license', arg: 'none', key: 'l' },
      { name: 'parameters', arg: 'none', key: 'p' },
      { name: 'filename', arg: 'none', key: 'n' },
      { name: 'null', arg: 'none', key: '0' },
      { name: 'modname', arg: 'none', key: 'm' },
      { name: 'field', arg: 'required', key: 'F' },
      { name: 'set-version', arg: 'required', key: 'k' },
      { name: 'basedir', arg: 'required', key: 'b' },
      { name: 'version', arg: 'none', key: 'V' },
      { name: 'help', arg: 'none', key: 'h' },
    ],
  })
  if (!parsed.ok) {
    process.stderr.write(`modinfo: ${parsed.error}\n`)
    return 1
  }
  const opts: Options = { sep: '\n', release: DEFAULT_RELEASE }
  let byName = false
  for (const o of parsed.options) {
    switch (o.key) {
      case 'a': opts.field = 'author'; break
      case 'd': opts.field = 'description'; break
      case 'l': opts.field = 'license'; break
      case 'p': opts.field = 'parm'; break
      case 'n': opts.field = 'filename'; break
      case '0': opts.sep = '\0'; break
      case 'm': byName = true; break
      case 'F': opts.field = o.value; break
      case 'h': process.stdout.write(USAGE); return 0
      case 'V': process.stdout.write('kmod version 30 (klpsim modinfo)\n'); return 0
    }
  }
  if (parsed.operands.length === 0) {
    process.stderr.write(modinfoText.missing() + '\n')
    return 1
  }
  const release = lastValue(parsed.options, 'k') ?? (process.env.KLPSIM_RELEASE || DEFAULT_RELEASE)
  opts.release = release
  const dirs = modulesDirs(release, lastValue(parsed.options, 'b') ?? '')
  let failed = false
  for (const arg of parsed.operands) {
    const out: string[] = []
    const err: string[] = []
    let found: FoundModule | { kind: 'path', path: string } | undefined
    if (!byName && await isModuleFilename(arg)) {
      found = { kind: 'path', path: arg }
    } else {
      found = await findModule(arg, dirs)
      if (!found) err.push(byName ? modinfoText.nameNotFound(arg) : modinfoText.notFound(arg))
    }
    if (found) {
      const filename = found.kind === 'path' ? (arg.startsWith('/') ? arg : join(process.cwd(), '/') + arg) : found.path
      if (!await show(found, filename, opts, out, err)) failed = true
    } else {
      failed = true
    }
    if (out.length) process.stdout.write(out.join(''))
    if (err.length) process.stderr.write(err.map(l => l + '\n').join(''))
  }
  return failed ? 1 : 0
})
