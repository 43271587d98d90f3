// Module files: what a klpsim .ko carries (modinfo, the name in
// .gnu.linkonce.this_module, klp relocations, and in the private section
// .klpsim.module either the id of a built-in module or a user's bundled code),
// how such a file is made from a definition, and how the kernel side turns
// its bytes back into a loadable image.
import { posix } from 'node:path'
import { compileFunction } from 'node:vm'
import { buildKo, KlpRef, KoFile, readKo } from './elf/ko'
import { ElfFormatError } from './elf/reader'
import { DEFAULT_RELEASE } from './kernel/kernel'
import type { ModuleImage } from './kernel/loader'
import type { ModuleDefinition } from './kernel/module'
import { EFBIG, ENOEXEC } from './kobject/errno'
import { modinfoFor } from './module-image'
import { BUILTIN_MODULES, BuiltinModule, builtinSource } from './modules'
import { definitionSource, importsOfSource } from './module-imports'

/** The largest module file klpsim reads or accepts (a real kernel module is rarely above a few MiB). */
export const MAX_MODULE_FILE = 64 * 1024 * 1024
/** The largest bundle a .ko may carry, all files together. */
export const MAX_BUNDLE_BYTES = 32 * 1024 * 1024
export const PAYLOAD_FORMAT = 1

export interface BuiltinPayload { format: 1, builtin: string }
export interface BundlePayload { format: 1, entry: string, files: Record<string, string> }
export type ModulePayload = BuiltinPayload | BundlePayload

/** vermagic as the simulated kernel's build writes it (Kernel.vermagic for that release). */
export function vermagicFor (release: string = DEFAULT_RELEASE): string {
  return `${release} SMP preempt mod_unload modversions `
}

/** A module file the kernel refuses; message is the kernel log line, errno positive. */
export class ModuleFileError extends Error {
  constructor (readonly errno: number, message: string) {
    super(message)
    this.name = 'ModuleFileError'
  }
}

export function encodePayload (p: ModulePayload): Buffer {
  return Buffer.from(JSON.stringify(p), 'utf8')
}

/** Parses and checks a .klpsim.module payload. */
export function decodePayload (data: Buffer, label: string): ModulePayload {
  let v: unknown
  try {
    v = JSON.parse(data.toString('utf8'))
  } catch {
    throw new ModuleFileError(ENOEXEC, `klpsim: ${label}: .klpsim.module is not a klpsim module payload`)
  }
  const p = v as Record<string, unknown>
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ModuleFileError(ENOEXEC, `klpsim: ${label}: .klpsim.module is not a klpsim module payload`)
  if (p.format !== PAYLOAD_FORMAT) throw new ModuleFileError(ENOEXEC, `klpsim: ${label}: unsupported module payload format ${JSON.stringify(p.format)} (this klpsim reads format ${PAYLOAD_FORMAT})`)
  if (typeof p.builtin === 'string') return { format: 1, builtin: p.builtin }
  if (typeof p.entry !== 'string' || typeof p.files !== 'object' || p.files === null || Array.isArray(p.files)) {
    throw new ModuleFileError(ENOEXEC, `klpsim: ${label}: module payload has neither a built-in module id nor a code bundle`)
  }
  const files: Record<string, string> = {}
  let total = 0
  for (const [name, text] of Object.entries(p.files as Record<string, unknown>)) {
    if (typeof text !== 'string') throw new ModuleFileError(ENOEXEC, `klpsim: ${label}: bundle file ${name} is not text`)
    total += text.length
    files[normalizeBundlePath(name)] = text
  }
  if (total > MAX_BUNDLE_BYTES) throw new ModuleFileError(ENOEXEC, `klpsim: ${label}: module bundle larger than ${MAX_BUNDLE_BYTES >> 20} MiB`)
  const entry = normalizeBundlePath(p.entry)
  if (!(entry in files)) throw new ModuleFileError(ENOEXEC, `klpsim: ${label}: bundle entry ${p.entry} is not in the bundle`)
  return { format: 1, entry, files }
}

