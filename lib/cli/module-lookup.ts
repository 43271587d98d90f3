// Finding a module by name, as modprobe and modinfo do: in the modules
// directory of the kernel release (<root>/lib/modules/<release>, or the
// directories in $KLPSIM_MODULES), then among the modules klpsim ships.
import { promises as fsp } from 'node:fs'
import { join, resolve } from 'node:path'
import { BUILTIN_MODULES, BuiltinModule } from '../modules'
import { modnameOf } from './kmod-text'

export const MODULES_ENV = 'KLPSIM_MODULES'

/** Where modules of this release live; $KLPSIM_MODULES (colon-separated) replaces the default. */
export function modulesDirs (release: string, root = '', env: NodeJS.ProcessEnv = process.env): string[] {
  const override = env[MODULES_ENV]
  if (override) return override.split(':').filter(d => d !== '').map(d => resolve(d))
  return [`${root}/lib/modules/${release}`]
}

export type FoundModule =
  | { kind: 'file', path: string }
  | { kind: 'shipped', module: BuiltinModule, path: string }

/** How klpsim names a shipped module's file in messages (there is no such file on disk). */
export function shippedPath (b: BuiltinModule): string {
  return `klpsim:${b.file}`
}

/** Every *.ko below dir, by module name (first found wins, in sorted order); bounded. */
async function scan (dir: string, out: Map<string, string>, budget: { entries: number }, depth = 0): Promise<void> {
  if (depth > 16 || budget.entries <= 0) return
  let entries
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true })
  } catch {
    return
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const e of entries) {
    if (--budget.entries <= 0) return
    const p = join(dir, e.name)
    if (e.isDirectory()) await scan(p, out, budget, depth + 1)
    else if ((e.isFile() || e.isSymbolicLink()) && e.name.endsWith('.ko')) {
      const name = modnameOf(e.name, true)
      if (!out.has(name)) out.set(name, p)
    }
  }
}

export async function findModule (name: string, dirs: readonly string[]): Promise<FoundModule | undefined> {
  const want = modnameOf(name, false)
  const found = new Map<string, string>()
  const budget = { entries: 200_000 }
  for (const d of dirs) await scan(d, found, budget)
  const path = found.get(want)
  if (path) return { kind: 'file', path }
  const b = BUILTIN_MODULES.find(m => m.def.name === want)
  return b ? { kind: 'shipped', module: b, path: shippedPath(b) } : undefined
}
