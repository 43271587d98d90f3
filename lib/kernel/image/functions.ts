// Implementations of the default image's functions that the simulation runs.
// Every one is called through the dispatch table, so each can be traced,
// probed or livepatched like the real function.
import type { Ctx } from '../context'
import type { KFunc, Ksym } from '../kallsyms'
import type { SeqFile } from '../seqfile'
import type { WakeReason } from '../task'
import type { WorkStruct, WorkerPool } from '../workqueue'

type Fn = (ctx: Ctx, ...args: any[]) => any

/** A call chain request: a syscall entered through a fixed route of functions. */
export interface RouteRequest {
  route: readonly string[]
  i: number
  body: (ctx: Ctx) => unknown
}

/** Entry/VFS layers that only pass a request on to the next function of its route. */
const passThrough: Fn = (ctx, req: RouteRequest) => {
  if (req.i < req.route.length) return ctx.call(req.route[req.i++], req)
  return req.body(ctx)
}

export interface Completion { done: number, waiters: Set<Ctx> }

export function createCompletion (): Completion { return { done: 0, waiters: new Set() } }

const MEMINFO: Array<[string, number]> = [
  ['MemTotal', 16337688], ['MemFree', 11203420], ['MemAvailable', 14612844], ['Buffers', 211368], ['Cached', 3127508],
  ['SwapCached', 0], ['Active', 2456072], ['Inactive', 1873232], ['Active(anon)', 1012044], ['Inactive(anon)', 0],
  ['Active(file)', 1444028], ['Inactive(file)', 1873232], ['Unevictable', 0], ['Mlocked', 0], ['SwapTotal', 2097148],
  ['SwapFree', 2097148], ['Zswap', 0], ['Zswapped', 0], ['Dirty', 364], ['Writeback', 0], ['AnonPages', 990420],
  ['Mapped', 412996], ['Shmem', 21636], ['KReclaimable', 243112], ['Slab', 389264], ['SReclaimable', 243112],
  ['SUnreclaim', 146152], ['KernelStack', 9712], ['PageTables', 15284], ['SecPageTables', 0], ['NFS_Unstable', 0],
  ['Bounce', 0], ['WritebackTmp', 0], ['CommitLimit', 10265992], ['Committed_AS', 3702508], ['VmallocTotal', 34359738367],
  ['VmallocUsed', 47048], ['VmallocChunk', 0], ['Percpu', 5952], ['HardwareCorrupted', 0], ['AnonHugePages', 0],
  ['ShmemHugePages', 0], ['ShmemPmdMapped', 0], ['FileHugePages', 0], ['FilePmdMapped', 0], ['Unaccepted', 0],
  ['HugePages_Total', 0], ['HugePages_Free', 0], ['HugePages_Rsvd', 0], ['HugePages_Surp', 0], ['Hugepagesize', 2048],
  ['Hugetlb', 0], ['DirectMap4k', 237440], ['DirectMap2M', 8146944], ['DirectMap1G', 10485760],
]

