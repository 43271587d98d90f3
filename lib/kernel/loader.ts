// The module loader: load/unload with the kernel's states and ordering
// (COMING → init → LIVE; exit → GOING), parameters, refcounts, /sys/module.
import { EBUSY, EEXIST, EFAULT, EINVAL, ENOENT, ENOEXEC, EWOULDBLOCK } from '../kobject/errno'
import type { Ctx } from './context'
import { KernelOops } from './dispatch'
import { KFunc, Ksym, SymbolTable } from './kallsyms'
import type { Kernel } from './kernel'
import { ModuleDefinition, ModuleFunctionSpec, ModuleInstance, ModuleState } from './module'
import { defaultValue, paramKey, parseParam, splitArgs } from './params'
import { KERN_ERR, KERN_NOTICE, KERN_WARNING } from './printk'
import { createModuleSysfs } from './sysfs-module'

/** What the loader needs of a module file (a .ko or a built-in module). */
export interface ModuleImage {
  def: ModuleDefinition
  /** The name in .gnu.linkonce.this_module. */
  name: string
  modinfo: Array<[string, string]>
  /** Opaque data for relocation hooks (the parsed ELF for livepatch relocations). */
  elf?: unknown
  /** The kernel symbols the module's code links against (its undefined symbols). */
  imports?: readonly string[]
}

export type ModuleNotifierEvent = 'COMING' | 'LIVE' | 'GOING'

export interface LoaderHooks {
  /** apply_relocations: after the module's symbols exist, before sysfs (klp .klp.rela.vmlinux.*). */
  relocate: Array<(mod: ModuleInstance) => number>
  /** prepare_coming_module → klp_module_coming: before the notifier chain and init. */
  coming: Array<(mod: ModuleInstance) => number>
  /** klp_module_going: after exit and the GOING notifiers. */
  going: Array<(mod: ModuleInstance) => void>
  /** delete_module's extra safety checks (stop_machine livepatch). */
  deleteCheck: Array<(mod: ModuleInstance) => number>
  /** Right after the module's exit function, on the unloading task (stop_machine livepatch: klp_unregister_patch). */
  exited: Array<(mod: ModuleInstance, ctx: Ctx) => void | Promise<void>>
  /** Subsystems attaching services to a new instance (ctx.module.klp, ...). */
  instance: Array<(mod: ModuleInstance) => void>
  /** The module notifier chain. */
  notifier: Array<(event: ModuleNotifierEvent, mod: ModuleInstance) => number | void>
}

interface FunctionLayout { name: string, impl: KFunc, off: number, size: number, type: string }

const MODULE_AREA = 0xffffffffc0000000n
const DEFAULT_FUNC_SIZE = 0x40

export class ModuleLoader {
  private readonly mods = new Map<string, ModuleInstance>()
  readonly hooks: LoaderHooks = { relocate: [], coming: [], going: [], deleteCheck: [], exited: [], instance: [], notifier: [] }
  private nextBase = MODULE_AREA + 0xa00000n
  /** Fault injection: a module init that fails with a chosen errno. */
  initFault: ((name: string) => number | undefined) | undefined

  constructor (private readonly kernel: Kernel) {}

  find (name: string): ModuleInstance | undefined { return this.mods.get(name) }
  /** Loaded modules, newest first (the kernel's module list order). */
  list (): ModuleInstance[] { return [...this.mods.values()].reverse() }

  /** try_module_get */
  get (mod: ModuleInstance): boolean {
    if (mod.state === 'GOING' || !this.mods.has(mod.name)) return false
    mod.refcnt++
    return true
  }

  /** module_put */
  put (mod: ModuleInstance): void {
    if (mod.refcnt > 0) mod.refcnt--
  }

