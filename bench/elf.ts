import { performance } from 'node:perf_hooks'
import { parseKallsyms } from '../lib/elf/kallsyms-file'
import { KallsymsIndex } from '../lib/elf/kallsyms-index'
import { KlpRef, buildKo, readKo } from '../lib/elf/ko'
import { klpWriteObjectRelocs } from '../lib/elf/klp'

const KALLSYMS_LINES = 200_000
const RELOCS = 10_000
const DUPS = 2_000 // static names present three times in vmlinux
const RUNS = 9

function kallsymsText(): string {
  const lines: string[] = []
  let addr = 0xffffffff81000000n
  for (let i = 0; i < KALLSYMS_LINES; i++) {
    addr += BigInt(16 + (i % 13) * 16)
    const name = i % 50 < 3 && Math.floor(i / 50) < DUPS ? `dup_static_${Math.floor(i / 50)}` : `sym_${i}`
    lines.push(`${addr.toString(16)} ${i % 3 ? 't' : 'T'} ${name}`)
  }
  return lines.join('\n') + '\n'
}

function refs(): KlpRef[] {
  const out: KlpRef[] = []
  for (let i = 0; i < RELOCS; i++) {
    if (i % 5 === 0) {
      out.push({ object: 'vmlinux', symbol: `dup_static_${(i / 5) % DUPS}`, sympos: 1 + (i % 3) })
    } else {
      let k = (i * 17 + 1) % KALLSYMS_LINES
      if (k % 50 < 3 && Math.floor(k / 50) < DUPS) k += 3 // a unique sym_<k>
      out.push({ object: 'vmlinux', symbol: `sym_${k}`, sympos: 0 })
    }
  }
  return out
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]
}

/**
 * Parse a .ko carrying ~10,000 livepatch relocations to vmlinux symbols (a fifth of them
 * with sympos) and resolve + apply them against a 200,000-symbol kallsyms index built once.
 */
export async function benchElf(): Promise<{ 'elf.resolve_10k_ms': number }> {
  const index = new KallsymsIndex(parseKallsyms(kallsymsText()), (_l, msg) => { throw new Error(msg) })
  const resolver = index.resolver()
  const ko = buildKo({ name: 'livepatch_bench', modinfo: [['livepatch', 'Y']], klpRefs: refs() })
  const opts = { sectionBase: () => 0xffffffffc0a00000n }
  const log = (_l: string, msg: string) => { throw new Error(msg) }
  const times: number[] = []
  for (let i = 0; i < RUNS + 2; i++) {
    const t0 = performance.now()
    const parsed = readKo(ko)
    const ret = klpWriteObjectRelocs(parsed.elf, null, resolver, log, true, opts)
    const dt = performance.now() - t0
    if (ret !== 0) throw new Error(`relocation failed: ${ret}`)
    if (i >= 2) times.push(dt)
  }
  return { 'elf.resolve_10k_ms': Math.round(median(times) * 100) / 100 }
}

if (require.main === module) {
  benchElf().then((r) => console.log(JSON.stringify(r)), (e) => { console.error(e); process.exitCode = 1 })
}
