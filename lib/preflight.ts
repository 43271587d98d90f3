// `klpsim check`: what the target kernel would say when loading a livepatch
// module, decided from the module's ELF and the target's symbol table alone.
import { readKo, KoFile } from './elf/ko'
import { ElfFormatError } from './elf/reader'
import { klpWriteObjectRelocs, KlpLogger, parseKlpRelaSecName } from './elf/klp'
import { KallsymsIndex } from './elf/kallsyms-index'
import type { KallsymsEntry } from './elf/kallsyms-file'
import { SHF_RELA_LIVEPATCH, SHN_UNDEF, STB_GLOBAL } from './elf/constants'
import { errnoName, strerror } from './kobject/errno'

export interface PreflightObject {
  name: string
  /** The object has symbols in the target's table (vmlinux, or a module that was loaded when it was dumped). */
  present: boolean
  relocations: number
  /** Relocation sections that were resolved (false when the module is absent: the kernel resolves them when it loads). */
  checked: boolean
  errno: number
}

/** The module's undefined symbols against what the target exports (simplify_symbols). */
export interface PreflightUndefined {
  /** Undefined global symbols (weak ones may stay unresolved and are not counted). */
  total: number
  /** False when the table lists no exports (__ksymtab_*): a /proc/kallsyms without CONFIG_KALLSYMS_ALL. */
  checked: boolean
  /** Not exported by the target: insmod fails with "Unknown symbol". */
  missing: string[]
  /** Not exported by anything in the table, but possibly by a module the patch depends on that was not loaded when the table was taken. */
  unchecked: string[]
}

export interface PreflightReport {
  file: string
  module: string | null
  livepatch: boolean
  vermagic: string | null
  /** The kernel's messages, in the order it would print them (with their "livepatch: " prefix). */
  messages: string[]
  objects: PreflightObject[]
  undefined: PreflightUndefined
  /** 0 when the kernel would accept the module, else the negative errno insmod would get. */
  errno: number
  verdict: 'ok' | 'refused'
  reason: string | null
}

export interface PreflightOptions {
  /** Expected `uname -r` of the target; compared with the module's vermagic. */
  release?: string
  /** Where the module would be loaded (for PC-relative relocations). */
  loadAddress?: bigint
}

function relocationCount (ko: KoFile, objname: string): number {
  let n = 0
  for (const s of ko.klpRelaSections) if (s.objname === objname) n += s.count
  return n
}

export function preflight (file: string, data: Buffer, symbols: readonly KallsymsEntry[], opts: PreflightOptions = {}): PreflightReport {
  const messages: string[] = []
  const report: PreflightReport = {
    file, module: null, livepatch: false, vermagic: null, messages, objects: [],
    undefined: { total: 0, checked: false, missing: [], unchecked: [] }, errno: 0, verdict: 'ok', reason: null,
  }
  const refuse = (errno: number, reason: string): PreflightReport => {
    report.errno = errno
    report.verdict = 'refused'
    report.reason = reason
    return report
  }
  let ko: KoFile
  try {
    ko = readKo(data)
  } catch (e) {
    if (e instanceof ElfFormatError) {
      messages.push(e.message)
      return refuse(-8, `not a loadable module: ${e.message}`)
    }
    throw e
  }
  report.module = ko.name
  report.livepatch = ko.livepatch
  report.vermagic = ko.vermagic ?? null
  if (opts.release !== undefined && ko.vermagic !== undefined && ko.vermagic.split(' ')[0] !== opts.release) {
    messages.push(`${ko.name}: version magic '${ko.vermagic}' should be '${opts.release} ...'`)
    return refuse(-8, `built for ${ko.vermagic.split(' ')[0]}, the target runs ${opts.release}`)
  }
  const modules = new Set(symbols.filter(s => s.module !== null).map(s => s.module as string))
  report.undefined = checkUndefined(ko, symbols, modules)
  for (const name of report.undefined.missing) messages.push(`${ko.name}: Unknown symbol ${name} (err -2)`)
  if (report.undefined.missing.length) {
    const n = report.undefined.missing.length
    return refuse(-2, `${n} undefined symbol${n === 1 ? ' is' : 's are'} not exported by the target: insmod fails with ENOENT (Unknown symbol in module)`)
  }
  if (!ko.livepatch) messages.push(`livepatch: module ${ko.name} is not marked as a livepatch module`)

  const log: KlpLogger = (_level, msg) => messages.push(`livepatch: ${msg}`)
  const archLog: KlpLogger = (_level, msg) => messages.push(msg)
  const index = new KallsymsIndex(symbols, log)
  const base = opts.loadAddress ?? 0xffffffffc0a00000n
  const wopts = { sectionBase: (i: number) => base + 0x10000n + BigInt(i) * 0x1000n, moduleName: ko.name, archLog }

  // malformed section names stop the load before anything resolves
  for (const sec of ko.elf.sections) {
    if ((sec.flags & SHF_RELA_LIVEPATCH) && parseKlpRelaSecName(sec.name) === null) {
      messages.push(`livepatch: section ${sec.name} has an incorrectly formatted name`)
      return refuse(-22, 'a livepatch relocation section has a malformed name')
    }
  }
  const objects = [...new Set(ko.klpRelaSections.map(s => s.objname as string))]
  objects.sort((a, b) => (a === 'vmlinux' ? -1 : b === 'vmlinux' ? 1 : a.localeCompare(b)))
  for (const name of objects) {
    const present = name === 'vmlinux' || modules.has(name)
    const obj: PreflightObject = { name, present, relocations: relocationCount(ko, name), checked: present, errno: 0 }
    report.objects.push(obj)
    if (!present) continue
    obj.errno = klpWriteObjectRelocs(ko.elf, name === 'vmlinux' ? null : name, index.resolver(), log, true, wopts)
    if (obj.errno && report.errno === 0) {
      refuse(obj.errno, name === 'vmlinux'
        ? `a vmlinux relocation does not resolve: insmod fails with ${errnoName(obj.errno)} (${strerror(obj.errno)})`
        : `a relocation for module ${name} does not resolve: enabling (or loading ${name}) fails with ${errnoName(obj.errno)}`)
    }
  }
  if (!ko.livepatch && report.errno === 0) refuse(-22, 'modinfo lacks livepatch=Y: klp_enable_patch refuses the module')
  return report
}