  private allocate (image: ModuleImage): { base: bigint, layout: FunctionLayout[], core: number } {
    const base = this.nextBase
    const layout: FunctionLayout[] = []
    let off = 0
    for (const [name, f] of Object.entries(image.def.functions ?? {})) {
      const spec: ModuleFunctionSpec = typeof f === 'function' ? { impl: f } : f
      const size = spec.size ?? DEFAULT_FUNC_SIZE
      layout.push({ name, impl: spec.impl, off, size, type: spec.global ? 'T' : 't' })
      off += Math.ceil(size / 16) * 16
    }
    const core = Math.max(0x4000, Math.ceil((off + 0x1000) / 0x1000) * 0x1000)
    this.nextBase += BigInt(Math.ceil((core + 0x10000) / 0x10000) * 0x10000)
    return { base, layout, core }
  }

  /** Adds a function symbol to a loaded module (a replacement function known only at init). */
  addFunction (mod: ModuleInstance, name: string, impl: KFunc, size = DEFAULT_FUNC_SIZE): Ksym {
    const existing = mod.functions.get(name)
    if (existing) return existing
    let end = mod.baseAddr
    for (const s of mod.symtab.syms) if (s.isText && s.addr + BigInt(s.size) > end) end = s.addr + BigInt(s.size)
    const addr = (end + 15n) & ~15n
    const sym = new Ksym(name, addr, size, 't', mod.name)
    sym.impl = impl
    sym.owner = mod
    mod.symtab.add(sym)
    mod.functions.set(name, sym)
    this.kernel.kallsyms.invalidate()
    return sym
  }

  /**
   * A module that was loaded before the simulation started (its symbols come from a
   * real kernel's symbol table): live, livepatchable, without simulated code.
   */
  addResident (name: string, symbols: ReadonlyArray<{ addr: bigint, type: string, name: string, size: number }>): ModuleInstance {
    const symtab = new SymbolTable(name)
    let lo = symbols[0]?.addr ?? this.nextBase
    let hi = lo
    for (const s of symbols) {
      symtab.add(new Ksym(s.name, s.addr, s.size, s.type, name))
      if (s.addr < lo) lo = s.addr
      if (s.addr + BigInt(s.size) > hi) hi = s.addr + BigInt(s.size)
    }
    symtab.sortByAddress()
    const def: ModuleDefinition = { name }
    const mod = new ModuleInstance(this.kernel, def, symtab, lo, [['name', name]])
    mod.coresize = Math.max(0x1000, Math.ceil(Number(hi - lo) / 0x1000) * 0x1000)
    for (const s of symtab.syms) if (s.isText) mod.functions.set(s.name, s)
    this.mods.set(name, mod)
    for (const attach of this.hooks.instance) attach(mod)
    this.kernel.kallsyms.addModule(symtab)
    mod.sysfsDir = createModuleSysfs(this.kernel, mod)
    mod.state = 'LIVE'
    mod.klpAlive = true
    return mod
  }

