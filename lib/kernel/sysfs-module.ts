// /sys/module/<name>: the directory the module loader creates before init runs.
import { KDir, KSymlink } from '../kobject/node'
import { EINVAL } from '../kobject/errno'
import type { Kernel } from './kernel'
import type { ModuleInstance } from './module'
import { showParam } from './params'

const INITSTATE: Record<string, string> = { LIVE: 'live', COMING: 'coming', GOING: 'going', UNFORMED: 'unformed' }

export function createModuleSysfs (k: Kernel, mod: ModuleInstance): KDir {
  const created = k.sysModule.mkdir(mod.name)
  if (typeof created === 'number') throw new Error(`/sys/module/${mod.name} exists`)
  const dir = created
  dir.addAttr('refcnt', 0o444, { show: () => `${mod.refcnt}\n` })
  dir.addAttr('initstate', 0o444, { show: () => `${INITSTATE[mod.state]}\n` })
  dir.addAttr('coresize', 0o444, { show: () => `${mod.coresize}\n` })
  dir.addAttr('initsize', 0o444, { show: () => '0\n' })
  dir.addAttr('taint', 0o444, { show: () => `${mod.taints}\n` })
  dir.addAttr('uevent', 0o200, { store: (s) => (/^(add|remove|change|move|online|offline|bind|unbind)\b/.test(s.trim()) ? 0 : -EINVAL) })
  const srcversion = mod.modinfo.find(([key]) => key === 'srcversion')?.[1]
  if (srcversion) dir.addAttr('srcversion', 0o444, { show: () => `${srcversion}\n` })
  const version = mod.modinfo.find(([key]) => key === 'version')?.[1]
  if (version) dir.addAttr('version', 0o444, { show: () => `${version}\n` })

  const holders = dir.ensureDir('holders')
  holders.provider = {
    list: () => [...mod.holders],
    lookup: (name) => (mod.holders.has(name) ? new KSymlink(name, `../../${name}`) : undefined),
  }
  const sections = dir.ensureDir('sections')
  sections.addAttr('.text', 0o400, { show: () => `0x${mod.baseAddr.toString(16)}\n` })
  sections.addAttr('.gnu.linkonce.this_module', 0o400, { show: () => `0x${(mod.baseAddr + BigInt(mod.coresize - 0x800)).toString(16)}\n` })
  dir.ensureDir('notes')

  const params = Object.entries(mod.paramSpecs).filter(([, spec]) => (spec.mode ?? 0) !== 0)
  if (params.length) {
    const pdir = dir.ensureDir('parameters')
    for (const [pname, spec] of params) {
      const mode = spec.mode ?? 0
      pdir.addAttr(pname, mode, {
        show: (mode & 0o444) ? () => showParam(spec, mod.params[pname]) : undefined,
        store: (mode & 0o222) ? (s) => k.modules.setParam(mod, pname, s) : undefined,
      })
    }
  }
  return dir
}

/** Built-in "modules" every kernel shows under /sys/module (parameters of built-in code). */
export function createBuiltinModuleDirs (k: Kernel): void {
  const builtin: Record<string, Record<string, string>> = {
    printk: { time: 'Y', ignore_loglevel: 'N', always_kmsg_dump: 'N', console_no_auto_verbose: 'N' },
    kernel: { panic: '0', panic_on_warn: '0', initcall_debug: 'N' },
    workqueue: { power_efficient: 'N', disable_numa: 'N', debug_force_rr_cpu: 'N' },
    rcupdate: { rcu_expedited: '0', rcu_normal: '0', rcu_cpu_stall_timeout: '21' },
    module: { sig_enforce: 'N' },
  }
  for (const [name, params] of Object.entries(builtin)) {
    const d = k.sysModule.ensureDir(name)
    const p = d.ensureDir('parameters')
    for (const [pname, value] of Object.entries(params)) {
      let current = value
      p.addAttr(pname, pname === 'sig_enforce' ? 0o444 : 0o644, {
        show: () => `${current}\n`,
        store: pname === 'sig_enforce' ? undefined : (s) => { current = s.replace(/\n$/, ''); return 0 },
      })
    }
    d.addAttr('uevent', 0o200, { store: () => 0 })
  }
}
