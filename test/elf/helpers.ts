import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  EM_X86_64, SHF_ALLOC, SHF_EXECINSTR, SHF_INFO_LINK, SHF_RELA_LIVEPATCH, SHF_WRITE, SHN_LIVEPATCH,
  SHT_NOBITS, SHT_PROGBITS, STB_GLOBAL, STB_LOCAL, STT_FUNC, STT_NOTYPE, STT_OBJECT,
} from '../../lib/elf/constants'
import { buildKo, KoSpec } from '../../lib/elf/ko'
import { ElfWriter } from '../../lib/elf/writer'

export const READELF = '/usr/bin/readelf'

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function withTempFile<T>(buf: Buffer, name: string, fn: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'klpsim-elf-'))
  const path = join(dir, name)
  try {
    writeFileSync(path, buf)
    return fn(path)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export function run(cmd: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') }
}

export function readelf(buf: Buffer, args: string[] = ['-h', '-S', '-s', '-r', '-W']): { status: number | null; stdout: string; stderr: string } {
  return withTempFile(buf, 'x.ko', (path) => run(READELF, [...args, path]))
}

export function findModinfo(): string | null {
  for (const p of ['/sbin/modinfo', '/usr/sbin/modinfo', '/usr/bin/modinfo', '/bin/modinfo']) if (existsSync(p)) return p
  return null
}

export const LIVEPATCH_SPEC: KoSpec = {
  name: 'livepatch_sample',
  modinfo: [
    ['name', 'livepatch_sample'],
    ['livepatch', 'Y'],
    ['license', 'GPL'],
    ['vermagic', '6.8.0-klpsim SMP preempt mod_unload modversions '],
  ],
  payload: Buffer.from('{"funcs":["cmdline_proc_show"]}'),
  klpRefs: [
    { object: 'vmlinux', symbol: 'cmdline_proc_show', sympos: 0 },
    { object: 'vmlinux', symbol: 'dup_static', sympos: 2 },
    { object: 'ext4', symbol: 'ext4_static', sympos: 0 },
    { object: 'vmlinux', symbol: 'cmdline_proc_show', sympos: 0 },
  ],
}

export function sampleKo(): Buffer {
  return buildKo(LIVEPATCH_SPEC)
}

/**
 * A general relocatable object exercising every writer feature: text/data/bss,
 * local and global symbols, an ordinary .rela.text and a klp rela section.
 */
export function sampleObject(): Buffer {
  const w = new ElfWriter({ machine: EM_X86_64, fileName: 'sample.c' })
  const text = w.addSection('.text', { type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_EXECINSTR, addralign: 16, data: Buffer.alloc(64, 0x90) })
  const data = w.addSection('.data', { type: SHT_PROGBITS, flags: SHF_ALLOC | SHF_WRITE, addralign: 8, data: Buffer.alloc(40) })
  const bss = w.addSection('.bss', { type: SHT_NOBITS, flags: SHF_ALLOC | SHF_WRITE, addralign: 32, size: 4096 })
  w.addSymbol({ name: 'local_fn', bind: STB_LOCAL, type: STT_FUNC, section: text, value: 16, size: 8 })
  const glob = w.addSymbol({ name: 'global_fn', bind: STB_GLOBAL, type: STT_FUNC, section: text, value: 0, size: 16 })
  w.addSymbol({ name: 'counter', bind: STB_GLOBAL, type: STT_OBJECT, section: bss, value: 0, size: 8 })
  const ext = w.addSymbol({ name: 'printk', bind: STB_GLOBAL, type: STT_NOTYPE })
  const klp = w.addSymbol({ name: '.klp.sym.vmlinux.saved_command_line,0', bind: STB_GLOBAL, section: SHN_LIVEPATCH })
  w.addRelaSection(text).addRela(1, 4 /* PLT32 */, ext, -4).addRela(8, 2 /* PC32 */, text.symbol!, 32)
  w.addRelaSection(data).addRela(0, 1, glob, 0)
  w.addRelaSection(data, { name: '.klp.rela.vmlinux..data', flags: SHF_ALLOC | SHF_INFO_LINK | SHF_RELA_LIVEPATCH }).addRela(8, 1, klp, 0)
  return w.build()
}

/** Offset of section header `i` in a valid file. */
export function shdrOff(buf: Buffer, i: number): number {
  return Number(buf.readBigUInt64LE(40)) + i * 64
}

export function patched(buf: Buffer, fn: (b: Buffer) => void): Buffer {
  const b = Buffer.from(buf)
  fn(b)
  return b
}