export const KERNEL_FUNCTIONS: Record<string, Fn> = {
  // --- task entry and scheduling -------------------------------------------------
  ret_from_fork_asm: (ctx, fn, data) => ctx.call('ret_from_fork', fn, data),
  ret_from_fork: (ctx, fn, data) => ctx.call('kthread', fn, data),
  kthread: (ctx, fn: string | Ksym | KFunc, data) => (typeof fn === 'function' ? fn(ctx, data) : ctx.call(fn, data)),
  schedule: (ctx) => ctx.call('__schedule'),
  __schedule: (ctx): WakeReason | Promise<WakeReason> => {
    const task = ctx.task
    if (task.state === 'R') return 'wakeup'
    ctx.kernel.sched.scheduleHook(task)
    return task.sleepUntilWoken(task.state)
  },
  schedule_timeout: async (ctx, ms: number) => {
    const task = ctx.task
    const start = ctx.kernel.clock.nowUs()
    const timer = Number.isFinite(ms) ? ctx.kernel.clock.setTimer(ms, () => task.wake('timer')) : undefined
    await ctx.call('schedule')
    timer?.cancel()
    if (!Number.isFinite(ms)) return ms
    return Math.max(0, ms - (ctx.kernel.clock.nowUs() - start) / 1000)
  },
  msleep: async (ctx, ms: number) => {
    let left = ms
    while (left > 0) {
      ctx.task.state = 'D'
      left = await ctx.call('schedule_timeout', left)
      if (ctx.task.exited) break
    }
  },
  msleep_interruptible: async (ctx, ms: number) => {
    let left = ms
    while (left > 0) {
      ctx.task.state = 'S'
      left = await ctx.call('schedule_timeout', left)
      if (ctx.task.lastWake === 'signal' || ctx.task.exited) break
    }
    return left
  },
  wait_for_completion: (ctx, c: Completion) => ctx.call('__wait_for_common', c, 'D'),
  wait_for_completion_interruptible: (ctx, c: Completion) => ctx.call('__wait_for_common', c, 'S'),
  __wait_for_common: (ctx, c: Completion, state) => ctx.call('do_wait_for_common', c, state),
  do_wait_for_common: async (ctx, c: Completion, state: 'D' | 'S') => {
    while (c.done === 0) {
      c.waiters.add(ctx)
      ctx.task.state = state
      await ctx.call('schedule_timeout', Infinity)
      c.waiters.delete(ctx)
      if (state === 'S' && ctx.task.lastWake === 'signal') return -512 // -ERESTARTSYS
      if (ctx.task.exited) return 0
    }
    c.done--
    return 0
  },
  complete: (_ctx, c: Completion) => {
    c.done++
    const first = c.waiters.values().next()
    if (!first.done) first.value.task.wake('wakeup')
  },
  worker_thread: (ctx, arg: { pool: WorkerPool, worker: { task: unknown, busy: boolean, id: number } }) => arg.pool.run(ctx, arg.worker as never),
  process_one_work: (ctx, work: WorkStruct) => (typeof work.func === 'function' ? work.func(ctx, work) : ctx.call(work.func, work)),

  // --- system call entry and the VFS read/write paths ------------------------------
  entry_SYSCALL_64_after_hwframe: passThrough,
  do_syscall_64: passThrough,
  __x64_sys_read: passThrough,
  ksys_read: passThrough,
  vfs_read: passThrough,
  proc_reg_read_iter: passThrough,
  seq_read_iter: passThrough,
  kernfs_fop_read_iter: passThrough,
  kernfs_seq_show: passThrough,
  sysfs_kf_seq_show: passThrough,
  kobj_attr_show: passThrough,
  __x64_sys_write: passThrough,
  ksys_write: passThrough,
  vfs_write: passThrough,
  kernfs_fop_write_iter: passThrough,
  sysfs_kf_write: passThrough,
  kobj_attr_store: passThrough,
  __x64_sys_finit_module: passThrough,
  idempotent_init_module: passThrough,
  init_module_from_file: passThrough,
  load_module: passThrough,
  __x64_sys_delete_module: passThrough,
  do_init_module: (ctx, init: Ksym) => ctx.call('do_one_initcall', init),
  do_one_initcall: (ctx, init: Ksym) => ctx.call(init),
  __x64_sys_getpid: (ctx) => ctx.task.tgid,
  __ia32_sys_getpid: (ctx) => ctx.task.tgid,

  // --- seq_file and the proc files it backs -----------------------------------------
  seq_printf: (ctx, m: SeqFile, fmt: string, ...args: unknown[]) => { m.buf += ctx.kernel.format(fmt, args) },
  seq_puts: (_ctx, m: SeqFile, s: string) => { m.buf += s },
  seq_putc: (_ctx, m: SeqFile, c: string) => { m.buf += c },
  seq_write: (_ctx, m: SeqFile, data: string) => { m.buf += data; return 0 },
  cmdline_proc_show: (ctx, m: SeqFile) => {
    ctx.call('seq_puts', m, ctx.kernel.cmdline)
    ctx.call('seq_putc', m, '\n')
    return 0
  },
  meminfo_proc_show: (ctx, m: SeqFile) => {
    for (const [key, kb] of MEMINFO) {
      if (key === 'HugePages_Total' || key === 'HugePages_Free' || key === 'HugePages_Rsvd' || key === 'HugePages_Surp') ctx.call('seq_printf', m, '%-15s%8lu\n', key + ':', kb)
      else ctx.call('seq_printf', m, '%-15s%8lu kB\n', key + ':', kb)
    }
    return 0
  },
  version_proc_show: (ctx, m: SeqFile) => {
    ctx.call('seq_printf', m, '%s\n', ctx.kernel.linuxBanner)
    return 0
  },
  uptime_proc_show: (ctx, m: SeqFile) => {
    const us = ctx.kernel.clock.nowUs()
    const idle = us * ctx.kernel.sched.ncpus * 0.93
    ctx.call('seq_printf', m, '%lu.%02lu %lu.%02lu\n', Math.floor(us / 1e6), Math.floor(us / 1e4) % 100, Math.floor(idle / 1e6), Math.floor(idle / 1e4) % 100)
    return 0
  },
}
