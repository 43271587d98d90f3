// The mechanics of the kernel's livepatch selftests (functions.sh, as
// selftests-behaviour.md §2 describes them), acted out through the mount:
// every log line, sysfs write, wait and check is a shell command on the
// mounted tree, the log is read back with the real util-linux dmesg (bind
// mounted over /dev/kmsg in a private mount namespace) and filtered with
// grep/sed as check_result does. Only insmod/rmmod are in-process calls,
// made between a shell step that logs "% insmod ..." and one that waits for
// /sys/module/<m>.
import { Machine, quote } from './machine'

/** Shell functions every step can use; paths are relative to the mount point. */
const PRELUDE = `
KLP=sys/kernel/livepatch
log () { echo "$1" > dev/kmsg; }
die () { log "ERROR: $1"; echo "ERROR: $1" >&2; exit 1; }
loop_until () {
  local i=0
  while true; do
    eval "$1" && return 0
    i=$((i + 1))
    [ $i -gt 600 ] && return 1
    sleep .1
  done
}
kdmesg () { unshare -m sh -c 'mount --bind dev/kmsg /dev/kmsg && exec dmesg'; }
`

export class ShellSelftest {
  private lastDmesg = ''

  constructor (readonly m: Machine) {}

  /** Runs a step; a non-zero exit (die) fails the test with the step's stderr. */
  async step (script: string): Promise<string> {
    const r = await this.m.bash(PRELUDE + script, { timeoutMs: 90_000 })
    if (r.code !== 0) throw new Error(`step failed (exit ${r.code}): ${r.stderr.trim()}\n--- script:\n${script}`)
    return r.stdout
  }

  log (msg: string): Promise<string> {
    return this.step(`log ${quote(msg)}`)
  }

  /** set_dynamic_debug and set_ftrace_enabled 1 of setup_config. */
  async setup (): Promise<void> {
    await this.step(`printf 'file kernel/livepatch/* +p\\nfunc klp_try_switch_task -p\\n' > sys/kernel/debug/dynamic_debug/control
echo 1 > proc/sys/kernel/ftrace_enabled
[ "$(cat proc/sys/kernel/ftrace_enabled)" = 1 ] || die "failed to set kernel.ftrace_enabled = 1"
log "livepatch: kernel.ftrace_enabled = 1"`)
  }

  async startTest (name: string): Promise<void> {
    const canary = `livepatch kselftest timestamp: ${new Date().toISOString()}`
    this.lastDmesg = (await this.step(`log ${quote(canary)}
loop_until ${quote(`kdmesg | grep -q -F ${quote(canary)}`)} || die "buffer busy? can't find canary dmesg message"
kdmesg | grep -F ${quote(canary)}
log ${quote(`===== TEST: ${name} =====`)}`)).replace(/\n$/, '')
  }

  private async insmodLogged (mod: string, args: string[]): Promise<void> {
    await this.log(`% insmod test_modules/${mod}.ko ${args.join(' ')}`.replace(/ $/, ''))
    const rc = await this.m.insmod(mod, ...args)
    if (rc !== 0) throw new Error(`insmod ${mod}: ${rc}`)
  }

  async loadMod (mod: string, ...args: string[]): Promise<void> {
    await this.insmodLogged(mod, args)
    await this.step(`loop_until '[ -e sys/module/${mod} ]' || die "failed to load module ${mod}"`)
  }

  async loadLp (mod: string, ...args: string[]): Promise<void> {
    await this.insmodLogged(mod, args)
    await this.step(`loop_until '[ -e sys/module/${mod} ]' || die "failed to load module ${mod}"
loop_until '[ -e $KLP/${mod} ]' || die "failed to load module ${mod} (sysfs)"
loop_until 'grep -q "^0$" $KLP/${mod}/transition' || die "failed to complete transition"`)
  }

  async disableLp (mod: string): Promise<void> {
    await this.step(`log "% echo 0 > /sys/kernel/livepatch/${mod}/enabled"
echo 0 > $KLP/${mod}/enabled
loop_until '[ ! -e $KLP/${mod} ]' || die "failed to disable livepatch ${mod}"`)
  }

  async unloadMod (mod: string): Promise<void> {
    await this.step(`loop_until '[ "$(cat sys/module/${mod}/refcnt)" = 0 ]' || die "failed to unload module ${mod} (refcnt)"
log "% rmmod ${mod}"`)
    const rc = await this.m.rmmod(mod)
    if (rc !== 0) throw new Error(`rmmod ${mod}: ${rc}`)
    await this.step(`loop_until '[ ! -e sys/module/${mod} ]' || die "failed to unload module ${mod} (/sys/module)"`)
  }

  /** grep PATTERN FILE > /dev/kmsg, as the scripts put side output into the log. */
  grepToLog (pattern: string, file: string): Promise<string> {
    return this.step(`grep ${quote(pattern)} ${file} > dev/kmsg; true`)
  }

  /** check_result's filter over what dmesg prints after the canary. */
  async result (): Promise<string> {
    const out = await this.step(`kdmesg | awk -v last=${quote(this.lastDmesg)} 'seen { print } $0 == last { seen = 1 }' |
  grep -e 'livepatch:' -e 'test_klp' | grep -v -e 'tainting kernel' -e 'taints kernel' |
  sed -e 's/^\\[[ 0-9.]*\\] //' -e 's/^\\[[CT][ 0-9]*\\] //'`)
    return out.replace(/\n+$/, '')
  }
}

/** The expected-output shorthands of selftests-behaviour.md §3. */
export const seq = {
  ins: (m: string, args = '') => `% insmod test_modules/${m}.ko${args ? ' ' + args : ''}`,
  rm: (m: string) => `% rmmod ${m}`,
  off: (p: string) => `% echo 0 > /sys/kernel/livepatch/${p}/enabled`,
  patch: (p: string, pre: string[] = [], post: string[] = []) => [
    `livepatch: enabling patch '${p}'`,
    `livepatch: '${p}': initializing patching transition`,
    ...pre,
    `livepatch: '${p}': starting patching transition`,
    `livepatch: '${p}': completing patching transition`,
    ...post,
    `livepatch: '${p}': patching complete`,
  ],
  unpatch: (p: string, pre: string[] = [], post: string[] = []) => [
    `livepatch: '${p}': initializing unpatching transition`,
    ...pre,
    `livepatch: '${p}': starting unpatching transition`,
    `livepatch: '${p}': completing unpatching transition`,
    ...post,
    `livepatch: '${p}': unpatching complete`,
  ],
  cb: (p: string, kind: string, obj = 'vmlinux', state?: 'LIVE' | 'COMING' | 'GOING') =>
    `${p}: ${kind}_callback: ${obj}${state ? ` -> ${STATES[state]}` : ''}`,
  apply: (p: string, m: string) => `livepatch: applying patch '${p}' to loading module '${m}'`,
  revert: (p: string, m: string) => `livepatch: reverting patch '${p}' on unloading module '${m}'`,
}

const STATES = {
  LIVE: '[MODULE_STATE_LIVE] Normal state',
  COMING: '[MODULE_STATE_COMING] Full formed, running module_init',
  GOING: '[MODULE_STATE_GOING] Going away',
}
