// The module loader: states and ordering, parameters, refcounts, errors.
import test from 'ava'
import { bootSim } from '../helpers/engine'
import { defineModule } from '../../lib/kernel/module'
import { EAGAIN, EBUSY, EEXIST, EINVAL, ENOENT, ERANGE } from '../../lib/kobject/errno'


const params = defineModule({
  name: 'params_mod',
  params: {
    flag: { type: 'bool', mode: 0o644, default: false },
    count: { type: 'int', mode: 0o644, default: 3 },
    hidden: { type: 'int', mode: 0 },
    ro: { type: 'bool', mode: 0o444, default: true },
    list: { type: 'int_array', mode: 0o444, max: 128 },
    name: { type: 'charp', mode: 0o600 },
  },
  init: () => 0,
  exit: () => {},
})

test('parameters: kstrtobool, integers, arrays up to their maximum, sysfs files by mode', async t => {
  const s = bootSim()
  for (const [arg, err] of [['flag=2', -EINVAL], ['flag=', -EINVAL], ['count=abc', -EINVAL], ['count=4294967296', -ERANGE], ['count', -EINVAL]] as const) {
    const mark = s.mark()
    t.is(await s.load(params, arg), err, arg)
    t.false(s.exists('/sys/module/params_mod'), `no residue after ${arg}`)
    t.true(s.log(mark).some(l => l.startsWith('params_mod: `')), s.log(mark).join('|'))
  }
  const mark = s.mark()
  t.is(await s.load(params, 'nope=1'), 0, 'an unknown parameter is ignored')
  t.true(s.log(mark).includes("params_mod: unknown parameter 'nope' ignored"))
  t.is(await s.unload('params_mod'), 0)
  t.is(await s.load(params, 'list=' + Array.from({ length: 129 }, (_, i) => i).join(',')), -EINVAL)
  t.is(await s.load(params, 'flag', 'count=0x10', 'list=' + Array.from({ length: 128 }, (_, i) => i).join(','), 'name=hello', 'ro=off'), 0)
  t.deepEqual(s.sim.fs.readdirSync('/sys/module/params_mod/parameters'), ['count', 'flag', 'list', 'name', 'ro'])
  t.is(await s.read('/sys/module/params_mod/parameters/flag'), 'Y')
  t.is(await s.read('/sys/module/params_mod/parameters/count'), '16')
  t.is(await s.read('/sys/module/params_mod/parameters/ro'), 'N')
  t.is(s.sim.fs.statSync('/sys/module/params_mod/parameters/name').mode & 0o777, 0o600)
  for (const v of ['yes', 'n', 'True', 'off', 'on', 'E', 'd']) t.is(await s.write('/sys/module/params_mod/parameters/flag', v), v.length, v)
  t.is(await s.write('/sys/module/params_mod/parameters/flag', 'maybe'), -EINVAL)
  t.is(await s.write('/sys/module/params_mod/parameters/count', '-19\n'), 4)
  t.is(await s.read('/sys/module/params_mod/parameters/count'), '-19')
  t.is(await s.write('/sys/module/params_mod/parameters/ro', '1'), -13)
  t.is(await s.load(params), -EEXIST, 'a second load')
})

test('init runs with COMING state and /sys/module present; a failing init leaves nothing', async t => {
  const s = bootSim()
  const seen: string[] = []
  const mod = (ret: number) => defineModule({
    name: 'states',
    init: (ctx) => {
      seen.push(`${ctx.module.state} ${s.exists('/sys/module/states/initstate')}`)
      return ret
    },
    exit: () => {},
  })
  t.is(await s.load(mod(-EBUSY)), -EBUSY)
  t.false(s.exists('/sys/module/states'))
  t.is(await s.load(mod(0)), 0)
  t.deepEqual(seen, ['COMING true', 'COMING true'])
  t.is(await s.read('/sys/module/states/initstate'), 'live')
})

test('unload: not loaded, in use, and a module without exit', async t => {
  const s = bootSim()
  t.is(await s.unload('absent'), -ENOENT)
  t.is(await s.load(defineModule({ name: 'user', init: () => 0, exit: () => {} })), 0)
  const k = s.sim.kernel
  const m = k.modules.find('user')!
  k.modules.get(m)
  t.is(await s.read('/sys/module/user/refcnt'), '1')
  t.is(await s.unload('user'), -EAGAIN)
  k.modules.put(m)
  t.is(await s.unload('user'), 0)
  t.is(await s.load(defineModule({ name: 'sticky', permanent: true, init: () => 0 })), 0)
  t.is(await s.unload('sticky'), -EBUSY)
  t.regex(await s.read('/proc/modules'), /^sticky \d+ 0 - Live 0x[0-9a-f]{16} \(O\)$/m)
})

test('exit runs before the going hooks; /sys/module goes with the module', async t => {
  const s = bootSim()
  const order: string[] = []
  s.sim.kernel.modules.hooks.going.push((m) => { if (m.name === 'order') order.push(`going ${m.state}`) })
  t.is(await s.load(defineModule({ name: 'order', init: () => 0, exit: (ctx) => { order.push(`exit ${ctx.module.state}`) } })), 0)
  t.is(await s.unload('order'), 0)
  t.deepEqual(order, ['exit GOING', 'going GOING'])
  t.false(s.exists('/sys/module/order'))
})
