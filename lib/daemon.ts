// A running klpsim instance: a simulated machine served through FUSE at a
// mount point.
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { Simulator, SimulatorOptions } from './simulator'
import { mountTree, FuseMount } from './fuse'
import { ControlServer } from './control/server'

export interface DaemonOptions extends SimulatorOptions {
  mountpoint: string
  allowOther?: boolean
  /** The control socket: false for none, a path to put it there; derived from the mount point by default. */
  control?: boolean | string
}

export class Daemon {
  readonly sim: Simulator
  readonly mountpoint: string
  private mount: FuseMount | null = null
  /** The control channel's server, while the daemon runs. */
  control: ControlServer | null = null
  private readonly closers: Array<() => Promise<void> | void> = []

  constructor (readonly opts: DaemonOptions) {
    this.mountpoint = resolve(opts.mountpoint)
    this.sim = new Simulator(opts)
  }

  async start (): Promise<void> {
    try {
      mkdirSync(this.mountpoint, { recursive: true })
    } catch (e) {
      // a dead mount left by a killed daemon: mountTree clears it
      const code = (e as NodeJS.ErrnoException).code
      if (code !== 'ENOTCONN' && code !== 'ECONNABORTED') throw e
    }
    // the socket first: a second daemon for the same mount point stops here
    if (this.opts.control !== false) {
      const socketPath = typeof this.opts.control === 'string' ? this.opts.control : undefined
      this.control = await ControlServer.start({ sim: this.sim, mountpoint: this.mountpoint, socketPath })
    }
    try {
      this.mount = await mountTree(this.sim.kernel.root, this.mountpoint, {
        allowOther: this.opts.allowOther,
        onError: (err, op, path) => this.sim.kernel.reportInternalError(`fuse ${op} ${path}`, err),
      })
    } catch (e) {
      await this.control?.close()
      this.control = null
      throw e
    }
  }

  /** Resolves when the mount goes away, also by someone else's umount. */
  unmounted (): Promise<void> { return this.mount ? this.mount.closed : Promise.resolve() }

  /** Something to run on stop (the control socket, host process watchers). */
  onStop (fn: () => Promise<void> | void): void { this.closers.push(fn) }

  async stop (): Promise<void> {
    for (const c of this.closers.splice(0).reverse()) await c()
    await this.control?.close()
    this.control = null
    await this.mount?.unmount()
    this.mount = null
  }
}
