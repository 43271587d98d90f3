// procfs: the files livepatch tooling reads (cmdline, meminfo, kallsyms, modules,
// sys/kernel/*), entries created by modules, and the simulated tasks' pid directories.
import { EINVAL } from '../kobject/errno'
import { DirProvider, KAttr, KDir, KNode } from '../kobject/node'
import type { Kernel } from './kernel'
import type { Ksym } from './kallsyms'
import { formatSymbolOffset } from './kallsyms'
import { SeqFile } from './seqfile'
import type { Task } from './task'
import { TASK_STATE_NAMES } from './task'
import { kstrtoint } from './kstrtox'

/** The read path of a seq_file-backed proc file, outermost frame first. */
export const PROC_READ_ROUTE = ['entry_SYSCALL_64_after_hwframe', 'do_syscall_64', '__x64_sys_read', 'ksys_read', 'vfs_read', 'proc_reg_read_iter', 'seq_read_iter']

export class Procfs {
  readonly root: KDir
  readonly sysKernel: KDir

  constructor (private readonly k: Kernel, root: KDir) {
    this.root = root
    root.provider = new PidDirs(k)
    root.addAttr('cmdline', 0o444, { show: this.showThrough('cmdline_proc_show') }, 'seq')
    root.addAttr('meminfo', 0o444, { show: this.showThrough('meminfo_proc_show') }, 'seq')
    root.addAttr('version', 0o444, { show: this.showThrough('version_proc_show') }, 'seq')
    root.addAttr('uptime', 0o444, { show: this.showThrough('uptime_proc_show') }, 'seq')
    root.addAttr('kallsyms', 0o444, { show: () => [...k.kallsyms.lines()].join('') }, 'seq')
    root.addAttr('modules', 0o444, { show: () => this.showModules() }, 'seq')
    const sys = root.ensureDir('sys', 0o555)
    sys.setattrRule = 'none'
    this.sysKernel = sys.ensureDir('kernel', 0o555)
    const sk = this.sysKernel
    sk.addAttr('ftrace_enabled', 0o644, {
      show: () => `${k.ftrace.enabled ? 1 : 0}\n`,
      store: (s) => {
        const v = kstrtoint(s.trim() + '\n')
        if (typeof v !== 'number') return -EINVAL
        return k.ftrace.setEnabled(v !== 0)
      },
    }, 'seq')
    sk.addAttr('tainted', 0o644, {
      show: () => `${k.taintMask}\n`,
      store: (s) => {
        const v = kstrtoint(s.trim() + '\n', 0, 64, false)
        if (typeof v !== 'number') return -EINVAL
        k.taintMask = k.taintMask | v
        return 0
      },
    }, 'seq')
    sk.addAttr('osrelease', 0o444, { show: () => `${k.release}\n` }, 'seq')
    sk.addAttr('ostype', 0o444, { show: () => 'Linux\n' }, 'seq')
    sk.addAttr('version', 0o444, { show: () => `${k.buildVersion}\n` }, 'seq')
    sk.addAttr('pid_max', 0o644, { show: () => '4194304\n', store: () => 0 }, 'seq')
    sk.addAttr('printk', 0o644, {
      show: () => `${k.printk.consoleLoglevel}\t4\t1\t7\n`,
      store: (s) => {
        const v = kstrtoint((s.trim().split(/\s+/)[0] ?? '') + '\n')
        if (typeof v !== 'number') return -EINVAL
        k.printk.consoleLoglevel = v
        return 0
      },
    }, 'seq')
  }

  /** A proc file whose content is what a kernel show function prints, called through the dispatch table. */
  showThrough (fn: string | Ksym, priv?: unknown): () => string | number | Promise<string | number> {
    return () => this.k.callerSyscall(PROC_READ_ROUTE, (ctx) => {
      const seq = new SeqFile(priv)
      const r = ctx.call(fn, seq, priv)
      return r instanceof Promise ? r.then(() => seq.buf) : seq.buf
    })
  }

  /** proc_create_single: mode 0 means 0444. */
  createSingle (name: string, mode: number, parent: KDir | null, show: string | Ksym, priv?: unknown): KAttr | number {
    return (parent ?? this.root).addAttr(name, mode === 0 ? 0o444 : mode, { show: this.showThrough(show, priv) }, 'seq')
  }

  mkdir (name: string, parent: KDir | null = null): KDir | number {
    return (parent ?? this.root).mkdir(name, 0o555)
  }

  /** proc_remove / remove_proc_entry. */
  remove (name: string, parent: KDir | null = null): number {
    return (parent ?? this.root).remove(name)
  }

