// 50 shell processes write to the enabled files of several patches at the
// same moment: first while one patch's transition is stalled, then with the
// engine idle. Every writer must get the kernel's answer, transitions must
// never overlap, every successful write must be one transition (or reversal)
// in the log, and the final state must be coherent.
import { ExecutionContext } from 'ava'
import { background, bootMachine, fuseTest, Machine } from './helpers/machine'

const WRITERS = 50
const KLP = 'sys/kernel/livepatch'
const L = 'test_klp_livepatch'
const R = 'test_klp_atomic_replace'
const SC = 'test_klp_syscall'
const D = 'test_klp_callbacks_demo'
const PATCHES = [L, R, SC, D]

type Answer = 'ok' | 'EINVAL' | 'EBUSY' | 'ENODEV'
interface Write { patch: string, value: string, answer: Answer }

function answerOf (stdout: string, stderr: string): Answer | string {
  const rc = /rc=(\d+)/.exec(stdout)?.[1]
  if (rc === '0' && stderr === '') return 'ok'
  const err = /^bash: line \d+: echo: write error: (.*)\n$/.exec(stderr)?.[1]
  if (rc === '1' && err === 'Invalid argument') return 'EINVAL'
  if (rc === '1' && err === 'Device or resource busy') return 'EBUSY'
  if (rc === '1' && err === 'No such device') return 'ENODEV'
  return `unexpected: ${JSON.stringify({ stdout, stderr })}`
}

/**
 * Every writer opens its file first, then all wait for a common start and
 * write once. Resolves to each writer's answer.
 */
async function burst (t: ExecutionContext, m: Machine, plan: { patch: string, value: string }[], name: string): Promise<Write[]> {
  // each shell opens its file, then blocks on its stdin until all are ready
  // (polling for a go file would fork a sleep 500 times a second per shell)
  const writers = plan.map(({ patch, value }) => background(t, 'bash', ['-c',
    `exec 3>${KLP}/${patch}/enabled || exit 9; echo ready; read -r _; echo ${value} >&3; echo "rc=$?"`], { cwd: m.dir }))
  // 50 shells starting at once on a loaded machine can take a while
  await Promise.all(writers.map((w) => w.waitFor(/ready/, 60_000)))
  for (const w of writers) w.child.stdin!.end('go\n')
  const results = await Promise.all(writers.map((w) => w.done))
  const writes: Write[] = []
  const tally: Record<string, Record<string, number>> = {}
  for (const [i, r] of results.entries()) {
    const answer = answerOf(r.stdout, r.stderr)
    const { patch, value } = plan[i]
    t.true(['ok', 'EINVAL', 'EBUSY', 'ENODEV'].includes(answer), `writer ${i} (echo ${value} > ${patch}): ${answer}`)
    writes.push({ patch, value, answer: answer as Answer })
    const key = `${value} > ${patch}`
    tally[key] = tally[key] ?? {}
    tally[key][answer] = (tally[key][answer] ?? 0) + 1
  }
  t.log(name, JSON.stringify(tally))
  return writes
}

/** Transitions in the log never overlap; `running` is the one in progress at the start. */
function checkNoOverlap (t: ExecutionContext, log: string[], running: string | null): void {
  let open = running
  for (const line of log) {
    const init = /^livepatch: '(\w+)': initializing (patching|unpatching) transition$/.exec(line)
    const done = /^livepatch: '(\w+)': (patching|unpatching) complete$/.exec(line)
    if (init) {
      t.is(open, null, `"${line}" while ${open}'s transition runs`)
      open = init[1]
    } else if (done) {
      t.is(done[1], open ?? '(none)', line)
      open = null
    }
  }
  t.is(open, null, 'every transition completed')
}

/** Successful writes are disables or reversals, one each, in the log. */
function checkSuccesses (t: ExecutionContext, log: string[], writes: Write[], p: string): { disables: number, reversals: number } {
  const oks = writes.filter((w) => w.patch === p && w.answer === 'ok').length
  const disables = log.filter((l) => l === `livepatch: '${p}': initializing unpatching transition`).length
  const reversals = log.filter((l) => /^livepatch: '(\w+)': reversing transition from \w+ to \w+$/.exec(l)?.[1] === p).length
  t.is(oks, disables + reversals, `${p}: ${oks} successful writes, ${disables} disables, ${reversals} reversals`)
  t.true(disables <= 1, `${p} disabled ${disables} times`)
  return { disables, reversals }
}

/** Waits for the engine to settle: no transition, no patch waiting to be freed. */
async function settled (m: Machine): Promise<void> {
  await m.until('no transition and no patch waiting to be freed', () =>
    m.sim.livepatch.transition.patch === null &&
    PATCHES.every((p) => !m.exists(`/${KLP}/${p}`) || m.sim.fs.readFileSync(`/${KLP}/${p}/enabled`) === '1\n'), 30_000)
}

