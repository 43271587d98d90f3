// stop-machine-mode.md §7, module and code rows: target modules, the patch
// module's own unloading, kprobes, static keys and calls, function sizes,
// replace and nops, callbacks versus hooks, ELF relocation checks, symbol
// positions and the function directories.
import { EBUSY, EINVAL, ENOENT, ENOPKG, EWOULDBLOCK } from '../../lib/kobject/errno'
import { buildKo, readKo } from '../../lib/elf/ko'
import { defineModule, ModuleDefinition } from '../../lib/kernel/module'
import { modinfoFor } from '../../lib/module-image'
import type { ModuleImage } from '../../lib/kernel/loader'
import { boot, echoEnabled, gone, KLP, Machine, row, transitionDone, writeError } from './helpers/machine'
import { cmdlinePatch, patchModule, patchWithThread, sizedTarget, slowTarget } from './helpers/modules'

const MOD_PATCH = `${KLP}/test_klp_mod_patch`
const PATCHED_TARGET = 'test_klp_mod_patch: this has been live patched\n'

row('target module not loaded: patched when it comes vs ENOPKG, and EINVAL while COMING', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('test_klp_mod_patch'), 0)
    const mark = m.mark()
    t.is(await m.insmod('test_klp_mod_target'), 0)
    t.true(m.log(mark).includes("livepatch: applying patch 'test_klp_mod_patch' to loading module 'test_klp_mod_target'"))
    t.is(await m.cat('proc/test_klp_mod_target'), PATCHED_TARGET)
  },
  stopMachine: async (t, m) => {
    let mark = m.mark()
    t.is(await m.insmod('test_klp_mod_patch'), -ENOPKG)
    t.true(m.log(mark).includes("livepatch: module 'test_klp_mod_target' not loaded"))
    t.is((await m.sh(`test -e "$R/${MOD_PATCH}"; echo $?`)).stdout, '1\n')
    const slow = m.insmod(slowTarget('slow_target', 2000))
    await m.until(() => m.sim.kernel.modules.find('slow_target')?.state === 'COMING', 'the target is in its init')
    mark = m.mark()
    t.is(await m.insmod(patchModule('too_early', [{ name: 'slow_target', funcs: [{ oldName: 'slow_target_fn' }] }])), -EINVAL)
    t.deepEqual(m.log(mark).filter(l => l.startsWith('livepatch: ')), [], 'no message for a COMING target')
    t.is(await slow, 0)
    t.is(await m.insmod(patchModule('in_time', [{ name: 'slow_target', funcs: [{ oldName: 'slow_target_fn' }] }])), 0)
  },
})

row('target module unload: reverted vs blocked by the reference the patch holds', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('test_klp_mod_target'), 0)
    t.is(await m.insmod('test_klp_mod_patch'), 0)
    await transitionDone(m)
    t.is(await m.cat('sys/module/test_klp_mod_target/refcnt'), '0\n')
    const mark = m.mark()
    t.is(await m.rmmod('test_klp_mod_target'), 0)
    t.true(m.log(mark).includes("livepatch: reverting patch 'test_klp_mod_patch' on unloading module 'test_klp_mod_target'"))
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod('test_klp_mod_target'), 0)
    t.is(await m.insmod('test_klp_mod_patch'), 0)
    t.is(await m.cat('sys/module/test_klp_mod_target/refcnt'), '1\n')
    t.is(await m.rmmod('test_klp_mod_target'), -EWOULDBLOCK, 'registered and disabled')
    t.is((await echoEnabled(m, 'test_klp_mod_patch', 1)).code, 0)
    t.is(await m.cat('proc/test_klp_mod_target'), PATCHED_TARGET)
    t.is(await m.rmmod('test_klp_mod_target'), -EWOULDBLOCK, 'enabled')
  },
})