const KSYMTAB = '__ksymtab_'

/**
 * simplify_symbols: every undefined global symbol must be exported (EXPORT_SYMBOL
 * leaves a __ksymtab_<name> symbol) by vmlinux or a loaded module.
 */
function checkUndefined (ko: KoFile, symbols: readonly KallsymsEntry[], modules: ReadonlySet<string>): PreflightUndefined {
  const wanted = ko.elf.symbols.filter(s => s.shndx === SHN_UNDEF && s.bind === STB_GLOBAL && s.name !== '').map(s => s.name)
  const exported = new Set<string>()
  for (const s of symbols) if (s.name.startsWith(KSYMTAB)) exported.add(s.name.slice(KSYMTAB.length))
  const out: PreflightUndefined = { total: wanted.length, checked: exported.size > 0, missing: [], unchecked: [] }
  if (!out.checked) return out
  const absentDeps = (ko.modinfoMap.get('depends') ?? '').split(',').filter(d => d !== '' && !modules.has(d))
  for (const name of wanted) {
    if (exported.has(name)) continue
    if (absentDeps.length) out.unchecked.push(name)
    else out.missing.push(name)
  }
  return out
}

/** The report as a person reads it. */
export function formatPreflight (r: PreflightReport): string {
  const out: string[] = []
  out.push(`${r.file}: module ${r.module ?? '(unreadable)'}${r.vermagic ? `, vermagic ${r.vermagic.trim()}` : ''}${r.livepatch ? ', livepatch' : ''}`)
  if (r.objects.length) {
    out.push('targets:')
    for (const o of r.objects) {
      const state = !o.present ? 'not in the symbol table: resolved when it loads' : o.errno ? `FAILS (${errnoName(o.errno)})` : 'resolved'
      out.push(`  ${o.name.padEnd(24)} ${String(o.relocations).padStart(6)} relocation${o.relocations === 1 ? '' : 's'}  ${state}`)
    }
  } else {
    out.push('targets: none (no livepatch relocations)')
  }
  const u = r.undefined
  if (u.total) {
    const deps = u.unchecked.length ? `; ${u.unchecked.length} not checked (exported by a module it depends on that the table does not show?): ${u.unchecked.join(', ')}` : ''
    if (!u.checked) out.push(`undefined symbols: ${u.total}, not checked: the symbol table lists no exports (__ksymtab_*; dump /proc/kallsyms on a kernel with CONFIG_KALLSYMS_ALL, or use System.map)`)
    else if (u.missing.length) out.push(`undefined symbols: ${u.total}, ${u.missing.length} not exported by the target: ${u.missing.join(', ')}${deps}`)
    else out.push(`undefined symbols: ${u.total}, ${u.total - u.unchecked.length} exported by the target${deps}`)
  }
  if (r.messages.length) {
    out.push('kernel messages:')
    for (const m of r.messages) out.push(`  ${m}`)
  }
  out.push(r.verdict === 'ok' ? 'verdict: ok — the target kernel would accept this module' : `verdict: refused — ${r.reason}`)
  return out.join('\n') + '\n'
}