  private showModules (): string {
    let out = ''
    for (const m of this.k.modules.list()) {
      const deps = m.holders.size ? [...m.holders].join(',') + ',' : '-'
      const state = m.state === 'LIVE' ? 'Live' : m.state === 'COMING' ? 'Loading' : 'Unloading'
      out += `${m.name} ${m.coresize} ${m.refcnt} ${deps} ${state} 0x${m.baseAddr.toString(16).padStart(16, '0')}${m.taints ? ` (${m.taints})` : ''}\n`
    }
    return out
  }
}

/** /proc/<pid> and the hidden /proc/<tid> directories. */
class PidDirs implements DirProvider {
  private readonly cache = new WeakMap<Task, KDir>()
  constructor (private readonly k: Kernel) {}

  list (): string[] {
    return this.k.sched.visible().filter(t => t.pid === t.tgid).map(t => String(t.pid))
  }

  lookup (name: string): KNode | undefined {
    if (!/^[1-9]\d*$/.test(name)) return undefined
    const task = this.k.sched.find(Number(name))
    if (!task || task.hidden || task.exited) return undefined
    return this.dirFor(task, true)
  }

  dirFor (task: Task, withTasks: boolean): KDir {
    const cached = withTasks ? this.cache.get(task) : undefined
    if (cached) return cached
    const d = new KDir(String(task.pid), 0o555)
    d.setattrRule = 'owner'
    addTaskFiles(this.k, d, task)
    if (withTasks) {
      const tdir = d.ensureDir('task', 0o555)
      tdir.provider = {
        list: () => task.threads.filter(t => !t.exited).map(t => String(t.pid)),
        lookup: (n) => {
          const th = task.threads.find(t => String(t.pid) === n && !t.exited)
          return th ? this.dirFor(th, false) : undefined
        },
      }
      this.cache.set(task, d)
    }
    return d
  }
}

function addTaskFiles (k: Kernel, d: KDir, task: Task): void {
  // comm_write: only a task of the same thread group may rename a task; the
  // writers here are host processes, never in a simulated task's group
  d.addAttr('comm', 0o644, { show: () => `${task.comm}\n`, store: () => -EINVAL }, 'seq')
  d.addAttr('stack', 0o400, { show: () => formatStack(task) }, 'seq')
  d.addAttr('patch_state', 0o400, { show: () => `${task.patchState}\n` }, 'seq')
  d.addAttr('status', 0o444, { show: () => formatStatus(k, task) }, 'seq')
  d.addAttr('stat', 0o444, { show: () => formatStat(k, task) }, 'seq')
  d.addAttr('cmdline', 0o444, { show: () => (task.kthread ? '' : `${task.comm}\0`) }, 'seq')
}

/** /proc/<pid>/stack: `[<0>] func+0x1a/0x50`, innermost frame first. */
export function formatStack (task: Task): string {
  let out = ''
  for (let i = task.stack.length - 1; i >= 0; i--) {
    const f = task.stack[i]
    out += `[<0>] ${formatSymbolOffset(f.sym, f.off)}\n`
  }
  return out
}

function formatStatus (k: Kernel, task: Task): string {
  const ppid = task.parent?.pid ?? 0
  return [
    `Name:\t${task.comm}`,
    'Umask:\t0022',
    `State:\t${TASK_STATE_NAMES[task.state]}`,
    `Tgid:\t${task.tgid}`,
    'Ngid:\t0',
    `Pid:\t${task.pid}`,
    `PPid:\t${ppid}`,
    'TracerPid:\t0',
    'Uid:\t0\t0\t0\t0',
    'Gid:\t0\t0\t0\t0',
    `Threads:\t${(k.sched.find(task.tgid)?.threads.length) ?? 1}`,
    `Cpus_allowed_list:\t${task.cpu}`,
    '',
  ].join('\n')
}

function formatStat (k: Kernel, task: Task): string {
  const ppid = task.parent?.pid ?? 0
  const state = task.state === 'X' ? 'X' : task.state
  const flags = task.kthread ? 0x00208040 : 0x00400100
  const start = Math.floor(task.startUs / 10_000)
  const fields = [task.pid, `(${task.comm})`, state, ppid, task.tgid, task.tgid, 0, -1, flags, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0,
    task.threads.length || 1, 0, start, 0, 0, '18446744073709551615', 0, 0, 0, 0, 0, 0, 0, task.kthread ? 2147483647 : 0, 0, 0, 0, 0, 17, task.cpu, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0]
  void k
  return fields.join(' ') + '\n'
}
