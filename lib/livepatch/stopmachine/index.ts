// The openEuler livepatch without ftrace (CONFIG_LIVEPATCH_WO_FTRACE).
export { StopMachineCore, kstrtoboolOlk } from './core'
export type { StopMachineOptions } from './core'
export type { StopMachineFaults } from './patching'
export { KlpFuncNode, KlpFuncList } from './func-node'
export { KlpMutex } from './klp-mutex'
export { klpMaxReplaceSize, KLP_RETRY_COUNT, KLP_RETRY_INTERVAL } from './arch'
export { formatPatchStates } from './proc-state'
