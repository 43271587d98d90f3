// The built-in modules: the kernel's livepatch sample and the 14 selftest modules,
// under the file names upstream builds them as.
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
}

export const BUILTIN_MODULES: readonly BuiltinModule[] = [
  { file: 'livepatch-sample.ko', def: livepatchSample },
  { file: 'test_klp_livepatch.ko', def: testKlpLivepatch },
  { file: 'test_klp_atomic_replace.ko', def: testKlpAtomicReplace },
  { file: 'test_klp_callbacks_demo.ko', def: testKlpCallbacksDemo },
  { file: 'test_klp_callbacks_demo2.ko', def: testKlpCallbacksDemo2 },
  { file: 'test_klp_callbacks_mod.ko', def: testKlpCallbacksMod },
  { file: 'test_klp_callbacks_busy.ko', def: testKlpCallbacksBusy },
  { file: 'test_klp_shadow_vars.ko', def: testKlpShadowVars },
  { file: 'test_klp_state.ko', def: testKlpState },
  { file: 'test_klp_state2.ko', def: testKlpState2 },
  { file: 'test_klp_state3.ko', def: testKlpState3 },
  { file: 'test_klp_syscall.ko', def: testKlpSyscall },
  { file: 'test_klp_kprobe.ko', def: testKlpKprobe },
  { file: 'test_klp_mod_target.ko', def: testKlpModTarget },
  { file: 'test_klp_mod_patch.ko', def: testKlpModPatch },
]

export function findBuiltin (name: string): BuiltinModule | undefined {
  const n = name.replace(/\.ko$/, '').replace(/-/g, '_')
  return BUILTIN_MODULES.find(m => m.def.name === n || m.file === name)
}
