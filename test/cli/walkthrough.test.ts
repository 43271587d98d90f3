// The README's "Writing a patch module" walkthrough, run as the script the
// README shows (examples/livepatch-cmdline/walkthrough.sh), with klpsim on PATH.
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { request } from '../../lib/control/client'
import { controlSocketPath } from '../../lib/control/paths'
import { fuseTest } from '../fuse/helpers/fuse'
import { BIN, exec, REPO, tempDir } from './helpers/klpsim'

const TRANSCRIPT = (dir: string): string => `klpsim: 7.1.0-klpsim (ftrace) mounted at ${dir}/mnt
Y
this has been live patched (read 1 time)
this has been live patched (read 2 times)
Module                  Size  Used by
livepatch_cmdline      16384  1
enabled
force
replace
stack_order
transition
vmlinux
hello from a patch (read 3 times)
BOOT_IMAGE=/boot/vmlinuz-7.1.0-klpsim root=/dev/vda1 ro console=ttyS0,115200 quiet
livepatch_cmdline: loading out-of-tree module taints kernel.
livepatch_cmdline: tainting kernel with TAINT_LIVEPATCH
livepatch: enabling patch 'livepatch_cmdline'
livepatch_cmdline: pre-patch: /proc/cmdline will count its readers
livepatch: 'livepatch_cmdline': starting patching transition
livepatch_cmdline: post-patch: every task runs the new cmdline_proc_show
livepatch: 'livepatch_cmdline': patching complete
livepatch_cmdline: pre-unpatch: going back to the original
livepatch: 'livepatch_cmdline': starting unpatching transition
livepatch_cmdline: post-unpatch: read counters freed
livepatch: 'livepatch_cmdline': unpatching complete
`

fuseTest('the walkthrough: build, insmod, read through the mount, set a parameter, disable, rmmod', async t => {
  const dir = await tempDir(t, 'klpsim-walkthrough-')
  await fsp.mkdir(join(dir, 'bin'))
  await fsp.symlink(BIN, join(dir, 'bin', 'klpsim'))
  // should the script be killed, its daemon must not outlive the test
  t.teardown(async () => {
    const reply = await request(controlSocketPath(join(dir, 'mnt'), {}), { type: 'ping' }, { timeoutMs: 2000 }).catch(() => null)
    if (reply?.ok && typeof reply.pid === 'number') process.kill(reply.pid, 'SIGTERM')
  })
  const r = await exec('sh', [join(REPO, 'examples', 'livepatch-cmdline', 'walkthrough.sh')], {
    cwd: dir,
    env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}`, KLPSIM_CONTROL: '' },
    timeoutMs: 60_000,
  })
  t.is(r.stderr, '')
  t.is(r.code, 0)
  t.is(r.stdout, TRANSCRIPT(dir))
})
