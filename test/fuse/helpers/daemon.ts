// A FUSE daemon in its own process, for tests that kill or stop it:
//   node daemon.js DIR   mounts the test tree on DIR and prints "ready"
// SIGTERM unmounts and prints "unmounted"; the process must then exit by
// itself (nothing may keep its event loop alive).
import { mountTree } from '../../../lib/fuse'
import { addVolatileDir, buildTree } from './tree'

async function main (): Promise<void> {
  const dir = process.argv[2]
  const tree = buildTree()
  addVolatileDir(tree.root, 'gone')
  const mount = await mountTree(tree.root, dir)
  process.once('SIGTERM', () => {
    mount.unmount().then(() => process.stdout.write('unmounted\n'), (err) => {
      process.stderr.write(`unmount: ${String(err)}\n`)
      process.exitCode = 1
    })
  })
  process.stdout.write('ready\n')
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
