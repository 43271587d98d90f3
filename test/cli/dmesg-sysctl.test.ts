// dmesg (util-linux) and sysctl (procps) over the simulated kernel.
import { spawn } from 'node:child_process'
import { fuseTest } from '../fuse/helpers/fuse'
import { BIN, startInstance } from './helpers/klpsim'

fuseTest('dmesg prints every record as [%5u.%06u] text, stable between calls; --notime, -x, -r, -k/-u, -l', async t => {
  const inst = await startInstance(t)
  let r = await inst.sh('echo "hello from a script" > mnt/dev/kmsg; echo "<3>an error" > mnt/dev/kmsg; dmesg > a; dmesg > b; cmp a b && cat a')
  t.is(r.code, 0, r.stderr)
  const lines = r.stdout.trimEnd().split('\n')
  for (const l of lines) t.regex(l, /^\[ {0,4}\d+\.\d{6}\] /)
  t.regex(lines[0], /^\[ {4}0\.\d{6}\] Linux version 7\.1\.0-klpsim /)
  t.regex(lines[lines.length - 2], /\] hello from a script$/)
  t.regex(lines[lines.length - 1], /\] an error$/)

  r = await inst.sh('dmesg --notime | tail -2; dmesg -t -u; dmesg -r | tail -1; dmesg -x | tail -1; dmesg -l err; dmesg -k | grep -c "hello" || true')
  t.is(r.stdout.replace(/\[ *\d+\.\d+\]/g, '[T]'), [
    'hello from a script', 'an error',
    'hello from a script', 'an error',
    '<11>[T] an error',
    'user  :err   : [T] an error',
    '[T] an error',
    '0',
    '',
  ].join('\n'))

  r = await inst.sh('dmesg -z; dmesg --bogus; dmesg extra')
  t.is(r.stderr, [
    "dmesg: invalid option -- 'z'", "Try 'dmesg --help' for more information.",
    "dmesg: unrecognized option '--bogus'", "Try 'dmesg --help' for more information.",
    'dmesg: bad usage', "Try 'dmesg --help' for more information.", '',
  ].join('\n'))
})

fuseTest('dmesg -C clears, -c reads then clears', async t => {
  const inst = await startInstance(t)
  let r = await inst.sh('dmesg -C && dmesg | wc -l')
  t.is(r.stdout.trim(), '0')
  r = await inst.sh('echo one > mnt/dev/kmsg; dmesg -c --notime; echo ---; dmesg --notime; echo two > mnt/dev/kmsg; dmesg --notime')
  t.is(r.stdout, 'one\n---\ntwo\n')
})

fuseTest('dmesg -w follows new records until interrupted; -W prints only new ones', async t => {
  const inst = await startInstance(t)
  for (const [flag, old] of [['-w', true], ['-W', false]] as const) {
    await inst.sh(`echo "before ${flag}" > mnt/dev/kmsg`)
    const child = spawn(process.execPath, [BIN, 'dmesg', flag, '--notime'], { env: inst.env, cwd: inst.dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => { out += String(d) })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
    // the follower's start-up time is unknown: write new records until one shows
    for (let i = 0; i < 50 && !out.includes(`after ${flag}`); i++) {
      await inst.sh(`echo "after ${flag} ${i}" > mnt/dev/kmsg`)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    child.kill('SIGINT')
    t.is(await exited, 0)
    t.is(out.includes(`before ${flag}`), old, flag)
    t.regex(out, new RegExp(`after ${flag} \\d+\n$`), flag)
  }
})

fuseTest('sysctl: procps\' output and errors, ftrace_enabled busy while a livepatch is loaded', async t => {
  const inst = await startInstance(t)
  let r = await inst.sh('sysctl kernel.ftrace_enabled; sysctl --values kernel.ftrace_enabled; sysctl -n kernel/osrelease; sysctl -N kernel.ostype')
  t.is(r.stdout, 'kernel.ftrace_enabled = 1\n1\n7.1.0-klpsim\nkernel.ostype\n')
  t.is(r.stderr, '')

  r = await inst.sh('sysctl -q kernel.ftrace_enabled=1 2>&1; echo rc=$?; sysctl kernel.ftrace_enabled=0; sysctl -w kernel.ftrace_enabled=1')
  t.is(r.stdout, 'rc=0\nkernel.ftrace_enabled = 0\nkernel.ftrace_enabled = 1\n')

  r = await inst.klpsim(['modules', 'export', 'ko'])
  t.is(r.code, 0)
  r = await inst.sh('insmod ko/test_klp_livepatch.ko && sysctl -q kernel.ftrace_enabled=0 2>&1; echo rc=$?; sysctl --values kernel.ftrace_enabled')
  t.is(r.stdout, 'sysctl: setting key "kernel.ftrace_enabled": Device or resource busy\nrc=1\n1\n')

  r = await inst.sh('sysctl kernel.nope; echo rc=$?; sysctl -e kernel.nope; echo rc=$?; sysctl -w kernel.osrelease=x; echo rc=$?; sysctl -w kernel.ftrace_enabled; echo rc=$?')
  t.is(r.stdout, 'rc=1\nrc=0\nrc=1\nrc=1\n')
  t.is(r.stderr, [
    'sysctl: cannot stat /proc/sys/kernel/nope: No such file or directory',
    'sysctl: setting key "kernel.osrelease": Operation not permitted',
    'sysctl: command line(0): invalid syntax, continuing...',
    '',
  ].join('\n'))

  r = await inst.sh('sysctl -a; echo ---; sysctl kernel | head -1; sysctl -a -r ftrace')
  t.regex(r.stdout, /^kernel\.ftrace_enabled = 1\nkernel\.osrelease = 7\.1\.0-klpsim\nkernel\.ostype = Linux\n/)
  t.regex(r.stdout, /---\nkernel\.ftrace_enabled = 1\nkernel\.ftrace_enabled = 1\n$/)

  r = await inst.sh('printf "# comment\\nkernel.printk = 4 4 1 7\\n-kernel.nope = 1\\n" > my.conf; sysctl -p my.conf; echo rc=$?; sysctl kernel.printk')
  t.is(r.stdout, 'kernel.printk = 4 4 1 7\nrc=1\nkernel.printk = 4\t4\t1\t7\n')
  t.is(r.stderr, 'sysctl: cannot stat /proc/sys/kernel/nope: No such file or directory\n', 'procps: a leading - does not silence a missing key')

  r = await inst.sh('sysctl; echo rc=$?')
  t.regex(r.stderr, /^\nUsage:\n sysctl \[options\] \[variable\[=value\] \.\.\.\]\n/)
  t.is(r.stdout, 'rc=1\n')
})
