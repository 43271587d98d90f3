// Livepatch relocations of a patch module's ELF image (kernel/livepatch/core.c
// klp_apply_section_relocs / klp_apply_object_relocs, kernel/module/livepatch.c):
// `.klp.rela.vmlinux.*` at module load, `.klp.rela.<module>.*` when the target
// module is there (at enable, or in the module-coming hook), cleared when it goes.
import type { ElfFile } from '../elf/reader'
import { klpWriteObjectRelocs, KlpLogger, KlpResolver, KlpWriteOptions } from '../elf/klp'
import { KLP_REFS_SECTION, KLP_REF_SIZE } from '../elf/ko'
import { KERN_ERR, KERN_INFO, KERN_WARNING } from '../kernel/printk'
import type { ModuleInstance } from '../kernel/module'
import type { Livepatch } from './livepatch'
import type { KlpObject, KlpPatch } from './types'

/** Where the patch module's sections are loaded: one 4 KiB slot per section after the module's text. */
function sectionBase (mod: ModuleInstance): (secIndex: number) => bigint {
  return (secIndex) => mod.baseAddr + BigInt(mod.coresize) + 0x1000n + BigInt(secIndex) * 0x1000n
}

export class ElfRelocations {
  constructor (private readonly lp: Livepatch) {
    lp.kernel.modules.hooks.relocate.push((mod) => this.applyAtLoad(mod))
    lp.relocations = this
  }

  private elfOf (mod: ModuleInstance): ElfFile | undefined {
    const e = mod.image as ElfFile | undefined
    return e && typeof e === 'object' && Array.isArray((e as ElfFile).sections) ? e : undefined
  }

  private log: KlpLogger = (level, msg) => {
    const lvl = level === 'err' ? KERN_ERR : level === 'warn' ? KERN_WARNING : KERN_INFO
    this.lp.kernel.printk.log(lvl, 'livepatch: ' + msg)
  }

  private archLog: KlpLogger = (level, msg) => {
    const lvl = level === 'err' ? KERN_ERR : level === 'warn' ? KERN_WARNING : KERN_INFO
    this.lp.kernel.printk.log(lvl, msg)
  }

  /** klp_find_object_symbol through the core, as klp_resolve_symbols uses it. */
  private resolver: KlpResolver = (objname, symname, sympos) => {
    const found = this.lp.core.findObjectSymbol(objname === 'vmlinux' ? null : objname, symname, sympos)
    return typeof found === 'number' ? found : { addr: found.addr }
  }

  private opts (mod: ModuleInstance): KlpWriteOptions {
    return { sectionBase: sectionBase(mod), moduleName: mod.name, archLog: this.archLog }
  }

  /** apply_relocations: the vmlinux sections of any module that has livepatch relocations. */
  private applyAtLoad (mod: ModuleInstance): number {
    const elf = this.elfOf(mod)
    if (!elf) return 0
    const ret = klpWriteObjectRelocs(elf, null, this.resolver, this.log, true, this.opts(mod))
    if (!ret) this.publishRefs(mod, elf)
    return ret
  }

  /** klp_apply_object_relocs for a module object of a patch. */
  applyObject (patch: KlpPatch, obj: KlpObject): number {
    const elf = this.elfOf(patch.mod)
    if (!elf || !obj.name) return 0
    const ret = klpWriteObjectRelocs(elf, obj.name, this.resolver, this.log, true, this.opts(patch.mod))
    if (!ret) this.publishRefs(patch.mod, elf)
    return ret
  }

  /** klp_clear_object_relocs: the target module went away. */
  clearObject (patch: KlpPatch, obj: KlpObject): void {
    const elf = this.elfOf(patch.mod)
    if (!elf || !obj.name) return
    klpWriteObjectRelocs(elf, obj.name, this.resolver, this.log, false, this.opts(patch.mod))
    this.publishRefs(patch.mod, elf)
  }

  /** The module's code reads its references' addresses from the relocated slots. */
  private publishRefs (mod: ModuleInstance, elf: ElfFile): void {
    const sec = elf.sectionByName(KLP_REFS_SECTION)
    const refs = mod.def.references ?? []
    if (!sec) return
    const data = sec.data
    refs.forEach((ref, i) => {
      if ((i + 1) * KLP_REF_SIZE > data.length) return
      const value = data.readBigUInt64LE(i * KLP_REF_SIZE)
      const key = `${ref.object ?? 'vmlinux'}:${ref.symbol}`
      if (value === 0n) {
        delete mod.refs[key]
        delete mod.refs[ref.symbol]
      } else {
        mod.refs[key] = value
        mod.refs[ref.symbol] = value
      }
    })
  }
}
