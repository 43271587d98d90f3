// Malformed module files: each gets one clear error line from insmod and
// leaves the simulated kernel as it was.
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { readKo } from '../../lib/elf/ko'
import { encodePayload } from '../../lib/module-file'
import { fuseTest } from '../fuse/helpers/fuse'
import { snapshot, startInstance } from './helpers/klpsim'

const SHDR = 64

/** The byte offset of section `name`'s header in a 64-bit ELF file. */
function shdrOffset (buf: Buffer, name: string): number {
  const sec = readKo(buf).elf.sections.find(s => s.name === name)
  if (!sec) throw new Error(`no ${name}`)
  return Number(buf.readBigUInt64LE(0x28)) + sec.index * SHDR
}

function patch (buf: Buffer, fn: (b: Buffer) => void): Buffer {
  const b = Buffer.from(buf)
  fn(b)
  return b
}

/** Renames a section in place (same length), so that the loader no longer finds it. */
function renameSection (buf: Buffer, from: string, to: string): Buffer {
  return patch(buf, (b) => {
    const i = b.indexOf(Buffer.from(`${from}\0`))
    b.write(to, i, 'latin1')
  })
}

function variants (good: Buffer): Record<string, Buffer> {
  const payloadSec = readKo(good).elf.sections.find(s => s.name === '.klpsim.module')!
  return {
    'truncated-header.ko': good.subarray(0, 40),
    'truncated-64.ko': good.subarray(0, 64),
    'truncated-tail.ko': good.subarray(0, good.length - 10),
    'random.ko': Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761 >>> 13) & 0xff)),
    'text.ko': Buffer.from('#!/bin/sh\necho not a module\n'),
    'elf32.ko': patch(good, (b) => { b[4] = 1 }),
    'bigendian.ko': patch(good, (b) => { b[5] = 2 }),
    'i386.ko': patch(good, (b) => { b.writeUInt16LE(3, 18) }),
    'executable.ko': patch(good, (b) => { b.writeUInt16LE(2, 16) }),
    'huge-shnum.ko': patch(good, (b) => { b.writeUInt16LE(60000, 0x3c) }),
    'oversized-section.ko': patch(good, (b) => { b.writeBigUInt64LE(0x7fffffffffn, shdrOffset(good, '.modinfo') + 0x20) }),
    'section-beyond-file.ko': patch(good, (b) => { b.writeBigUInt64LE(BigInt(good.length + 4096), shdrOffset(good, '.modinfo') + 0x18) }),
    'no-this-module.ko': renameSection(good, '.gnu.linkonce.this_module', '.gnu.linkonce.that_module'),
    'empty-name.ko': patch(good, (b) => {
      const off = Number(b.readBigUInt64LE(shdrOffset(good, '.gnu.linkonce.this_module') + 0x18))
      b.fill(0, off + 0x18, off + 0x18 + 56)
    }),
    'no-payload.ko': renameSection(good, '.klpsim.module', '.klpsim.modulx'),
    'bad-payload.ko': patch(good, (b) => { b.fill(0x7b, payloadSec.offset, payloadSec.offset + 8) }),
    'unknown-builtin.ko': patch(good, (b) => {
      const fake = encodePayload({ format: 1, builtin: 'test_klp_nope!!!' })
      if (fake.length > payloadSec.size) throw new Error('payload too short for the test')
      b.fill(0x20, payloadSec.offset, payloadSec.offset + payloadSec.size)
      fake.copy(b, payloadSec.offset)
    }),
  }
}

fuseTest('malformed module files: one line from insmod each, nothing changes, the daemon goes on', async t => {
  const inst = await startInstance(t)
  let r = await inst.klpsim(['modules', 'export', 'ko'])
  t.is(r.code, 0, r.stderr)
  const good = await fsp.readFile(join(inst.dir, 'ko', 'test_klp_livepatch.ko'))
  const files = variants(good)
  for (const [name, data] of Object.entries(files)) await fsp.writeFile(join(inst.dir, name), data)

  // one module loaded, so that "nothing changes" covers a live module and its patch too
  r = await inst.sh('insmod ko/livepatch-sample.ko')
  t.is(r.code, 0, r.stderr)
  const before = await snapshot(inst)
  for (const name of Object.keys(files)) {
    const res = await inst.sh(`insmod ${name}`)
    t.is(res.code, 1, name)
    t.is(res.stdout, '', name)
    t.is(res.stderr, `insmod: ERROR: could not insert module ${name}: Invalid module format\n`, name)
  }
  t.is(await snapshot(inst), before)

  // the kernel said why, once per file
  const log = (await inst.sh('dmesg --notime')).stdout
  for (const line of [
    'Invalid ELF header len 40',
    'Invalid ELF header magic: != \\177ELF',
    'Unsupported ELF class ELFCLASS32: only ELFCLASS64 files are supported',
    'Invalid architecture in ELF header: 3',
    'Invalid ELF header type: 2 != 1',
    'module test_klp_livepatch: Exactly one .gnu.linkonce.this_module section must exist.',
    'module test_klp_livepatch: empty module name in .gnu.linkonce.this_module',
    "klpsim: test_klp_livepatch: no simulated code in this module (.klpsim.module is missing); build modules with 'klpsim build'",
    'klpsim: test_klp_livepatch: .klpsim.module is not a klpsim module payload',
    "klpsim: test_klp_livepatch: unknown built-in module 'test_klp_nope!!!'",
  ]) t.true(log.includes(line), `kmsg has: ${line}`)

  // still serving, still loading good modules
  r = await inst.sh('insmod ko/test_klp_callbacks_mod.ko && lsmod')
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /^test_klp_callbacks_mod /m)
})

fuseTest('a module built for another kernel release: the kernel\'s version magic line, Invalid module format', async t => {
  const inst = await startInstance(t)
  await fsp.writeFile(join(inst.dir, 'plain.ts'), "import { defineModule } from 'klpsim'\nexport default defineModule({ name: 'plain', init: () => 0, exit: () => {} })\n")
  let r = await inst.klpsim(['build', 'plain.ts', '--release', '6.1.0-18-amd64'])
  t.is(r.code, 0, r.stderr)
  const before = await snapshot(inst)
  r = await inst.sh('insmod plain.ko')
  t.is(r.code, 1)
  t.is(r.stderr, 'insmod: ERROR: could not insert module plain.ko: Invalid module format\n')
  t.is(await snapshot(inst), before)
  const log = (await inst.sh('dmesg --notime | tail -1')).stdout
  t.is(log, "plain: version magic '6.1.0-18-amd64 SMP preempt mod_unload modversions ' should be '7.1.0-klpsim SMP preempt mod_unload modversions '\n")
})

fuseTest('huge files and things that are not files: refused before anything is read', async t => {
  const inst = await startInstance(t)
  const before = await snapshot(inst)
  let r = await inst.sh('truncate -s 65M huge.ko && insmod huge.ko')
  t.is(r.code, 1)
  t.is(r.stderr, 'insmod: ERROR: could not insert module huge.ko: File too large\n')
  r = await inst.sh('insmod /dev/null')
  t.is(r.code, 1)
  t.is(r.stderr, 'insmod: ERROR: could not insert module /dev/null: Invalid parameters\n')
  t.is(await snapshot(inst), before)
})