  /** load_module + do_init_module, run by the calling task. Returns 0 or -errno. */
  async load (image: ModuleImage, args: readonly string[], ctx: Ctx): Promise<number> {
    const k = this.kernel
    const name = image.name
    if (!name) return -ENOEXEC
    const old = this.mods.get(name)
    if (old) return old.state === 'LIVE' ? -EEXIST : -EBUSY

    const vermagic = image.modinfo.find(([key]) => key === 'vermagic')?.[1]
    if (vermagic !== undefined && vermagic !== k.vermagic) {
      k.printk.log(KERN_ERR, `${name}: version magic '${vermagic}' should be '${k.vermagic}'`)
      return -ENOEXEC
    }

    const symtab = new SymbolTable(name)
    const { base, layout, core } = this.allocate(image)
    const mod = new ModuleInstance(k, image.def, symtab, base, image.modinfo)
    mod.coresize = core
    mod.image = image.elf
    for (const f of layout) {
      const sym = new Ksym(f.name, base + BigInt(f.off), f.size, f.type, name)
      sym.impl = f.impl
      sym.owner = mod
      symtab.add(sym)
      mod.functions.set(f.name, sym)
    }
    const thisModule = new Ksym('__this_module', base + BigInt(core - 0x800), 0x500, 'D', name)
    symtab.add(thisModule)
    this.mods.set(name, mod)

    // check_modinfo
    if (!image.modinfo.some(([key, v]) => key === 'intree' && v === 'Y')) {
      if (!k.hasTaint('O')) k.printk.log(KERN_WARNING, `${name}: loading out-of-tree module taints kernel.`)
      k.addTaint('O')
      mod.taints += 'O'
    }
    if (mod.livepatch) {
      k.addTaint('K')
      mod.taints += 'K'
      k.printk.logOnce('taint-livepatch', KERN_NOTICE, `${name}: tainting kernel with TAINT_LIVEPATCH`)
    }

    const fail = (err: number): number => {
      this.mods.delete(name)
      k.kallsyms.removeModule(name)
      k.dyndbg.removeModule(name)
      mod.sysfsDir?.detach()
      mod.sysfsDir = null
      return err
    }

    // simplify_symbols: every undefined symbol must be exported by the kernel
    let unresolved = 0
    for (const sym of image.imports ?? []) {
      if (k.exports.has(sym)) continue
      k.printk.log(KERN_WARNING, `${name}: Unknown symbol ${sym} (err ${-ENOENT})`)
      unresolved = -ENOENT
    }
    if (unresolved) return fail(unresolved)

    // parameters
    for (const [pname, spec] of Object.entries(image.def.params ?? {})) {
      mod.paramSpecs[pname] = spec
      mod.params[pname] = defaultValue(spec)
    }
    for (const { name: rawName, value } of splitArgs(args)) {
      const key = Object.keys(mod.paramSpecs).find(p => paramKey(p) === paramKey(rawName))
      if (!key) {
        // unknown_module_param_cb: ignored with a warning, the load goes on
        k.printk.log(KERN_WARNING, `${name}: unknown parameter '${rawName}' ignored`)
        continue
      }
      const parsed = parseParam(name, key, mod.paramSpecs[key], value, this.kernel.kstrtobool)
      if (parsed !== null && typeof parsed === 'object' && 'errno' in parsed) {
        if (parsed.message) k.printk.log(KERN_ERR, parsed.message)
        k.printk.log(KERN_ERR, `${name}: \`${value ?? ''}' invalid for parameter \`${key}'`)
        return fail(parsed.errno)
      }
      mod.params[key] = parsed
    }

    for (const dep of image.def.depends ?? []) {
      const d = this.mods.get(dep)
      if (!d || d.state !== 'LIVE') {
        k.printk.log(KERN_WARNING, `${name}: Unknown symbol in module ${dep} (err ${-ENOENT})`)
        return fail(-ENOENT)
      }
    }

    for (const attach of this.hooks.instance) attach(mod)
    k.kallsyms.addModule(symtab)
    for (const relocate of this.hooks.relocate) {
      const rc = relocate(mod)
      if (rc) return fail(rc)
    }
    for (const dep of image.def.depends ?? []) {
      const d = this.mods.get(dep)!
      d.holders.add(name)
      mod.uses.add(dep)
      d.refcnt++
    }
    const undoDeps = (): void => {
      for (const dep of mod.uses) {
        const d = this.mods.get(dep)
        if (d) { d.holders.delete(name); this.put(d) }
      }
    }

    mod.sysfsDir = createModuleSysfs(k, mod)
    this.setState(mod, 'COMING')
    for (const coming of this.hooks.coming) {
      const rc = coming(mod)
      if (rc) { undoDeps(); this.setState(mod, 'GOING'); return fail(rc) }
    }
    const nrc = this.notify('COMING', mod)
    if (nrc) {
      for (const going of this.hooks.going) going(mod)
      undoDeps()
      this.setState(mod, 'GOING')
      return fail(nrc)
    }

    let ret = await this.runInit(mod, ctx)
    if (ret > 0) {
      k.printk.log(KERN_WARNING, `do_init_module: '${name}'->init suspiciously returned ${ret}, it should follow 0/-E convention`)
      ret = 0
    }
    if (ret < 0) {
      this.setState(mod, 'GOING')
      this.notify('GOING', mod)
      for (const going of this.hooks.going) going(mod)
      undoDeps()
      return fail(ret)
    }
    this.setState(mod, 'LIVE')
    this.notify('LIVE', mod)
    return 0
  }

