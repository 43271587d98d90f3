// `klpsim mount DIR` as its own process: the one line it prints when ready,
// clean unmounts on SIGINT/SIGTERM and on `klpsim umount`, recovery after
// kill -9, two daemons at once, and owner-only access.
import { ExecutionContext } from 'ava'
import { ChildProcess, spawn } from 'child_process'
import { promises as fsp } from 'fs'
import * as path from 'path'
import { background, bootMachine, fuseTest, mountsOf, quote, run, tempDir } from './helpers/machine'
import { childStdio } from '../../lib/fuse'

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'klpsim')

interface Daemon {
  child: ChildProcess
  dir: string
  stdout (): string
  stderr (): string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/** Starts `klpsim mount DIR`; resolves when it printed its line (or exited). Killed at teardown. */
async function klpsimMount (t: ExecutionContext, dir: string, args: string[] = []): Promise<Daemon> {
  const child = spawn(process.execPath, [BIN, 'mount', dir, ...args], { stdio: childStdio(['ignore', 'pipe', 'pipe']) })
  let out = ''
  let err = ''
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`klpsim mount did not get ready: ${out}${err}`)), 20_000)
    child.stdout!.on('data', (d) => {
      out += String(d)
      if (out.includes('\n')) { clearTimeout(timer); resolve() }
    })
    child.stderr!.on('data', (d) => { err += String(d) })
    void exited.then(() => { clearTimeout(timer); resolve() })
  })
  return { child, dir, stdout: () => out, stderr: () => err, exited }
}

function klpsim (args: string[]): ReturnType<typeof run> {
  return run(process.execPath, [BIN, ...args])
}

const READY = (dir: string) => new RegExp(`^klpsim: \\S+ \\(ftrace\\) mounted at ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n$`)

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  fuseTest(`klpsim mount prints one line when the mount is servable; ${signal} unmounts cleanly`, async (t) => {
    const dir = path.join(await tempDir(t), 'mnt')
    const d = await klpsimMount(t, dir)
    t.regex(d.stdout(), READY(dir))
    // servable the moment the line is out
    const r = await run('cat', [`${dir}/proc/cmdline`, `${dir}/sys/kernel/livepatch/../osrelease`])
    t.is(r.code, 0, r.stderr)
    t.regex(r.stdout, /^BOOT_IMAGE=\S+ .*\n\d+\.\d+\.\d+-klpsim\n$/)
    const [line] = await mountsOf(dir)
    t.regex(line, /^klpsim \S+ fuse\.klpsim rw,nosuid,nodev,noexec,relatime,user_id=0,group_id=0 0 0$/)
    d.child.kill(signal)
    t.deepEqual(await d.exited, { code: 0, signal: null })
    t.deepEqual(await mountsOf(dir), [])
    t.is(d.stdout().split('\n').length, 2, 'exactly one line on stdout')
    t.is(d.stderr(), '')
    t.is((await run('ls', ['-A', dir])).stdout, '')
  })
}

fuseTest('kill -9 of the daemon, then a new klpsim mount on the same DIR works', async (t) => {
  const dir = path.join(await tempDir(t), 'mnt')
  const first = await klpsimMount(t, dir)
  t.regex(first.stdout(), READY(dir))
  first.child.kill('SIGKILL')
  await first.exited
  const dead = await run('stat', [dir])
  t.not(dead.code, 0)
  t.regex(dead.stderr, /Transport endpoint is not connected/)

  const second = await klpsimMount(t, dir)
  t.regex(second.stdout(), READY(dir), second.stderr())
  t.is((await run('cat', [`${dir}/sys/kernel/debug/kprobes/enabled`])).stdout, '1\n')
  t.is((await mountsOf(dir)).length, 1)
  second.child.kill('SIGTERM')
  t.deepEqual(await second.exited, { code: 0, signal: null })
  t.deepEqual(await mountsOf(dir), [])
})

fuseTest('klpsim umount DIR unmounts, the daemon exits; a dead mount is cleared too', async (t) => {
  const dir = path.join(await tempDir(t), 'mnt')
  const d = await klpsimMount(t, dir)
  const u = await klpsim(['umount', dir])
  t.is(u.code, 0, u.stderr)
  t.deepEqual(await mountsOf(dir), [])
  const timeout = new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000))
  t.deepEqual(await Promise.race([d.exited, timeout]), { code: 0, signal: null })
  const again = await klpsim(['umount', dir])
  t.is(again.code, 2)
  t.is(again.stderr, `klpsim: ${dir} is not mounted\n`)

  // the mount of a daemon killed with SIGKILL
  const killed = await klpsimMount(t, dir)
  killed.child.kill('SIGKILL')
  await killed.exited
  const cleared = await klpsim(['umount', dir])
  t.is(cleared.code, 0, cleared.stderr)
  t.deepEqual(await mountsOf(dir), [])
  t.is((await run('ls', ['-A', dir])).stdout, '')
})