/** What the mount shows once settled agrees with which patches remain. */
async function checkCoherent (t: ExecutionContext, m: Machine): Promise<string[]> {
  const remaining = PATCHES.filter((p) => m.exists(`/${KLP}/${p}`)).sort()
  const n = remaining.length
  const state = await m.sh(`ls ${KLP}; cat ${KLP}/*/enabled ${KLP}/*/transition 2>/dev/null | sort | uniq -c; cat ${KLP}/*/stack_order 2>/dev/null | sort -n | tr '\\n' ' '`)
  t.is(state.stdout, remaining.map((p) => `${p}\n`).join('') +
    (n ? `${String(n).padStart(7)} 0\n${String(n).padStart(7)} 1\n` : '') +
    Array.from({ length: n }, (_, i) => `${i + 1} `).join(''))
  for (const p of PATCHES) {
    t.is((await m.sh(`cat sys/module/${p}/refcnt`)).stdout, remaining.includes(p) ? '1\n' : '0\n', `${p} refcnt`)
  }
  t.is((await m.sh('cat proc/cmdline')).stdout === `${L}: this has been live patched\n`, remaining.includes(L))
  t.is((await m.sh('cat proc/[0-9]*/patch_state | sort -u')).stdout, '-1\n')
  return remaining
}

fuseTest(`${WRITERS} parallel writers to enabled files keep the engine consistent`, async (t) => {
  const m = await bootMachine(t)
  await m.sh("printf 'file kernel/livepatch/* +p\\nfunc klp_try_switch_task -p\\n' > sys/kernel/debug/dynamic_debug/control")
  t.is(await m.insmod(L), 0)
  t.is(await m.insmod(R, 'replace=0'), 0)
  t.is(await m.insmod(SC), 0)
  t.is(await m.insmod('test_klp_callbacks_busy', 'block_transition=Y'), 0)
  t.is(await m.insmod(D), 0)
  t.is((await m.sh(`cat ${KLP}/${D}/transition`)).stdout, '1\n', 'the demo\'s transition is stalled')

  // 1. the demo's transition is stalled: the demo gets 0s and 1s (reversals),
  // the others mostly 0s (another patch in transition) and some 1s (already enabled)
  let mark = m.mark()
  const stalled = await burst(t, m, Array.from({ length: WRITERS }, (_, i) => {
    const patch = PATCHES[i % PATCHES.length]
    const value = patch === D ? String(Math.floor(i / PATCHES.length) % 2) : (i % 7 === 0 ? '1' : '0')
    return { patch, value }
  }), 'stalled')
  await m.sh('echo N > sys/module/test_klp_callbacks_busy/parameters/block_transition')
  await settled(m)
  let log = m.log(mark).filter((l) => l.startsWith('livepatch: '))
  checkNoOverlap(t, log, D)
  for (const p of PATCHES) {
    const mine = stalled.filter((w) => w.patch === p)
    const { disables, reversals } = checkSuccesses(t, log, stalled, p)
    if (p === D) {
      t.false(mine.some((w) => w.answer === 'EBUSY'), 'the patch in transition is never busy for itself')
    } else {
      t.is(reversals, 0, p)
      if (mine.some((w) => w.value === '0' && w.answer === 'EINVAL')) t.is(disables, 1, `${p}: EINVAL for 0 without a disable`)
      t.false(mine.some((w) => w.value === '1' && w.answer !== 'EINVAL' && w.answer !== 'ENODEV'), `${p}: 1 is "already enabled"`)
    }
  }
  t.true(stalled.some((w) => w.answer === 'EBUSY'), 'EBUSY while the demo was in transition')
  const remaining = await checkCoherent(t, m)
  t.true(remaining.length >= 3)

  // 2. the engine is idle: 0s to every remaining patch; exactly one disables it,
  // the rest find it disabled (EINVAL) or gone (ENODEV), or another in transition (EBUSY)
  mark = m.mark()
  const idle = await burst(t, m, Array.from({ length: WRITERS }, (_, i) => ({ patch: remaining[i % remaining.length], value: '0' })), 'idle')
  await settled(m)
  log = m.log(mark).filter((l) => l.startsWith('livepatch: '))
  checkNoOverlap(t, log, null)
  const kept: string[] = []
  for (const p of remaining) {
    const { disables, reversals } = checkSuccesses(t, log, idle, p)
    t.is(reversals, 0, p)
    // whoever wins disables it; only if every writer was told EBUSY does it stay
    if (disables === 0) {
      t.true(idle.filter((w) => w.patch === p).every((w) => w.answer === 'EBUSY'), `${p} neither disabled nor busy`)
      kept.push(p)
    }
  }
  t.deepEqual(await checkCoherent(t, m), kept)
})