  private setState (mod: ModuleInstance, state: ModuleState): void { mod.state = state }

  private notify (event: ModuleNotifierEvent, mod: ModuleInstance): number {
    for (const n of this.hooks.notifier) {
      const rc = n(event, mod)
      if (typeof rc === 'number' && rc < 0) return rc
    }
    return 0
  }

  private async runInit (mod: ModuleInstance, ctx: Ctx): Promise<number> {
    const injected = this.initFault?.(mod.name)
    if (injected !== undefined) return injected
    const init = mod.def.init
    if (!init) return 0
    const initSym = new Ksym(`${mod.name}_init`, mod.baseAddr + BigInt(mod.coresize), 0x40, 't', mod.name)
    initSym.impl = (c: Ctx) => init(c as never)
    initSym.owner = mod
    try {
      const r = await ctx.call('do_init_module', initSym)
      return typeof r === 'number' ? r : 0
    } catch (e) {
      if (!(e instanceof KernelOops)) this.kernel.reportInternalError(`init of ${mod.name}`, e)
      return -EFAULT
    }
  }

  /** delete_module(name, O_NONBLOCK) run by the calling task. */
  async unload (name: string, ctx: Ctx): Promise<number> {
    const mod = this.mods.get(name)
    if (!mod) return -ENOENT
    if (mod.holders.size) return -EWOULDBLOCK
    if (mod.state !== 'LIVE') return -EBUSY
    if (mod.def.init && mod.def.permanent) return -EBUSY
    for (const check of this.hooks.deleteCheck) {
      const rc = check(mod)
      if (rc) return rc
    }
    if (mod.refcnt > 0) return -EWOULDBLOCK
    this.setState(mod, 'GOING')
    if (mod.def.exit) {
      const exit = mod.def.exit
      const exitSym = new Ksym(`${mod.name}_exit`, mod.baseAddr + BigInt(mod.coresize) + 0x40n, 0x40, 't', mod.name)
      exitSym.impl = (c: Ctx) => exit(c as never)
      exitSym.owner = mod
      try {
        await ctx.call(exitSym)
      } catch (e) {
        if (!(e instanceof KernelOops)) this.kernel.reportInternalError(`exit of ${mod.name}`, e)
      }
    }
    for (const exited of this.hooks.exited) await exited(mod, ctx)
    this.notify('GOING', mod)
    for (const going of this.hooks.going) going(mod)
    for (const dep of mod.uses) {
      const d = this.mods.get(dep)
      if (d) { d.holders.delete(name); this.put(d) }
    }
    this.mods.delete(name)
    this.kernel.kallsyms.removeModule(name)
    this.kernel.dyndbg.removeModule(name)
    mod.sysfsDir?.detach()
    mod.sysfsDir = null
    return 0
  }

  /** Validates a parameter write through sysfs (param_attr_store). */
  setParam (mod: ModuleInstance, pname: string, raw: string): number {
    const spec = mod.paramSpecs[pname]
    if (!spec) return -ENOENT
    const textual = spec.type === 'charp' || spec.type === 'string'
    const parsed = parseParam(mod.name, pname, spec, textual ? raw.replace(/\n$/, '') : raw, this.kernel.kstrtobool)
    if (parsed !== null && typeof parsed === 'object' && 'errno' in parsed) return parsed.errno || -EINVAL
    mod.params[pname] = parsed
    return 0
  }
}
