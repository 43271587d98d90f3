// The default vmlinux image: the functions the simulated kernel runs, the ones
// the samples and selftests patch or call, and realistic filler (including
// static functions whose names occur several times, so sympos matters).
import type { SymbolFlags } from '../kallsyms'

export interface ImageSymbol {
  name: string
  size: number
  type: string
  notrace?: boolean
  flags?: SymbolFlags
}

const T = (name: string, size: number, extra: Partial<ImageSymbol> = {}): ImageSymbol => ({ name, size, type: 'T', ...extra })
const t = (name: string, size: number, extra: Partial<ImageSymbol> = {}): ImageSymbol => ({ name, size, type: 't', ...extra })

/** Functions with a role in the simulation, in link order. */
export const CORE_TEXT: ImageSymbol[] = [
  T('_stext', 0, { notrace: true }),
  T('startup_64', 0x40, { notrace: true }),
  T('common_startup_64', 0x90, { notrace: true }),
  T('x86_64_start_kernel', 0x60),
  T('start_kernel', 0x5a0),
  t('rest_init', 0xd0),
  T('cpu_startup_entry', 0x20),
  t('do_idle', 0x250),
  t('start_secondary', 0x120),
  T('kernel_init', 0x150),
  T('kthreadd', 0x1f0),
  t('kthread', 0x110),
  T('ret_from_fork', 0x50),
  T('ret_from_fork_asm', 0x20, { notrace: true }),
  t('__schedule', 0x6c0, { notrace: true }),
  T('schedule', 0x90),
  T('schedule_timeout', 0x120),
  T('schedule_hrtimeout_range', 0x20),
  T('io_schedule', 0x40),
  T('msleep', 0x40),
  T('msleep_interruptible', 0x50),
  t('do_wait_for_common', 0x150),
  t('__wait_for_common', 0x90),
  T('wait_for_completion', 0x20),
  T('wait_for_completion_interruptible', 0x30),
  T('complete', 0x50),
  t('worker_thread', 0x2d0),
  t('process_one_work', 0x230),
  t('rescuer_thread', 0x330),
  T('queue_work_on', 0x70),
  T('flush_work', 0x20),
  t('smpboot_thread_fn', 0x190),
  t('rcu_gp_kthread', 0x190),
  t('rcu_gp_fqs_loop', 0x280),
  t('kswapd', 0x220),
  t('watchdog', 0xb0),
  t('kauditd_thread', 0x1e0),
  T('entry_SYSCALL_64_after_hwframe', 0x4b, { notrace: true }),
  T('do_syscall_64', 0x80, { notrace: true }),
  T('syscall_exit_to_user_mode', 0x60, { notrace: true }),
  T('__x64_sys_read', 0x20),
  T('ksys_read', 0xe0),
  T('vfs_read', 0x300),
  T('__x64_sys_write', 0x20),
  T('ksys_write', 0xe0),
  T('vfs_write', 0x3c0),
  T('seq_read_iter', 0x4a0),
  T('seq_read', 0x110),
  t('proc_reg_read_iter', 0x80),
  t('kernfs_fop_read_iter', 0x170),
  t('kernfs_fop_write_iter', 0x1a0),
  t('kernfs_seq_show', 0x30),
  t('sysfs_kf_seq_show', 0x100),
  t('sysfs_kf_write', 0x50),
  t('kobj_attr_show', 0x20),
  t('kobj_attr_store', 0x20),
  T('__x64_sys_getpid', 0x20),
  T('__ia32_sys_getpid', 0x20),
  T('__x64_sys_finit_module', 0x190),
  t('idempotent_init_module', 0x1f0),
  t('init_module_from_file', 0x150),
  t('load_module', 0x2240),
  T('do_init_module', 0x230),
  T('do_one_initcall', 0x60),
  T('__x64_sys_delete_module', 0x2a0),
  t('free_module', 0x1b0),
  T('ep_poll', 0x4e0),
  t('do_epoll_wait', 0xc0),
  T('__x64_sys_epoll_wait', 0xa0),
  T('do_sys_poll', 0x590),
  T('__x64_sys_poll', 0x140),
  T('do_select', 0x6f0),
  T('core_sys_select', 0x3a0),
  T('__x64_sys_pselect6', 0xa0),
  t('n_tty_read', 0x580),
  t('tty_read', 0x150),
  t('pipe_read', 0x450),
  t('do_wait', 0x1a0),
  T('kernel_wait4', 0xf0),
  T('__x64_sys_wait4', 0x80),
  T('do_nanosleep', 0xc0),
  T('hrtimer_nanosleep', 0xe0),
  T('__x64_sys_clock_nanosleep', 0x110),
  T('futex_wait_queue', 0x90),
  T('__futex_wait', 0x130),
  T('futex_wait', 0xd0),
  T('do_futex', 0x130),
  T('__x64_sys_futex', 0x170),
  t('unix_stream_read_generic', 0x8f0),
  t('unix_stream_recvmsg', 0x90),
  T('sock_recvmsg', 0x80),
  t('____sys_recvmsg', 0x1b0),
  T('__sys_recvmsg', 0xa0),
  T('__x64_sys_recvmsg', 0x20),
  T('seq_printf', 0xa0),
  T('seq_puts', 0x60),
  T('seq_putc', 0x30),
  T('seq_write', 0x50),
  t('cmdline_proc_show', 0x30),
  t('meminfo_proc_show', 0x4e0),
  t('show_stat', 0x9a0),
  t('version_proc_show', 0x40),
  t('uptime_proc_show', 0x160),
  T('vprintk_emit', 0x210),
  T('_printk', 0x60),
  T('ftrace_ops_list_func', 0x1c0, { notrace: true }),
  T('ftrace_stub', 0x10, { notrace: true }),
  t('ftrace_trampoline_stub', 0x20, { notrace: true }),
  T('register_ftrace_function', 0x60),
  T('unregister_ftrace_function', 0x40),
  T('ftrace_set_filter_ip', 0x60),
  T('register_kprobe', 0x4b0),
  T('unregister_kprobe', 0x20),
  t('kprobe_ftrace_handler', 0x160, { notrace: true }),
  T('klp_enable_patch', 0x6a0),
  t('klp_init_patch', 0x330),
  t('klp_init_object_loaded', 0x1c0),
  T('klp_find_object_symbol', 0x100),
  t('klp_resolve_symbols', 0x1f0),
  T('klp_apply_section_relocs', 0x120),
  t('enabled_store', 0x140),
  t('enabled_show', 0x40),
  t('transition_show', 0x50),
  t('force_store', 0xa0),
  t('replace_show', 0x30),
  t('stack_order_show', 0x80),
  t('patched_show', 0x30),
  T('klp_module_coming', 0x170),
  T('klp_module_going', 0x90),
  t('klp_ftrace_handler', 0xb0, { notrace: true }),
  T('klp_try_switch_task', 0x1a0),
  T('klp_try_complete_transition', 0x220),
  T('klp_start_transition', 0xd0),
  T('klp_init_transition', 0x150),
  T('klp_reverse_transition', 0x110),
  T('klp_update_patch_state', 0x60),
  t('klp_transition_work_fn', 0x40),
  t('klp_free_patch_work_fn', 0x30),
  T('klp_force_transition', 0xd0),
  T('klp_send_signals', 0x100),
  T('klp_shadow_get', 0x60),
  T('klp_shadow_alloc', 0x30),
  T('klp_shadow_get_or_alloc', 0x30),
  T('klp_shadow_free', 0xb0),
  T('klp_shadow_free_all', 0xb0),
  T('klp_get_state', 0x40),
  T('klp_get_prev_state', 0x70),
  T('klp_sched_try_switch', 0x40),
  T('klp_copy_process', 0x30),
  // functions kept for patching experiments: their prologues hold static keys or
  // static calls, or they are smaller than a 5-byte jump (stop_machine checks)
  T('tcp_v4_rcv', 0xf40, { flags: { staticKeyAt: 2, callInPrologue: true } }),
  T('__cond_resched', 0x40, { flags: { staticCallAt: 0 } }),
  T('dummy_irq_chip_noop', 0x4),
  T('sched_setaffinity', 0x180),
  T('do_sys_openat2', 0x1c0),
  T('vfs_fsync_range', 0x90),
]

