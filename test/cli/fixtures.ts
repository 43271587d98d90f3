// Module sources the CLI tests build with `klpsim build`.
import { promises as fsp } from 'node:fs'
import { join } from 'node:path'

export const PARAMS_DEMO = `import { defineModule } from 'klpsim'

export default defineModule({
  name: 'params_demo',
  license: 'GPL',
  description: 'parameters of every kind',
  params: {
    flag: { type: 'bool', mode: 0o644, default: false, description: 'a bool' },
    level: { type: 'int', mode: 0o644, default: 3, description: 'an int' },
    small: { type: 'byte', mode: 0o444, default: 0 },
    label: { type: 'charp', mode: 0o644, default: 'none' },
  },
  init: (ctx) => {
    const p = ctx.module.params
    ctx.module.pr_info('flag=%s level=%d small=%d label=%s', p.flag ? 'Y' : 'N', p.level, p.small, p.label)
  },
  exit: () => {},
})
`

/** A module with an init and no exit: the kernel refuses to unload it (delete_module: EBUSY). */
export const PERMANENT = `import { defineModule } from 'klpsim'
export default defineModule({ name: 'permanent_mod', init: () => 0, permanent: true })
`

export const DEP_BASE = `import { defineModule } from 'klpsim'
export default defineModule({ name: 'dep_base', init: () => 0, exit: () => {} })
`

export const DEP_USER = `import { defineModule } from 'klpsim'
export default defineModule({ name: 'dep_user', depends: ['dep_base'], init: () => 0, exit: () => {} })
`

/** A livepatch whose init throws: contained like an oops, insmod fails. */
export const THROWS = `import { defineModule } from 'klpsim'
export default defineModule({ name: 'throws_mod', init: () => { throw new Error('boom') }, exit: () => {} })
`

export async function writeSources (dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) await fsp.writeFile(join(dir, name), text)
}