fuseTest('two daemons on two mount points at once are two machines; a second one on a busy DIR is refused', async (t) => {
  const base = await tempDir(t)
  const a = await klpsimMount(t, path.join(base, 'mnt'))
  const b = await klpsimMount(t, path.join(base, 'mnt2'))
  t.regex(a.stdout(), READY(a.dir))
  t.regex(b.stdout(), READY(b.dir))
  const w = await run('sh', ['-c', `echo 0 > ${quote(a.dir)}/sys/kernel/debug/kprobes/enabled`])
  t.is(w.code, 0, w.stderr)
  const r = await run('cat', [`${a.dir}/sys/kernel/debug/kprobes/enabled`, `${b.dir}/sys/kernel/debug/kprobes/enabled`])
  t.is(r.stdout, '0\n1\n')

  const third = await klpsimMount(t, a.dir)
  const exit = await third.exited
  t.is(exit.code, 1)
  t.is(third.stdout(), '')
  t.is(third.stderr().split('\n').length, 2, `one line: ${third.stderr()}`)
  t.regex(third.stderr(), /^klpsim: /)
  t.is((await mountsOf(a.dir)).length, 1)

  for (const d of [a, b]) {
    d.child.kill('SIGTERM')
    t.deepEqual(await d.exited, { code: 0, signal: null })
    t.deepEqual(await mountsOf(d.dir), [])
  }
})

fuseTest('the mount is its owner\'s only, unless --allow-other', async (t) => {
  const base = await tempDir(t)
  const nobody = (file: string) => run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'cat', file])
  const own = await klpsimMount(t, path.join(base, 'mnt'))
  const denied = await nobody(`${own.dir}/proc/cmdline`)
  t.not(denied.code, 0)
  t.regex(denied.stderr, /Permission denied/)
  // (the temp dir is 0700: let others through to the mount points)
  await fsp.chmod(base, 0o755)
  const stillDenied = await nobody(`${own.dir}/proc/cmdline`)
  t.regex(stillDenied.stderr, /Permission denied/)
  const shared = await klpsimMount(t, path.join(base, 'mnt2'), ['--allow-other'])
  t.regex((await mountsOf(shared.dir))[0], /allow_other/)
  const allowed = await nobody(`${shared.dir}/proc/cmdline`)
  t.is(allowed.code, 0, allowed.stderr)
  t.regex(allowed.stdout, /^BOOT_IMAGE=/)
  // shared, it is a system's kernel: others get what the modes give them
  const asNobody = (script: string) => run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', script])
  const write = await asNobody(`echo 0 > ${shared.dir}/proc/sys/kernel/ftrace_enabled`)
  t.is(write.code, 2)
  t.regex(write.stderr, /ftrace_enabled: Permission denied/)
  for (const f of ['proc/1/stack', 'sys/kernel/debug/kprobes/enabled']) {
    const r = await asNobody(`cat ${shared.dir}/${f}`)
    t.is(r.code, 1, f)
    t.regex(r.stderr, /Permission denied/)
  }
  const chmod = await asNobody(`chmod 0666 ${shared.dir}/proc/sys/kernel/ftrace_enabled`)
  t.regex(chmod.stderr, /Operation not permitted/)
  const ownerWrites = await run('sh', ['-c', `echo 0 > ${shared.dir}/proc/sys/kernel/ftrace_enabled && cat ${shared.dir}/proc/sys/kernel/ftrace_enabled`])
  t.is(ownerWrites.stdout, '0\n', ownerWrites.stderr)
})

fuseTest('an unmount by someone else is noticed: closed resolves and a blocked reader is answered', async (t) => {
  const m = await bootMachine(t)
  const count = m.sim.kernel.printk.all().length
  const reader = background(t, 'dd', ['if=dev/kmsg', 'bs=8192', `count=${count + 1}`, 'status=none'], { cwd: m.dir })
  await m.until('the reader to wait', () => reader.stdout().split('\n').length > count)
  const u = await run('umount', ['-l', m.dir])
  t.is(u.code, 0, u.stderr)
  const timeout = new Promise((resolve) => setTimeout(() => resolve('not noticed'), 5000))
  t.is(await Promise.race([m.mount.closed.then(() => 'closed'), timeout]), 'closed')
  t.false(m.mount.mounted)
  const r = await reader.done
  t.not(r.code, 0)
  await m.mount.unmount() // still fine to call
})

fuseTest('children of a process serving a mount get no /dev/fuse descriptor through childStdio', async (t) => {
  const m = await bootMachine(t)
  const count = "ls -l /proc/$$/fd | grep -c /dev/fuse"
  // libfuse opens /dev/fuse without O_CLOEXEC: a plain spawn inherits it
  const plain = await new Promise<string>((resolve) => {
    const c = spawn('sh', ['-c', count], { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    c.stdout!.on('data', (d) => { out += String(d) })
    c.once('close', () => resolve(out))
  })
  t.not(plain, '0\n', 'the descriptor leaks without childStdio')
  t.is((await run('sh', ['-c', count])).stdout, '0\n')
  t.is((await m.sh('cat proc/sys/kernel/tainted')).stdout, '0\n')
})