row('rmmod of the patch module', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('livepatch-sample'), 0)
    t.is(await m.rmmod('livepatch_sample'), -EWOULDBLOCK)
    await transitionDone(m)
    t.is((await echoEnabled(m, 'livepatch_sample', 0)).code, 0)
    await gone(m, `${KLP}/livepatch_sample`)
    await m.until(() => m.sim.kernel.modules.find('livepatch_sample')!.refcnt === 0, 'the free dropped the reference')
    t.is(await m.rmmod('livepatch_sample'), 0)
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod(cmdlinePatch('plain')), 0)
    t.is((await echoEnabled(m, 'plain', 1)).code, 0)
    t.is(await m.rmmod('plain'), -EWOULDBLOCK, 'the enabled patch holds its module')
    t.is((await echoEnabled(m, 'plain', 0)).code, 0)
    t.is(await m.rmmod('plain'), 0, 'echo 0, then rmmod')
    t.is(await m.insmod(patchWithThread('thready')), 0)
    t.is((await echoEnabled(m, 'thready', 1)).code, 0)
    let mark = m.mark()
    t.is(await m.rmmod('thready'), -EBUSY, 'klp_module_delete_safety_check comes before the refcount')
    t.is(m.log(mark)[0], 'livepatch: module thready is in use!')
    t.is((await echoEnabled(m, 'thready', 0)).code, 0)
    mark = m.mark()
    t.is(await m.rmmod('thready'), -EBUSY)
    t.true(m.log(mark).some(l => /^livepatch: thready_thread:\d+ check stack failed, ret=-16$/.test(l)))
    const mod = m.sim.kernel.modules.find('thready')!
    m.sim.kernel.kallsyms.lookupName('complete')!.impl!(mod.data.task.ctx, mod.data.release)
    await m.until(() => mod.data.task.exited, 'the thread left the module')
    t.is(await m.rmmod('thready'), 0)
    t.is((await m.sh(`test -e "$R/${KLP}/thready"; echo $?`)).stdout, '1\n')
  },
})

row('kprobes on the patched function: coexist vs EINVAL for enable and disable', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('test_klp_kprobe', 'has_post_handler=0'), 0)
    t.is(await m.insmod('livepatch-sample'), 0)
    await transitionDone(m)
    t.is(await m.cat('proc/cmdline'), 'this has been live patched\n')
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod('test_klp_kprobe'), 0)
    t.is(await m.insmod('livepatch-sample'), 0, 'registration does not look at kprobes')
    let mark = m.mark()
    const r = await echoEnabled(m, 'livepatch_sample', 1)
    t.regex(r.stderr, writeError('Invalid argument'))
    t.deepEqual(m.log(mark), ['livepatch: func cmdline_proc_show has been probed, (un)patch failed'])
    t.is(await m.rmmod('test_klp_kprobe'), 0)
    t.is((await echoEnabled(m, 'livepatch_sample', 1)).code, 0)
    t.is(await m.insmod('test_klp_kprobe', 'has_post_handler=0'), 0)
    mark = m.mark()
    const off = await echoEnabled(m, 'livepatch_sample', 0)
    t.regex(off.stderr, writeError('Invalid argument'))
    t.deepEqual(m.log(mark), ['livepatch: func cmdline_proc_show has been probed, (un)patch failed'])
    t.is(await m.cat(`${KLP}/livepatch_sample/enabled`), '1\n')
  },
})

row('static key / static call in the old prologue', {
  ftrace: async (t, m) => {
    t.is(await m.insmod(patchModule('key_patch', [{ funcs: [{ oldName: 'tcp_v4_rcv' }] }])), 0)
    t.is(await m.insmod(patchModule('call_patch', [{ funcs: [{ oldName: '__cond_resched' }] }])), 0)
    t.is(await m.cat(`${KLP}/call_patch/enabled`), '1\n')
  },
  stopMachine: async (t, m) => {
    let mark = m.mark()
    t.is(await m.insmod(patchModule('key_patch', [{ funcs: [{ oldName: 'tcp_v4_rcv' }] }])), -EINVAL)
    t.deepEqual(m.log(mark).filter(l => l.startsWith('livepatch: ')), ["livepatch: 'tcp_v4_rcv' has static key in first 5 bytes, ret=1"])
    mark = m.mark()
    t.is(await m.insmod(patchModule('call_patch', [{ funcs: [{ oldName: '__cond_resched' }] }])), -EINVAL)
    t.deepEqual(m.log(mark).filter(l => l.startsWith('livepatch: ')), ["livepatch: '__cond_resched' has static call in first 5 bytes, ret=1"])
    t.is((await m.sh(`ls "$R/${KLP}" | wc -l`)).stdout, '0\n')
  },
})

