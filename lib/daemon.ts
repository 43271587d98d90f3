// A running klpsim instance: a simulated machine served through FUSE at a
// mount point.
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { Simulator, SimulatorOptions } from './simulator'
import { mountTree, FuseMount } from './fuse'

export interface DaemonOptions extends SimulatorOptions {
  mountpoint: string
  allowOther?: boolean
}

export class Daemon {
  readonly sim: Simulator
  readonly mountpoint: string
  private mount: FuseMount | null = null
  private readonly closers: Array<() => Promise<void> | void> = []

  constructor (readonly opts: DaemonOptions) {
    this.mountpoint = resolve(opts.mountpoint)
    this.sim = new Simulator(opts)
  }

  async start (): Promise<void> {
    mkdirSync(this.mountpoint, { recursive: true })
    this.mount = await mountTree(this.sim.kernel.root, this.mountpoint, {
      allowOther: this.opts.allowOther,
      onError: (err, op, path) => this.sim.kernel.reportInternalError(`fuse ${op} ${path}`, err),
    })
  }

  /** Something to run on stop (the control socket, host process watchers). */
  onStop (fn: () => Promise<void> | void): void { this.closers.push(fn) }

  async stop (): Promise<void> {
    for (const c of this.closers.splice(0).reverse()) await c()
    await this.mount?.unmount()
    this.mount = null
  }
}