function normalizeBundlePath (p: string): string {
  return posix.normalize(p.replace(/\\/g, '/')).replace(/^\.\//, '')
}

/** The error a bundle's require() throws for anything it does not provide. */
export class BundleRequireError extends Error {}

let klpsimExports: unknown

/** What `require('klpsim')` gives module code: the library's public API. */
function klpsimApi (): unknown {
  // loaded lazily: lib/index imports the simulator, which imports the modules
  klpsimExports ??= require('./index')
  return klpsimExports
}

/**
 * Runs a bundle's entry with a require() that knows only 'klpsim' and the
 * bundle's own files, and returns the module definition it exports. Every call
 * evaluates the code afresh, as every load of a .ko gets fresh static data.
 * The code runs in this realm (its promises and errors are the kernel's own
 * kinds); loading a module is running code, which only the daemon's owner may do.
 */
export function evaluateBundle (bundle: BundlePayload, label: string): ModuleDefinition {
  const cache = new Map<string, { exports: unknown }>()
  const load = (file: string): unknown => {
    const cached = cache.get(file)
    if (cached) return cached.exports
    const module = { exports: {} as unknown }
    cache.set(file, module)
    const fn = compileFunction(bundle.files[file], ['exports', 'require', 'module', '__filename', '__dirname'], {
      filename: `${label}/${file}`,
    })
    fn.call(module.exports, module.exports, requireFrom(file), module, `/${file}`, posix.dirname(`/${file}`))
    return module.exports
  }
  const requireFrom = (from: string) => (spec: string): unknown => {
    if (spec === 'klpsim') return klpsimApi()
    if (spec.startsWith('./') || spec.startsWith('../')) {
      const base = posix.normalize(posix.join(posix.dirname(from), spec))
      for (const candidate of [base, `${base}.js`, `${base}/index.js`]) {
        if (Object.prototype.hasOwnProperty.call(bundle.files, candidate)) return load(candidate)
      }
      throw new BundleRequireError(`Cannot find module '${spec}' from ${from} in the bundle`)
    }
    throw new BundleRequireError(`Cannot find module '${spec}': a klpsim module may require only 'klpsim' and its own files`)
  }
  const exported = load(bundle.entry) as { default?: unknown } | null
  const def = (exported && typeof exported === 'object' && 'default' in exported) ? exported.default : exported
  checkDefinition(def, label)
  return def
}

function checkDefinition (def: unknown, label: string): asserts def is ModuleDefinition {
  const d = def as Record<string, unknown>
  if (typeof def !== 'object' || def === null) throw new TypeError(`${label}: the module exports no definition (export default defineModule({...}))`)
  if (typeof d.name !== 'string' || d.name === '') throw new TypeError(`${label}: the module definition has no name`)
  for (const fn of ['init', 'exit', 'state'] as const) {
    if (d[fn] !== undefined && typeof d[fn] !== 'function') throw new TypeError(`${label}: "${fn}" of the module definition is not a function`)
  }
  for (const obj of ['params', 'functions'] as const) {
    if (d[obj] !== undefined && (typeof d[obj] !== 'object' || d[obj] === null)) throw new TypeError(`${label}: "${obj}" of the module definition is not an object`)
  }
  if (d.references !== undefined && !Array.isArray(d.references)) throw new TypeError(`${label}: "references" of the module definition is not an array`)
  if (d.depends !== undefined && !(Array.isArray(d.depends) && d.depends.every(x => typeof x === 'string'))) {
    throw new TypeError(`${label}: "depends" of the module definition is not an array of module names`)
  }
}

/** def.references as the .ko's klp relocations, in the same order (the loader publishes them by index). */
export function klpRefsOf (def: ModuleDefinition): KlpRef[] {
  return (def.references ?? []).map(r => ({ object: r.object ?? 'vmlinux', symbol: r.symbol, sympos: r.sympos ?? 0 }))
}

export interface KoOptions {
  /** The kernel release the module is built for (vermagic); the simulated kernel's by default. */
  release?: string
  /** Text the srcversion digest covers (the bundled source); the definition by default. */
  source?: string
  /** The module's code, searched for the kernel symbols it calls; the source, else the definition's functions, by default. */
  code?: string
}

/** The .ko bytes for a definition and the payload that recreates it. */
export function koFor (def: ModuleDefinition, payload: ModulePayload, opts: KoOptions = {}): Buffer {
  return buildKo({
    name: def.name,
    modinfo: modinfoFor(def, vermagicFor(opts.release), opts.source),
    payload: encodePayload(payload),
    klpRefs: klpRefsOf(def),
    imports: importsOfSource(opts.code ?? opts.source ?? definitionSource(def)),
  })
}

/** The .ko of a built-in module, as `klpsim modules export` writes it. */
export function builtinKo (b: BuiltinModule, release?: string): Buffer {
  return koFor(b.def, { format: 1, builtin: b.def.name }, { release, code: builtinSource(b) })
}

export interface LoadedModuleFile {
  ko: KoFile
  image: ModuleImage
}

/**
 * What finit_module does with the file's bytes before the module exists:
 * parse and validate the ELF (ENOEXEC with the kernel's message), find the
 * module's code (built-in id or bundle, evaluated afresh) and check that it is
 * the module the file names. Throws ModuleFileError; changes nothing.
 */
export function readModuleFile (data: Buffer): LoadedModuleFile {
  if (data.length > MAX_MODULE_FILE) throw new ModuleFileError(EFBIG, `klpsim: module file larger than ${MAX_MODULE_FILE >> 20} MiB`)
  let ko: KoFile
  try {
    ko = readKo(data)
  } catch (e) {
    if (e instanceof ElfFormatError) throw new ModuleFileError(ENOEXEC, e.message)
    throw e
  }
  const label = ko.name
  if (!ko.payload) {
    throw new ModuleFileError(ENOEXEC, `klpsim: ${label}: no simulated code in this module (.klpsim.module is missing); build modules with 'klpsim build'`)
  }
  const payload = decodePayload(ko.payload, label)
  let def: ModuleDefinition
  if ('builtin' in payload) {
    const b = BUILTIN_MODULES.find(m => m.def.name === payload.builtin)
    if (!b) throw new ModuleFileError(ENOEXEC, `klpsim: ${label}: unknown built-in module '${payload.builtin}'`)
    def = b.def
  } else {
    try {
      def = evaluateBundle(payload, label)
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e)
      throw new ModuleFileError(ENOEXEC, `klpsim: ${label}: module code failed to load: ${msg.split('\n')[0]}`)
    }
  }
  if (def.name !== ko.name) {
    throw new ModuleFileError(ENOEXEC, `klpsim: ${label}: the module's code is for '${def.name}', not '${ko.name}'`)
  }
  return { ko, image: { def, name: ko.name, modinfo: ko.modinfo, elf: ko.elf, imports: ko.imports } }
}