row('minimum old function size: none vs KLP_MAX_REPLACE_SIZE (5 on x86_64, 16 on arm64)', {
  ftrace: async (t, m) => {
    t.is(await m.insmod(patchModule('tiny_patch', [{ funcs: [{ oldName: 'dummy_irq_chip_noop' }] }])), 0)
    t.is(await m.cat(`${KLP}/tiny_patch/enabled`), '1\n')
  },
  stopMachine: async (t, m) => {
    const mark = m.mark()
    t.is(await m.insmod(patchModule('tiny_patch', [{ funcs: [{ oldName: 'dummy_irq_chip_noop' }] }])), -EINVAL)
    t.true(m.log(mark).includes('livepatch: dummy_irq_chip_noop size less than limit (4 < 5)'))
    const sizes = async (mm: Machine): Promise<number> => {
      t.is(await mm.insmod(sizedTarget('small_target', 'small_fn', 8)), 0)
      return mm.insmod(patchModule('small_patch', [{ name: 'small_target', funcs: [{ oldName: 'small_fn' }] }]))
    }
    t.is(await sizes(m), 0, '8 bytes hold a 5-byte jmp')
    const arm = await boot(t, 'stop-machine', { arch: 'arm64' })
    const armMark = arm.mark()
    t.is(await sizes(arm), -EINVAL)
    t.true(arm.log(armMark).includes('livepatch: small_fn size less than limit (8 < 16)'))
  },
})

row('nop functions and atomic replace', {
  ftrace: async (t, m) => {
    t.is(await m.insmod(cmdlinePatch('cumulative_1')), 0)
    await transitionDone(m)
    t.is(await m.insmod(patchModule('cumulative_2', [{ funcs: [{ oldName: 'version_proc_show' }] }], { replace: true })), 0)
    await gone(m, `${KLP}/cumulative_1`)
    t.is(await m.cat('proc/cmdline'), 'BOOT_IMAGE=/boot/vmlinuz-7.1.0-klpsim root=/dev/vda1 ro console=ttyS0,115200 quiet\n', 'a nop reverted the function')
  },
  stopMachine: async (t, m) => {
    let mark = m.mark()
    t.is(await m.insmod(patchModule('cumulative_2', [{ funcs: [{ oldName: 'version_proc_show' }] }], { replace: true })), -EINVAL)
    t.true(m.log(mark).includes('livepatch: Replacing is not supported'))
    const nop = defineModule({ name: 'nop_patch', livepatch: true, init: (ctx) => ctx.klp.patch({ objs: [{ funcs: [{ oldName: 'cmdline_proc_show', newFunc: null }] }] }), exit: () => {} })
    mark = m.mark()
    t.is(await m.insmod(nop), -EINVAL)
    t.true(m.log(mark).includes('livepatch: new_func is invalid'))
  },
})

row('callbacks vs load and unload hooks', {
  ftrace: async (t, m) => {
    t.is(await m.insmod('test_klp_callbacks_mod'), 0)
    const mark = m.mark()
    t.is(await m.insmod(cmdlinePatch('hooked', { hooksLoad: [(ctx) => ctx.module!.pr_info('load hook')], hooksUnload: [(ctx) => ctx.module!.pr_info('unload hook')] })), 0)
    t.is(await m.insmod('test_klp_callbacks_demo'), 0)
    await transitionDone(m)
    const lines = m.log(mark)
    t.true(lines.includes('test_klp_callbacks_demo: pre_patch_callback: vmlinux'))
    t.true(lines.includes('test_klp_callbacks_demo: post_patch_callback: test_klp_callbacks_mod -> [MODULE_STATE_LIVE] Normal state'))
    t.false(lines.some(l => /load hook/.test(l)), 'hooks do not exist in ftrace mode')
  },
  stopMachine: async (t, m) => {
    t.is(await m.insmod('test_klp_callbacks_mod'), 0)
    t.is(await m.insmod('test_klp_callbacks_busy'), 0)
    let mark = m.mark()
    t.is(await m.insmod(cmdlinePatch('hooked', { hooksLoad: [(ctx) => ctx.module!.pr_info('load hook')], hooksUnload: [(ctx) => ctx.module!.pr_info('unload hook')] })), 0)
    t.true(m.log(mark).includes('hooked: load hook'), 'load hooks run at registration')
    t.is(await m.insmod('test_klp_callbacks_demo'), 0)
    t.is((await m.sh(`E="$R/${KLP}/hooked/enabled"; D="$R/${KLP}/test_klp_callbacks_demo/enabled"; echo 1 > "$E" && echo 1 > "$D" && echo 0 > "$D" && echo 0 > "$E"`)).code, 0)
    t.false(m.log(mark).some(l => /_callback: /.test(l)), 'callbacks are not used')
    mark = m.mark()
    t.is(await m.rmmod('hooked'), 0)
    t.true(m.log(mark).includes('hooked: unload hook'), 'unload hooks run at unregistration')
  },
})

