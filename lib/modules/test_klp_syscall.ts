// Patches the getpid system call; every listed process that calls the patched
// version is counted once, and /sys/kernel/test_klp_syscall/npids shows how many
// have not yet.
import { defineModule } from '../kernel/module'
import type { Ctx } from '../kernel/context'
import type { KDir } from '../kobject/node'
import { adoptHostProcess } from '../kernel/host'

interface SyscallState { npids: number, pids: number[], kobj: KDir | null }

function syscallEntry (ctx: Ctx): string {
  return ctx.kernel.arch === 'arm64' ? '__arm64_sys_getpid' : '__x64_sys_getpid'
}

function lp_sys_getpid (ctx: Ctx): number {
  const s = ctx.module!.data as SyscallState
  if (s.npids > 0) {
    const i = s.pids.indexOf(ctx.task.pid)
    if (i >= 0) {
      s.pids[i] = 0
      s.npids--
    }
  }
  return ctx.task.tgid
}

export default defineModule<SyscallState>({
  name: 'test_klp_syscall',
  livepatch: true,
  license: 'GPL',
  author: 'Libor Pechacek <lpechacek@suse.cz>',
  description: 'Livepatch test: syscall transition',
  params: { klp_pids: { type: 'int_array', mode: 0, description: 'Array of pids to be transitioned to livepatched state.' } },
  functions: { lp_sys_getpid: { impl: lp_sys_getpid, size: 0x80 } },
  state: () => ({ npids: 0, pids: [], kobj: null }),
  init: (ctx) => {
    const self = ctx.module
    const s = self.data
    s.pids = [...(self.params.klp_pids as number[])]
    s.npids = s.pids.length
    const dir = ctx.kernel.sysKernel.mkdir('test_klp_syscall')
    if (typeof dir === 'number') return dir
    s.kobj = dir
    dir.addAttr('npids', 0o444, { show: () => `${s.npids}\n` })
    // the listed pids are host processes looping on getpid(): their calls are simulated
    for (const pid of s.pids) if (pid > 0) adoptHostProcess(ctx.kernel, pid, { syscall: syscallEntry(ctx) })
    return ctx.klp.patch({
      objs: [{ name: null, funcs: [{ oldName: syscallEntry(ctx), newFunc: lp_sys_getpid }] }],
    })
  },
  exit: (ctx) => {
    ctx.module.data.kobj?.detach()
    ctx.module.data.kobj = null
  },
})
