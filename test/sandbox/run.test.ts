// klpsim run: the sandboxed command sees the simulated kernel; the host sees nothing.
import test from 'ava'
import { AS_NOBODY } from '../helpers/nobody'
import { execFile, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const BIN = join(__dirname, '..', '..', '..', 'bin', 'klpsim')
const canRun = process.getuid?.() === 0 && existsSync('/dev/fuse')
const maybe = canRun ? test.serial : test.skip
const why = canRun ? '' : ' (skipped: needs root and /dev/fuse)'

interface Result { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string }

function run (args: string[], opts: { env?: NodeJS.ProcessEnv, asNobody?: boolean } = {}): Promise<Result> {
  return new Promise(resolve => {
    const [file, argv] = opts.asNobody ? ['setpriv', [...AS_NOBODY, process.execPath, BIN, 'run', ...args]] : [process.execPath, [BIN, 'run', ...args]]
    const child = execFile(file, argv, { env: opts.env ?? process.env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number, signal?: NodeJS.Signals }) | null
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr })
    })
    void child
  })
}

function hostMounts (): string {
  return readFileSync('/proc/mounts', 'utf8')
}

maybe(`the exit status is CMD's; a missing command gives 127${why}`, async t => {
  t.is((await run(['--', 'true'])).code, 0)
  t.is((await run(['--', 'sh', '-c', 'exit 3'])).code, 3)
  const missing = await run(['--', 'no-such-command-klpsim'])
  t.is(missing.code, 127)
  t.regex(missing.stderr, /no-such-command-klpsim: not found/)
  const none = await run([])
  t.is(none.code, 2)
  t.is(none.stderr, 'klpsim: klpsim run: no command given (klpsim run [options] -- CMD [ARGS])\n')
})

maybe(`inside: the simulated /sys/kernel, /sys/module, /proc and /dev/kmsg; the real procfs behind /proc${why}`, async t => {
  const script = [
    'test -d /sys/kernel/livepatch && echo livepatch-dir',
    'cat /proc/cmdline',
    'grep -c kprobe_ftrace_ops /proc/kallsyms',
    'cat /proc/sys/kernel/ftrace_enabled',
    'readlink /proc/self/exe >/dev/null && echo self-ok',
    'cat <(echo process-substitution)',
    // processes that exit between the glob and ls (other tests') make ls fail
    'ls /proc/[0-9]*/task/[0-9]* -d 2>/dev/null | grep -q -x /proc/1/task/1 && echo task-glob',
    'grep -q " /proc " /proc/mounts && echo mounts',
    'echo "hello from the sandbox" > /dev/kmsg',
    'grep -q "Linux version" <(dmesg) && echo dmesg',
    'uname -r',
    'test -d "${KDIR:-/lib/modules/$(uname -r)/build}" && echo kdir',
    'ps -e -o pid=,comm= | grep -q -w systemd && echo ps',
  ].join('\n')
  const r = await run(['--', 'bash', '-c', script])
  t.is(r.code, 0, r.stderr)
  t.deepEqual(r.stdout.trim().split('\n'), [
    'livepatch-dir',
    'BOOT_IMAGE=/boot/vmlinuz-7.1.0-klpsim root=/dev/vda1 ro console=ttyS0,115200 quiet',
    '1', '1', 'self-ok', 'process-substitution', 'task-glob', 'mounts', 'dmesg', '7.1.0-klpsim', 'kdir', 'ps',
  ])
})

maybe(`the host's /proc, /sys and mounts are untouched, during and after${why}`, async t => {
  const cmdline = readFileSync('/proc/cmdline', 'utf8')
  // this run's directory (other tests' runs may mount at the same time)
  const r = await run(['--', 'sh', '-c', 'echo "${KLPSIM_CONTROL%/*}" >&2; cat /proc/cmdline; sleep 0.3'])
  const runDir = r.stderr.trim()
  t.is(r.code, 0)
  t.not(r.stdout, cmdline)
  t.is(readFileSync('/proc/cmdline', 'utf8'), cmdline)
  t.regex(runDir, /^\/run\/klpsim\/run-/)
  t.false(hostMounts().includes(runDir), 'no mount left behind')
  t.false(existsSync(runDir))
})

maybe(`two runs at once are independent${why}`, async t => {
  const a = run(['--', 'sh', '-c', 'echo a > /dev/kmsg; sleep 0.5; grep -c "^.*[ ]a$" /dev/null; dmesg | grep -c -x ".* a"'])
  const b = run(['--', 'sh', '-c', 'echo b > /dev/kmsg; sleep 0.5; dmesg | grep -c -x ".* a"'])
  const [ra, rb] = await Promise.all([a, b])
  t.is(ra.stdout.trim().split('\n').pop(), '1')
  t.is(rb.stdout.trim(), '0')
})

maybe(`a command killed by a signal: the namespace goes, no mount is left${why}`, async t => {
  const child = spawn(process.execPath, [BIN, 'run', '--', 'sh', '-c', 'echo "${KLPSIM_CONTROL%/*}" >&2; sleep 30 & wait'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let runDir = ''
  child.stderr!.on('data', (d) => { runDir += String(d) })
  await new Promise(r => setTimeout(r, 800))
  // the sandboxed shell: the child of unshare, which is the child of klpsim
  const code = await new Promise<number | null>(resolve => {
    child.once('exit', (c) => resolve(c))
    const ps = execFile('ps', ['-o', 'pid=,args=', '--ppid', String(child.pid)], (_e, out) => {
      const pid = Number(out.trim().split(/\s+/)[0])
      if (pid) process.kill(pid, 'SIGKILL')
    })
    void ps
  })
  t.is(code, 137)
  t.regex(runDir, /^\/run\/klpsim\/run-/)
  t.false(hostMounts().includes(runDir.trim()))
})

maybe(`without root: one line naming what is missing, exit 77${why}`, async t => {
  const r = await run(['--', 'true'], { asNobody: true })
  t.is(r.code, 77)
  t.is(r.stderr, 'klpsim: klpsim run needs root: it mounts file systems in a private mount namespace\n')
})
