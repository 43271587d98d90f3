import test from 'ava'
import { buildKo, readKo } from '../../lib/elf/ko'
import { klpWriteObjectRelocs } from '../../lib/elf/klp'
import { ElfFormatError, parseElf } from '../../lib/elf/reader'
import { LIVEPATCH_SPEC, prng, sampleKo, sampleObject } from './helpers'

const fixtures: Array<[string, Buffer]> = [
  ['object', sampleObject()],
  ['ko', sampleKo()],
  ['ko-aarch64', buildKo({ ...LIVEPATCH_SPEC, machine: 'aarch64' })],
]

function interesting(rnd: () => number, len: number): bigint {
  const pool = [0n, 1n, 0x17n, 0x18n, 0x40n, 0xffn, 0xffffn, 0xff20n, 0x7fffffffn, 0xffffffffn, 1n << 63n, (1n << 64n) - 1n,
    BigInt(len), BigInt(len - 1), BigInt(len + 1), BigInt(Math.floor(rnd() * len))]
  return pool[Math.floor(rnd() * pool.length)]
}

function mutate(src: Buffer, rnd: () => number): Buffer {
  const b = Buffer.from(src)
  const kind = Math.floor(rnd() * 5)
  const shoff = Number(src.readBigUInt64LE(40))
  const shnum = src.readUInt16LE(60)
  switch (kind) {
    case 0: { // byte flips anywhere
      const n = 1 + Math.floor(rnd() * 8)
      for (let i = 0; i < n; i++) b[Math.floor(rnd() * b.length)] ^= 1 << Math.floor(rnd() * 8)
      return b
    }
    case 1: // truncation
      return b.subarray(0, Math.floor(rnd() * b.length))
    case 2: { // overwrite a section header field
      const i = Math.floor(rnd() * shnum)
      const fields: Array<[number, number]> = [[0, 4], [4, 4], [8, 8], [16, 8], [24, 8], [32, 8], [40, 4], [44, 4], [48, 8], [56, 8]]
      const [off, size] = fields[Math.floor(rnd() * fields.length)]
      const v = interesting(rnd, b.length)
      const at = shoff + i * 64 + off
      if (size === 4) b.writeUInt32LE(Number(v & 0xffffffffn), at)
      else b.writeBigUInt64LE(v, at)
      return b
    }
    case 3: { // overwrite an ELF header field
      const fields: Array<[number, number]> = [[4, 1], [5, 1], [6, 1], [16, 2], [18, 2], [20, 4], [40, 8], [52, 2], [58, 2], [60, 2], [62, 2]]
      const [off, size] = fields[Math.floor(rnd() * fields.length)]
      const v = interesting(rnd, b.length)
      if (size === 1) b[off] = Number(v & 0xffn)
      else if (size === 2) b.writeUInt16LE(Number(v & 0xffffn), off)
      else if (size === 4) b.writeUInt32LE(Number(v & 0xffffffffn), off)
      else b.writeBigUInt64LE(v, off)
      return b
    }
    default: { // random 4/8-byte words inside section data (symbols, relocations, strings)
      const n = 1 + Math.floor(rnd() * 3)
      for (let i = 0; i < n; i++) {
        const at = 64 + Math.floor(rnd() * Math.max(1, shoff - 72))
        b.writeUInt32LE(Number(interesting(rnd, b.length) & 0xffffffffn), at)
      }
      return b
    }
  }
}

test('fuzz: mutated fixtures only ever raise ElfFormatError', (t) => {
  const rnd = prng(0x5eed)
  const stats = { parsed: 0, rejected: 0, koParsed: 0 }
  const start = Date.now()
  for (let i = 0; i < 4500; i++) {
    const [name, src] = fixtures[i % fixtures.length]
    const b = mutate(src, rnd)
    try {
      parseElf(b)
      stats.parsed++
    } catch (e) {
      if (!(e instanceof ElfFormatError)) t.fail(`case ${i} (${name}): ${String(e)}`)
      else stats.rejected++
    }
    try {
      const ko = readKo(b)
      stats.koParsed++
      const resolver = (_o: string, _s: string, sympos: number) => (sympos > 5 ? -22 : { addr: 0xffffffff81000000n + BigInt(sympos) })
      for (const obj of [null, 'ext4']) {
        const r = klpWriteObjectRelocs(ko.elf, obj, resolver, () => {}, true, { sectionBase: () => 0xffffffffc0000000n })
        t.true(Number.isInteger(r) && r <= 0)
        klpWriteObjectRelocs(ko.elf, obj, resolver, () => {}, false, { sectionBase: () => 0xffffffffc0000000n })
      }
    } catch (e) {
      if (!(e instanceof ElfFormatError)) t.fail(`case ${i} (${name}) readKo: ${String(e)}`)
    }
  }
  t.log(stats, `${Date.now() - start} ms`)
  t.true(stats.parsed > 0 && stats.rejected > 0)
})
