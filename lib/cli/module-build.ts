// `klpsim build`: a module's source (TypeScript or JavaScript) and the
// relative files it imports, transpiled to CommonJS and bundled into the
// payload of a .ko; evaluated once here to learn the module's name, flags,
// parameters and references for .modinfo and the klp relocations.
import { readFileSync, statSync } from 'node:fs'
import { dirname, extname, relative, resolve, sep } from 'node:path'
import * as ts from 'typescript'
import type { ModuleDefinition } from '../kernel/module'
import { BundlePayload, evaluateBundle, koFor, MAX_BUNDLE_BYTES } from '../module-file'

export class BuildError extends Error {}

const SOURCE_EXTENSIONS = ['.ts', '.js', '.mts', '.cts', '.mjs', '.cjs']
const MODULE_NAME = /^[A-Za-z0-9_]{1,55}$/

/** The file a relative import names: as written, or with a source extension, or its index. */
function resolveImport (fromFile: string, spec: string): string | undefined {
  const base = resolve(dirname(fromFile), spec)
  const candidates = [base, ...SOURCE_EXTENSIONS.map(e => base + e), ...SOURCE_EXTENSIONS.map(e => `${base}${sep}index${e}`)]
  // `./util.js` in TypeScript source means util.ts
  if (/\.[cm]?js$/.test(spec)) candidates.splice(1, 0, base.replace(/\.([cm]?)js$/, '.$1ts'))
  for (const c of candidates) {
    try { if (statSync(c).isFile()) return c } catch { /* next */ }
  }
  return undefined
}

function transpile (file: string, text: string): string {
  const out = ts.transpileModule(text, {
    fileName: file,
    reportDiagnostics: true,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      sourceMap: false,
      inlineSourceMap: false,
      allowJs: true,
    },
  })
  const errors = (out.diagnostics ?? []).filter(d => d.category === ts.DiagnosticCategory.Error)
  if (errors.length) {
    const d = errors[0]
    const where = d.file && d.start !== undefined ? (() => {
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start)
      return `${file}:${line + 1}:${character + 1}`
    })() : file
    throw new BuildError(`${where}: error TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`)
  }
  return out.outputText
}

/** The bundle key of a source file: its path relative to the entry's directory, with a .js extension. */
function bundleKey (root: string, file: string): string {
  const rel = relative(root, file).split(sep).join('/')
  return rel.slice(0, rel.length - extname(rel).length) + '.js'
}

export interface BuiltModule {
  def: ModuleDefinition
  payload: BundlePayload
  /** The sources, concatenated in bundle order (what srcversion digests). */
  source: string
}

/** Transpiles and bundles the entry and everything it imports relatively; evaluates it once. */
export function bundleModule (entry: string): BuiltModule {
  const entryPath = resolve(entry)
  const root = dirname(entryPath)
  const files: Record<string, string> = {}
  const keyOf = new Map<string, string>()
  const sources: string[] = []
  let total = 0
  const visit = (file: string): string => {
    const known = keyOf.get(file)
    if (known) return known
    const key = bundleKey(root, file)
    if (Object.prototype.hasOwnProperty.call(files, key)) throw new BuildError(`${file}: two source files would both be ${key} in the bundle`)
    keyOf.set(file, key)
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (e) {
      throw new BuildError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`)
    }
    total += text.length
    if (total > MAX_BUNDLE_BYTES) throw new BuildError(`the module's sources are larger than ${MAX_BUNDLE_BYTES >> 20} MiB`)
    const js = transpile(file, text)
    files[key] = js
    sources.push(text)
    for (const imp of ts.preProcessFile(js, true, true).importedFiles) {
      const spec = imp.fileName
      if (spec === 'klpsim') continue
      if (!spec.startsWith('./') && !spec.startsWith('../')) {
        throw new BuildError(`${file}: import of '${spec}' is not allowed: a klpsim module may import only 'klpsim' and its own relative files`)
      }
      const target = resolveImport(file, spec)
      if (!target) throw new BuildError(`${file}: cannot find '${spec}'`)
      visit(target)
    }
    return key
  }
  const entryKey = visit(entryPath)
  const payload: BundlePayload = { format: 1, entry: entryKey, files }
  let def: ModuleDefinition
  try {
    def = evaluateBundle(payload, entry)
  } catch (e) {
    throw new BuildError(`${entry}: evaluating the module failed: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`)
  }
  if (!MODULE_NAME.test(def.name)) {
    throw new BuildError(`${entry}: module name '${def.name}' is not a kernel module name (1-55 letters, digits and '_')`)
  }
  return { def, payload, source: sources.join('\0') }
}

/** The .ko bytes of a module source for a kernel release. */
export function buildModuleKo (entry: string, release?: string): { def: ModuleDefinition, ko: Buffer } {
  const built = bundleModule(entry)
  let ko: Buffer
  try {
    ko = koFor(built.def, built.payload, { release, source: built.source })
  } catch (e) {
    throw new BuildError(`${entry}: ${(e as Error).message}`)
  }
  return { def: built.def, ko }
}