/** Data symbols with a role in the simulation. */
export const CORE_DATA: ImageSymbol[] = [
  { name: 'saved_command_line', size: 8, type: 'D' },
  { name: 'console_printk', size: 16, type: 'D' },
  { name: 'jiffies', size: 8, type: 'D' },
  { name: 'init_task', size: 0x2c80, type: 'D' },
  { name: 'kprobe_ftrace_ops', size: 0xd0, type: 'd' },
  { name: 'kprobe_ipmodify_ops', size: 0xd0, type: 'd' },
  { name: 'klp_patches', size: 16, type: 'd' },
  { name: 'klp_mutex', size: 32, type: 'd' },
  { name: 'system_wq', size: 8, type: 'D' },
]

/** Static functions that exist in several compilation units (sympos > 0 needed). */
export const DUPLICATED_STATICS: Array<[string, number]> = [
  ['type_show', 6],
  ['name_show', 5],
  ['enable_show', 3],
  ['enable_store', 3],
  ['size_show', 4],
  ['dev_show', 2],
  ['init_once', 4],
  ['show_map', 2],
  ['get_order_of', 2],
  ['release_node', 3],
]

const SUBSYSTEMS = ['ext4', 'xfs', 'btrfs', 'nfs', 'fuse', 'ovl', 'tcp', 'udp', 'ip', 'ipv6', 'netif', 'skb', 'sock', 'blk',
  'bio', 'scsi', 'nvme', 'pci', 'usb', 'acpi', 'drm', 'kvm', 'cgroup', 'sched', 'rcu', 'mm', 'page', 'slab', 'vfs', 'inode',
  'dentry', 'file', 'pipe', 'irq', 'timer', 'hrtimer', 'crypto', 'key', 'audit', 'bpf', 'perf', 'trace', 'kobject', 'sysfs',
  'proc', 'tty', 'serial', 'input', 'hid', 'snd', 'virtio', 'vhost', 'tun', 'bridge', 'nf', 'xdp', 'iomap', 'folio',
  'swap', 'zram', 'dm', 'md', 'raid', 'loop', 'cpufreq', 'cpuidle', 'thermal', 'power', 'clk', 'gpio', 'i2c', 'spi',
  'regmap', 'devm', 'dma', 'iommu', 'vmalloc', 'memcg', 'hugetlb', 'shmem', 'tmpfs', 'squashfs', 'erofs', 'fat', 'iso9660',
  'ptrace', 'signal', 'futex', 'posix', 'ktime', 'clocksource', 'tick', 'workqueue', 'kthread', 'module', 'kallsyms',
  'printk', 'console', 'random', 'lsm', 'selinux', 'apparmor', 'seccomp', 'namespace', 'uts', 'pid', 'user', 'cred']