row('shadow variables and system states: supported vs not built (Unknown symbol at insmod)', {
  ftrace: async (t, m) => {
    const mark = m.mark()
    t.is(await m.insmod('test_klp_shadow_vars'), 0)
    t.true(m.log(mark).some(l => l.startsWith('test_klp_shadow_vars: klp_shadow_get_or_alloc(')), 'the API ran')
    t.is(await m.insmod('test_klp_state'), 0)
    await transitionDone(m)
  },
  stopMachine: async (t, m) => {
    const mark = m.mark()
    t.is(await m.insmod('test_klp_shadow_vars'), -ENOENT)
    t.is(await m.insmod('test_klp_state'), -ENOENT)
    t.deepEqual(m.log(mark).filter(l => l.includes('Unknown symbol')), [
      ...['alloc', 'free', 'free_all', 'get', 'get_or_alloc'].map(f => `test_klp_shadow_vars: Unknown symbol klp_shadow_${f} (err -2)`),
      'test_klp_state: Unknown symbol klp_get_prev_state (err -2)',
      'test_klp_state: Unknown symbol klp_get_state (err -2)',
    ])
    t.is((await m.sh('ls "$R/sys/kernel/livepatch"; ls "$R/sys/module" | grep -c test_klp')).stdout, '0\n', 'no patch directory, no module directory')
  },
})

function koWithModuleSectionToVmlinux (m: Machine, def: ModuleDefinition): ModuleImage {
  const buf = buildKo({ name: def.name, modinfo: modinfoFor(def, m.sim.kernel.vermagic), payload: Buffer.from('{}'), klpRefs: [{ object: 'test_klp_mod_target', symbol: 'x', sympos: 0 }] })
  // the module-specific section now names a vmlinux symbol (same length)
  const from = '.klp.sym.test_klp_mod_target.x,0'
  const to = '.klp.sym.vmlinux.x,0000000000000000'.slice(0, from.length)
  const ko = readKo(Buffer.from(buf.toString('latin1').replace(from, to), 'latin1'))
  return { def, name: ko.name, modinfo: ko.modinfo, elf: ko.elf }
}

const relocChecks = async (t: Parameters<Parameters<typeof row>[1]['ftrace']>[0], m: Machine): Promise<void> => {
  t.is(await m.insmod('test_klp_mod_target'), 0)
  const def = defineModule({ name: 'bad_relocs', livepatch: true, init: (ctx) => ctx.klp.patch({ objs: [{ name: null, funcs: [] }, { name: 'test_klp_mod_target', funcs: [] }] }), exit: () => {} })
  const mark = m.mark()
  t.is(await m.sim.insmod(koWithModuleSectionToVmlinux(m, def)), -EINVAL)
  t.true(m.log(mark).includes("livepatch: invalid access to vmlinux symbol 'x' from module-specific livepatch relocation section"), m.log(mark).join('\n'))
  t.is((await m.sh(`test -e "$R/${KLP}/bad_relocs"; echo $?`)).stdout, '1\n')
}

row('.klp.rela / .klp.sym checks are identical', { ftrace: relocChecks, stopMachine: relocChecks })

const ambiguity = async (t: Parameters<Parameters<typeof row>[1]['ftrace']>[0], m: Machine): Promise<void> => {
  let mark = m.mark()
  t.is(await m.insmod(patchModule('ambiguous', [{ funcs: [{ oldName: 'type_show' }] }])), -EINVAL)
  t.true(m.log(mark).includes("livepatch: unresolvable ambiguity for symbol 'type_show' in object '(null)'"))
  mark = m.mark()
  t.is(await m.insmod(patchModule('too_far', [{ funcs: [{ oldName: 'type_show', oldSympos: 9 }] }])), -EINVAL)
  t.true(m.log(mark).includes("livepatch: symbol position 9 for symbol 'type_show' in object 'vmlinux' not found"))
  t.is((await m.sh(`ls "$R/${KLP}" | wc -l`)).stdout, '0\n')
}

row('symbol ambiguity (sympos) is identical', { ftrace: ambiguity, stopMachine: ambiguity })

const dirNames = async (t: Parameters<Parameters<typeof row>[1]['ftrace']>[0], m: Machine): Promise<void> => {
  t.is(await m.insmod(patchModule('positions', [{ funcs: [{ oldName: 'type_show', oldSympos: 3 }, { oldName: 'cmdline_proc_show' }] }])), 0)
  t.is((await m.sh(`ls "$R/${KLP}/positions/vmlinux" | grep ,`)).stdout, 'cmdline_proc_show,1\ntype_show,3\n')
}

row('function directory names: <old_name>,<sympos or 1>', { ftrace: dirNames, stopMachine: dirNames })
