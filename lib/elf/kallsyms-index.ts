import { EINVAL } from '../kobject/errno'
import type { KallsymsEntry } from './kallsyms-file'
import type { KlpLogger, KlpResolver } from './klp'

/**
 * Name -> addresses (in kallsyms order) per object, answering livepatch symbol
 * lookups the way kernel/livepatch/core.c klp_find_object_symbol() does.
 */
export class KallsymsIndex {
  private readonly vmlinux = new Map<string, bigint[]>()
  private readonly modules = new Map<string, Map<string, bigint[]>>()

  constructor(entries: Iterable<KallsymsEntry>, private readonly log: KlpLogger = () => {}) {
    for (const e of entries) this.add(e)
  }

  add(e: KallsymsEntry): void {
    let table = this.vmlinux
    if (e.module !== null) {
      let m = this.modules.get(e.module)
      if (!m) {
        m = new Map()
        this.modules.set(e.module, m)
      }
      table = m
    }
    const list = table.get(e.name)
    if (list) list.push(e.addr)
    else table.set(e.name, [e.addr])
  }

  /** All addresses of `name` in an object ('vmlinux' or null = vmlinux), in kallsyms order. */
  addresses(objname: string | null, name: string): readonly bigint[] {
    const table = objname === null || objname === 'vmlinux' ? this.vmlinux : this.modules.get(objname)
    return table?.get(name) ?? []
  }

  /**
   * Address of the sympos-th `name` in the object (sympos 0: the symbol must be unique),
   * or -EINVAL after one of the kernel's messages.  Like the kernel's callback, counting
   * stops at the sympos-th match (sympos > 0) or at the second match (sympos 0), and an
   * address of 0 counts as not found.
   */
  lookup(objname: string | null, name: string, sympos: number): bigint | number {
    const obj = objname === 'vmlinux' ? null : objname
    const list = this.addresses(obj, name)
    const count = Math.min(list.length, sympos > 0 ? sympos : 2)
    const addr = count > 0 ? list[count - 1] : 0n
    if (addr === 0n) {
      this.log('err', `symbol '${name}' not found in symbol table`)
    } else if (count > 1 && sympos === 0) {
      // objname is NULL for vmlinux here, which printk renders as "(null)".
      this.log('err', `unresolvable ambiguity for symbol '${name}' in object '${obj ?? '(null)'}'`)
    } else if (sympos !== count && sympos > 0) {
      this.log('err', `symbol position ${sympos} for symbol '${name}' in object '${obj ?? 'vmlinux'}' not found`)
    } else {
      return addr
    }
    return -EINVAL
  }

  /** A KlpResolver backed by lookup(). */
  resolver(): KlpResolver {
    return (objname, symname, sympos) => {
      const r = this.lookup(objname, symname, sympos)
      return typeof r === 'bigint' ? { addr: r } : r
    }
  }
}
