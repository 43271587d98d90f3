export { mountTree, isMountPoint, lazyUnmount } from './mount'
export type { FuseMount, MountOptions } from './mount'
export { loadFuse, fuseUnavailableReason, bundledLibfuse, FuseUnavailableError } from './libfuse'
export { childStdio, fuseDeviceFds } from './child-stdio'
