// klpsim mount --mode/--arch/--livepatch-stack: one-line usage errors, and a
// stop-machine machine mounted by the real command line in a child process.
import test from 'ava'
import { execFile, spawn } from 'node:child_process'
import { join } from 'node:path'
import { livepatchOptions, UsageError } from '../../lib/cli/sim-options'
import { fuseTest, quote, sh, tempDir } from '../fuse/helpers/fuse'

const BIN = join(__dirname, '..', '..', '..', 'bin', 'klpsim')

function run (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise(resolve => {
    execFile(process.execPath, [BIN, ...args], { timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

test('livepatch options: defaults and translation', t => {
  t.deepEqual(livepatchOptions({}), { mode: 'ftrace', arch: 'x86_64', stopMachine: { stack: true } })
  t.deepEqual(livepatchOptions({ mode: 'stop-machine', arch: 'arm64', 'livepatch-stack': 'off' }), { mode: 'stop-machine', arch: 'arm64', stopMachine: { stack: false } })
  t.throws(() => livepatchOptions({ mode: 'kpatch' }), { instanceOf: UsageError, message: "invalid --mode 'kpatch' (use ftrace or stop-machine)" })
})

const usageErrors: Array<[string[], string]> = [
  [['--mode', 'wo-ftrace'], "klpsim: invalid --mode 'wo-ftrace' (use ftrace or stop-machine)\n"],
  [['--arch', 'riscv64'], "klpsim: invalid --arch 'riscv64' (use x86_64 or arm64)\n"],
  [['--mode', 'stop-machine', '--livepatch-stack', 'maybe'], "klpsim: invalid --livepatch-stack 'maybe' (use on or off)\n"],
  [['--livepatch-stack', 'off'], 'klpsim: --livepatch-stack applies to --mode stop-machine only\n'],
]

for (const [args, message] of usageErrors) {
  test(`klpsim mount ${args.join(' ')}: exit 2 with one line`, async t => {
    const r = await run(['mount', '/nonexistent/klpsim-never-mounted', ...args])
    t.is(r.code, 2)
    t.is(r.stderr, message)
  })
}

fuseTest('klpsim mount --mode stop-machine serves /proc/livepatch/state; ftrace mode does not have it', async t => {
  for (const mode of ['stop-machine', 'ftrace']) {
    const dir = await tempDir(t)
    const child = spawn(process.execPath, [BIN, 'mount', dir, '--mode', mode, '--arch', 'arm64'], { stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
    t.teardown(async () => { if (child.exitCode === null) { child.kill('SIGKILL'); await exited } })
    let out = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not mounted: ${out}`)), 15000)
      child.stdout.on('data', d => { out += String(d); if (out.includes('mounted at')) { clearTimeout(timer); resolve() } })
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`klpsim exited (${code})`)) })
    })
    t.regex(out, new RegExp(`\\(${mode}\\) mounted at`))
    const r = await sh(`cat ${quote(dir)}/proc/livepatch/state; ls ${quote(dir)}/sys/kernel/livepatch | wc -l`)
    if (mode === 'stop-machine') {
      t.is(r.stdout, 'Index\tPatch                     \tState   \n' + '-'.repeat(47) + '\n' + '-'.repeat(47) + '\n0\n')
    } else {
      t.regex(r.stderr, /No such file or directory/)
    }
    child.kill('SIGTERM')
    t.is(await exited, 0)
  }
})