const VERBS = ['alloc', 'free', 'init', 'exit', 'open', 'release', 'read', 'write', 'ioctl', 'poll', 'mmap', 'flush', 'sync',
  'lookup', 'create', 'destroy', 'get', 'put', 'show', 'store', 'register', 'unregister', 'start', 'stop', 'suspend',
  'resume', 'probe', 'remove', 'handle', 'process', 'update', 'check', 'parse', 'setup', 'cleanup', 'commit', 'submit',
  'complete', 'queue', 'dequeue', 'map', 'unmap', 'attach', 'detach', 'enable', 'disable', 'reset', 'validate']
const OBJECTS = ['', '_inode', '_page', '_entry', '_request', '_buffer', '_state', '_ops', '_work', '_range', '_node',
  '_table', '_cache', '_queue', '_event', '_ctx', '_info', '_data', '_list', '_lock']

/** A small deterministic PRNG (xorshift32) so the image is the same on every boot. */
function prng (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x / 0x100000000
  }
}

/** The full default image: text symbols in link order, then data. */
export function defaultImageSymbols (fillerCount = 9000): { text: ImageSymbol[], data: ImageSymbol[] } {
  const rand = prng(0x6b6c70)
  const text: ImageSymbol[] = [...CORE_TEXT]
  const used = new Set(text.map(s => s.name))
  const filler: ImageSymbol[] = []
  for (let i = 0; filler.length < fillerCount && i < fillerCount * 20; i++) {
    const sub = SUBSYSTEMS[Math.floor(rand() * SUBSYSTEMS.length)]
    const verb = VERBS[Math.floor(rand() * VERBS.length)]
    const obj = OBJECTS[Math.floor(rand() * OBJECTS.length)]
    const prefix = rand() < 0.12 ? '__' : ''
    const name = `${prefix}${sub}_${verb}${obj}`
    if (used.has(name)) continue
    used.add(name)
    const size = 0x20 + Math.floor(rand() * 0x400) & ~0xf
    filler.push({ name, size: size || 0x20, type: rand() < 0.55 ? 'T' : 't' })
  }
  // interleave the duplicated statics through the filler, as separate compilation units would
  for (const [name, count] of DUPLICATED_STATICS) {
    for (let k = 0; k < count; k++) {
      const at = Math.floor(((k + 1) / (count + 1)) * filler.length)
      filler.splice(at, 0, { name, size: 0x30 + 0x10 * k, type: 't' })
    }
  }
  text.push(...filler)
  text.push(T('_etext', 0, { notrace: true }))
  const data: ImageSymbol[] = [...CORE_DATA]
  return { text, data }
}
