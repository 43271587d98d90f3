// Reading a module file the way kmod does before it hands it to the kernel:
// errors as errno values, the size capped.
import { promises as fsp } from 'node:fs'
import { EFBIG, EINVAL, EIO } from '../kobject/errno'
import { errnoFromName } from '../kobject/errno'
import { MAX_MODULE_FILE } from '../module-file'

export type ReadResult = { data: Buffer } | { stage: 'open' | 'read', errno: number }

function errnoOfNode (e: unknown): number {
  return errnoFromName(String((e as NodeJS.ErrnoException).code ?? '')) ?? EIO
}

/**
 * 'open' errors are kmod's (the file cannot be used at all: missing, a
 * dangling path), 'read' errors what the kernel answers for the descriptor
 * (not a regular file: EINVAL; too large: EFBIG).
 */
export async function readModuleFileFrom (path: string): Promise<ReadResult> {
  let st
  try {
    st = await fsp.stat(path)
  } catch (e) {
    return { stage: 'open', errno: errnoOfNode(e) }
  }
  if (!st.isFile()) return { stage: 'read', errno: EINVAL }
  if (st.size > MAX_MODULE_FILE) return { stage: 'read', errno: EFBIG }
  try {
    const data = await fsp.readFile(path)
    if (data.length > MAX_MODULE_FILE) return { stage: 'read', errno: EFBIG }
    return { data }
  } catch (e) {
    return { stage: 'read', errno: errnoOfNode(e) }
  }
}
