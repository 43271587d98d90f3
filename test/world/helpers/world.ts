// Helpers for the world-control tests: real daemons (`klpsim mount DIR ...` as
// child processes), the module files klpsim ships, and a dump of what a mount
// shows, for comparing two instances.
import type { ExecutionContext } from 'ava'
import { Instance, quote, startInstance } from '../../cli/helpers/klpsim'

export { quote }

/** A daemon on a virtual clock (time moves only on `klpsim clock`), with the shipped modules exported to DIR/ko. */
export async function virtualInstance (t: ExecutionContext, args: string[] = []): Promise<Instance> {
  const inst = await startInstance(t, { args: ['--clock', 'virtual', ...args] })
  const r = await inst.klpsim(['modules', 'export', 'ko'])
  if (r.code !== 0) throw new Error(`modules export failed: ${r.stderr}`)
  return inst
}

/** Runs `klpsim ARGS` and fails the test unless it exits 0; its stdout. */
export async function ok (t: ExecutionContext, inst: Instance, args: string[]): Promise<string> {
  const r = await inst.klpsim(args)
  if (r.code !== 0) t.fail(`klpsim ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

/** Runs a shell script and fails the test unless it exits 0; its stdout. */
export async function shOk (t: ExecutionContext, inst: Instance, script: string): Promise<string> {
  const r = await inst.sh(script)
  if (r.code !== 0) t.fail(`${script} exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

/**
 * What a mount shows of the livepatch world, as text: every file of
 * /sys/kernel/livepatch with its value, every task's comm, patch_state and
 * stack, every loaded module's sysfs state, /proc/modules and the taint.
 */
export const DUMP = `cd "$1" || exit 1
for f in $(find sys/kernel/livepatch | sort); do
  if [ -d "$f" ]; then echo "D $f"; elif v=$(cat "$f" 2>/dev/null); then echo "F $f=$v"; else echo "F $f (unreadable)"; fi
done
for p in $(ls proc | grep -E '^[0-9]+$' | sort -n); do
  for t in $(ls proc/$p/task | sort -n); do
    echo "T $p/$t $(cat proc/$p/task/$t/comm) patch_state=$(cat proc/$p/task/$t/patch_state) state=$(cut -d' ' -f3 proc/$p/task/$t/stat)"
    sed 's/^/    /' proc/$p/task/$t/stack
  done
done
for m in $(cut -d' ' -f1 proc/modules | sort); do
  echo "M $m refcnt=$(cat sys/module/$m/refcnt) initstate=$(cat sys/module/$m/initstate) taint=$(cat sys/module/$m/taint) coresize=$(cat sys/module/$m/coresize) holders=$(ls sys/module/$m/holders | tr '\\n' ,)"
done
cut -d' ' -f1-5 proc/modules
echo "tainted=$(cat proc/sys/kernel/tainted) release=$(cat proc/sys/kernel/osrelease)"
`

export async function dump (t: ExecutionContext, inst: Instance, mnt: string): Promise<string> {
  return shOk(t, inst, `sh -c ${quote(DUMP)} dump ${quote(mnt)}`)
}

/** The status report without what depends on when it was taken (uptime, the transition's clocks). */
export function timeless (report: any): any {
  const r = JSON.parse(JSON.stringify(report))
  delete r.kernel.uptimeMs
  if (r.transition) for (const k of ['elapsedMs', 'attempts', 'nextAttemptInMs', 'signalsInAttempts', 'signalsInMs']) delete r.transition[k]
  return r
}

export async function statusJson (t: ExecutionContext, inst: Instance, mount?: string): Promise<any> {
  return JSON.parse(await ok(t, inst, ['status', '--json', ...(mount ? ['--mount', mount] : [])]))
}
