export * from './errno'
export * from './node'
export * from './kernfs'
export * from './view'
