// The built-in modules: the kernel's livepatch sample and the 14 selftest modules,
// under the file names upstream builds them as.
import { readFileSync } from 'node:fs'
import type { ModuleDefinition } from '../kernel/module'
import livepatchSample from './livepatch-sample'
import testKlpLivepatch from './test_klp_livepatch'
import testKlpAtomicReplace from './test_klp_atomic_replace'
import testKlpCallbacksDemo from './test_klp_callbacks_demo'
import testKlpCallbacksDemo2 from './test_klp_callbacks_demo2'
import testKlpCallbacksMod from './test_klp_callbacks_mod'
import testKlpCallbacksBusy from './test_klp_callbacks_busy'
import testKlpShadowVars from './test_klp_shadow_vars'
import { testKlpState, testKlpState2, testKlpState3 } from './state'
import testKlpSyscall from './test_klp_syscall'
import testKlpKprobe from './test_klp_kprobe'
import testKlpModTarget from './test_klp_mod_target'
import testKlpModPatch from './test_klp_mod_patch'

export interface BuiltinModule {
  /** The .ko file name upstream builds, e.g. livepatch-sample.ko. */
  file: string
  def: ModuleDefinition
  /** The module's compiled source file (what its undefined symbols are found in). */
  sourceFile: string
}

export const BUILTIN_MODULES: readonly BuiltinModule[] = [
  { file: 'livepatch-sample.ko', def: livepatchSample, sourceFile: require.resolve('./livepatch-sample') },
  { file: 'test_klp_livepatch.ko', def: testKlpLivepatch, sourceFile: require.resolve('./test_klp_livepatch') },
  { file: 'test_klp_atomic_replace.ko', def: testKlpAtomicReplace, sourceFile: require.resolve('./test_klp_atomic_replace') },
  { file: 'test_klp_callbacks_demo.ko', def: testKlpCallbacksDemo, sourceFile: require.resolve('./test_klp_callbacks_demo') },
  { file: 'test_klp_callbacks_demo2.ko', def: testKlpCallbacksDemo2, sourceFile: require.resolve('./test_klp_callbacks_demo2') },
  { file: 'test_klp_callbacks_mod.ko', def: testKlpCallbacksMod, sourceFile: require.resolve('./test_klp_callbacks_mod') },
  { file: 'test_klp_callbacks_busy.ko', def: testKlpCallbacksBusy, sourceFile: require.resolve('./test_klp_callbacks_busy') },
  { file: 'test_klp_shadow_vars.ko', def: testKlpShadowVars, sourceFile: require.resolve('./test_klp_shadow_vars') },
  { file: 'test_klp_state.ko', def: testKlpState, sourceFile: require.resolve('./state') },
  { file: 'test_klp_state2.ko', def: testKlpState2, sourceFile: require.resolve('./state') },
  { file: 'test_klp_state3.ko', def: testKlpState3, sourceFile: require.resolve('./state') },
  { file: 'test_klp_syscall.ko', def: testKlpSyscall, sourceFile: require.resolve('./test_klp_syscall') },
  { file: 'test_klp_kprobe.ko', def: testKlpKprobe, sourceFile: require.resolve('./test_klp_kprobe') },
  { file: 'test_klp_mod_target.ko', def: testKlpModTarget, sourceFile: require.resolve('./test_klp_mod_target') },
  { file: 'test_klp_mod_patch.ko', def: testKlpModPatch, sourceFile: require.resolve('./test_klp_mod_patch') },
]

export function findBuiltin (name: string): BuiltinModule | undefined {
  const n = name.replace(/\.ko$/, '').replace(/-/g, '_')
  return BUILTIN_MODULES.find(m => m.def.name === n || m.file === name)
}

const sources = new Map<string, string>()

/** The text of a built-in module's source (its compiled JavaScript). */
export function builtinSource (b: BuiltinModule): string {
  let text = sources.get(b.sourceFile)
  if (text === undefined) {
    text = readFileSync(b.sourceFile, 'utf8')
    sources.set(b.sourceFile, text)
  }
  return text
}
