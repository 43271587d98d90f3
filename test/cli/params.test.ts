// Module parameters: given to insmod (the kernel's parsing, its errors in
// kmod's words) and written through /sys/module/<m>/parameters/<p>.
import { fuseTest } from '../fuse/helpers/fuse'
import { startInstance } from './helpers/klpsim'
import { PARAMS_DEMO, writeSources } from './fixtures'

const ERR = (text: string) => `insmod: ERROR: could not insert module params_demo.ko: ${text}\n`

fuseTest('insmod parameters: accepted as the kernel accepts them, type errors refused with its messages', async t => {
  const inst = await startInstance(t)
  await writeSources(inst.dir, { 'params_demo.ts': PARAMS_DEMO })
  t.is((await inst.klpsim(['build', 'params_demo.ts'])).code, 0)

  const refused: Array<[string, string, string]> = [
    ['flag=maybe', 'Invalid parameters', "params_demo: `maybe' invalid for parameter `flag'"],
    ['flag=', 'Invalid parameters', "params_demo: `' invalid for parameter `flag'"],
    ['level=abc', 'Invalid parameters', "params_demo: `abc' invalid for parameter `level'"],
    ['level=2147483648', 'Numerical result out of range', "params_demo: `2147483648' invalid for parameter `level'"],
    ['small=256', 'Numerical result out of range', "params_demo: `256' invalid for parameter `small'"],
    ['small=-1', 'Invalid parameters', "params_demo: `-1' invalid for parameter `small'"],
  ]
  for (const [arg, text, kmsg] of refused) {
    const r = await inst.sh(`insmod params_demo.ko ${arg}`)
    t.is(r.code, 1, arg)
    t.is(r.stderr, ERR(text), arg)
    t.is((await inst.sh('dmesg --notime | tail -1')).stdout, kmsg + '\n', arg)
    t.is((await inst.sh('[ -e mnt/sys/module/params_demo ] || echo absent')).stdout, 'absent\n', arg)
  }

  // kstrtobool's spellings, a bare name for true, hex and negative ints, a quoted string
  const accepted: Array<[string, string]> = [
    ['flag=y level=0x10 small=255 label=x', 'flag=Y level=16 small=255 label=x'],
    ['flag=on level=-7', 'flag=Y level=-7 small=0 label=none'],
    ['flag=off', 'flag=N level=3 small=0 label=none'],
    ['flag=1', 'flag=Y level=3 small=0 label=none'],
    ['flag=N', 'flag=N level=3 small=0 label=none'],
    ['flag=t', 'flag=Y level=3 small=0 label=none'],
    ['flag', 'flag=Y level=3 small=0 label=none'],
    ['\'label="two words"\'', 'flag=N level=3 small=0 label=two words'],
  ]
  for (const [args, line] of accepted) {
    const r = await inst.sh(`insmod params_demo.ko ${args} && rmmod params_demo && dmesg --notime | grep 'params_demo: flag=' | tail -1`)
    t.is(r.code, 0, `${args}: ${r.stderr}`)
    t.is(r.stdout, `params_demo: ${line}\n`, args)
  }
})

fuseTest('a 0644 parameter is writable through the mount, with the kernel\'s checks; 0444 is not', async t => {
  const inst = await startInstance(t)
  await writeSources(inst.dir, { 'params_demo.ts': PARAMS_DEMO })
  t.is((await inst.klpsim(['build', 'params_demo.ts'])).code, 0)
  const P = 'mnt/sys/module/params_demo/parameters'
  let r = await inst.sh(`insmod params_demo.ko level=5 && ls ${P} && stat -c '%A %n' ${P}/* && cat ${P}/level ${P}/flag ${P}/label`)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, [
    'flag', 'label', 'level', 'small',
    `-rw-r--r-- ${P}/flag`, `-rw-r--r-- ${P}/label`, `-rw-r--r-- ${P}/level`, `-r--r--r-- ${P}/small`,
    '5', 'N', 'none', '',
  ].join('\n'))

  r = await inst.sh(`echo 42 > ${P}/level && echo y > ${P}/flag && echo hello > ${P}/label && cat ${P}/level ${P}/flag ${P}/label`)
  t.is(r.code, 0, r.stderr)
  t.is(r.stdout, '42\nY\nhello\n')

  r = await inst.sh(`echo abc > ${P}/level`, { shell: 'bash' })
  t.is(r.code, 1)
  t.regex(r.stderr, /echo: write error: Invalid argument/)
  r = await inst.sh(`echo maybe > ${P}/flag`, { shell: 'bash' })
  t.regex(r.stderr, /echo: write error: Invalid argument/)
  r = await inst.sh(`echo 9 > ${P}/small`, { shell: 'bash' })
  t.is(r.code, 1)
  t.regex(r.stderr, /Permission denied/)
  r = await inst.sh(`cat ${P}/level ${P}/flag ${P}/small`)
  t.is(r.stdout, '42\nY\n0\n', 'failed writes changed nothing')
})
