// The public module API: how a module (built-in or a user's .ko) is defined, and
// the per-load instance its code sees as ctx.module.
import type { Ctx } from './context'
import type { KFunc, Ksym, SymbolTable } from './kallsyms'
import type { ParamSpec } from './params'
import type { KDir } from '../kobject/node'
import type { Kernel } from './kernel'
import { kvsprintf } from './printf'
import { KERN_DEBUG, KERN_ERR, KERN_INFO, KERN_NOTICE, KERN_WARNING } from './printk'
import type { DebugSite } from './dyndbg'

export interface ModuleFunctionSpec {
  impl: KFunc
  /** Symbol size in bytes (default 0x40). */
  size?: number
  /** Exported/global symbol ('T' in kallsyms) instead of static ('t'). */
  global?: boolean
}

export interface SymbolReference {
  /** 'vmlinux' (default) or a module name. */
  object?: string
  symbol: string
  sympos?: number
}

/**
 * Services the kernel's subsystems add to every module instance (declaration
 * merging: the livepatch core adds `klp`).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface ModuleServices {}

/** A module's code context: ctx.module is this module's instance. */
export type ModuleCtx<S = any> = Ctx & { readonly module: ModuleInstance<S> }

export interface ModuleDefinition<S = any> {
  name: string
  /** modinfo livepatch=Y */
  livepatch?: boolean
  license?: string
  description?: string
  author?: string
  version?: string
  /** Built in the kernel tree (modinfo intree=Y): no out-of-tree taint. */
  intree?: boolean
  /** Modules this one uses (modinfo depends=). */
  depends?: string[]
  params?: Record<string, ParamSpec>
  /** The module's text symbols: patch targets and replacement functions. */
  functions?: Record<string, KFunc | ModuleFunctionSpec>
  /** Per-load state, created fresh at every load (like a module's static variables). */
  state?: () => S
  /** Non-exported kernel symbols the code uses: resolved through .klp.sym at load. */
  references?: SymbolReference[]
  init?: (ctx: ModuleCtx<S>) => number | void | Promise<number | void>
  exit?: (ctx: ModuleCtx<S>) => void | Promise<void>
  /** No exit function at all: the kernel refuses to unload such a module. */
  permanent?: boolean
}

/** Identity helper giving module definitions their types. */
export function defineModule<S = any> (def: ModuleDefinition<S>): ModuleDefinition<S> {
  return def
}

export type ModuleState = 'UNFORMED' | 'COMING' | 'LIVE' | 'GOING'

export class ModuleInstance<S = any> {
  state: ModuleState = 'UNFORMED'
  /** module_refcount(): references held by others (try_module_get). */
  refcnt = 0
  /** Modules that depend on this one. */
  readonly holders = new Set<string>()
  readonly uses = new Set<string>()
  params: Record<string, any> = {}
  readonly paramSpecs: Record<string, ParamSpec> = {}
  /** Resolved addresses of the module's symbol references (by symbol name). */
  readonly refs: Record<string, bigint> = {}
  readonly symtab: SymbolTable
  readonly functions = new Map<string, Ksym>()
  /** The module's own data: what its code keeps between calls. */
  data: S
  /** modinfo of the image it was loaded from, in file order. */
  readonly modinfo: Array<[string, string]>
  sysfsDir: KDir | null = null
  /** Taint letters of this module (O out-of-tree, E unsigned, K livepatch). */
  taints = ''
  readonly baseAddr: bigint
  coresize = 0
  readonly livepatch: boolean
  /** Set by the livepatch core: klp_module_coming ran and going has not. */
  klpAlive = false
  /** Extensions attached by kernel subsystems (livepatch: klp). */
  readonly services = {} as ModuleServices
  /** Subsystem-private per-module data (e.g. the livepatch core's patch). */
  readonly priv = new Map<string, unknown>()
  private readonly debugSites = new Map<string, DebugSite>()
  /** Opaque image data kept for later relocation passes (livepatch ELF info). */
  image: unknown = undefined

  constructor (
    readonly kernel: Kernel,
    readonly def: ModuleDefinition<S>,
    symtab: SymbolTable,
    baseAddr: bigint,
    modinfo: Array<[string, string]>,
  ) {
    this.symtab = symtab
    this.baseAddr = baseAddr
    this.modinfo = modinfo
    this.livepatch = modinfo.some(([k, v]) => k === 'livepatch' && v === 'Y')
    this.data = (def.state ? def.state() : {}) as S
  }

  get name (): string { return this.def.name }

  private print (level: number, fmt: string, args: unknown[]): void {
    this.kernel.printk.log(level, `${this.name}: ` + this.kernel.format(fmt, args))
  }

  pr_err (fmt: string, ...args: unknown[]): void { this.print(KERN_ERR, fmt, args) }
  pr_warn (fmt: string, ...args: unknown[]): void { this.print(KERN_WARNING, fmt, args) }
  pr_notice (fmt: string, ...args: unknown[]): void { this.print(KERN_NOTICE, fmt, args) }
  pr_info (fmt: string, ...args: unknown[]): void { this.print(KERN_INFO, fmt, args) }

  /** pr_debug: printed only when enabled through dynamic debug. */
  pr_debug (fmt: string, ...args: unknown[]): void {
    let site = this.debugSites.get(fmt)
    if (!site) {
      site = this.kernel.dyndbg.site(this.name, `${this.name}.c`, 'pr_debug', this.debugSites.size + 1, fmt.endsWith('\n') ? fmt : fmt + '\n')
      this.debugSites.set(fmt, site)
    }
    if (!site.flags.includes('p')) return
    this.kernel.printk.log(KERN_DEBUG, this.kernel.dyndbg.prefix(site, 0) + `${this.name}: ` + this.kernel.format(fmt, args))
  }

  /** A module function symbol by name (e.g. a replacement function). */
  symbol (name: string): Ksym | undefined { return this.functions.get(name) }

  /** The %pS-style address of one of the module's functions. */
  format (fmt: string, ...args: unknown[]): string { return kvsprintf(fmt, args) }

  /** Is this module live (try_module_get would succeed)? */
  get isLive (): boolean { return this.state !== 'GOING' && this.state !== 'UNFORMED' }
}
