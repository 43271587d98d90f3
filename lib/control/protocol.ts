// The control channel's wire format: one JSON request and one JSON reply per
// connection, each a single line ended by '\n'.
//
//   request  {"v":1,"type":"<request type>", ...fields of that type}
//   reply    {"ok":true, ...result}  or  {"ok":false,"error":{"code":"...","message":"..."}}
//
// A system call's failure (insmod's -EBUSY) is a result, not an error: errors
// are for requests the daemon could not carry out at all.

export const PROTOCOL_VERSION = 1

/** The largest request the daemon reads: a 64 MiB module file in base64 and some room. */
export const MAX_REQUEST_BYTES = 96 * 1024 * 1024

export type ErrorCode =
  | 'EBADREQ' // not JSON, not an object, wrong version, missing or mistyped field
  | 'ETOOBIG' // the request line is longer than MAX_REQUEST_BYTES
  | 'EUNKNOWN' // no such request type
  | 'EINTERNAL' // the handler failed: a bug in klpsim, reported instead of crashing

export interface ControlRequest {
  v: number
  type: string
  [field: string]: unknown
}

export interface ErrorReply { ok: false, error: { code: ErrorCode, message: string } }
export type SuccessReply<T extends object = Record<string, unknown>> = { ok: true } & T
export type ControlReply<T extends object = Record<string, unknown>> = SuccessReply<T> | ErrorReply

export class BadRequest extends Error {}

export function errorReply (code: ErrorCode, message: string): ErrorReply {
  return { ok: false, error: { code, message } }
}

/** Parses one request line; BadRequest says what is wrong with it. */
export function parseRequest (line: string): ControlRequest {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (e) {
    throw new BadRequest(`request is not JSON: ${(e as Error).message}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadRequest('request is not a JSON object')
  const req = value as Record<string, unknown>
  if (req.v !== PROTOCOL_VERSION) throw new BadRequest(`unsupported protocol version ${JSON.stringify(req.v)} (this daemon speaks ${PROTOCOL_VERSION})`)
  if (typeof req.type !== 'string' || req.type === '') throw new BadRequest('request has no "type"')
  return req as ControlRequest
}

/** Field accessors that turn a mistyped field into a BadRequest. */
export const field = {
  string (req: ControlRequest, name: string): string {
    const v = req[name]
    if (typeof v !== 'string') throw new BadRequest(`"${name}" must be a string`)
    return v
  },
  optionalString (req: ControlRequest, name: string): string | undefined {
    return req[name] === undefined ? undefined : field.string(req, name)
  },
  strings (req: ControlRequest, name: string): string[] {
    const v = req[name] ?? []
    if (!Array.isArray(v) || !v.every(s => typeof s === 'string')) throw new BadRequest(`"${name}" must be an array of strings`)
    return v as string[]
  },
  boolean (req: ControlRequest, name: string): boolean {
    const v = req[name] ?? false
    if (typeof v !== 'boolean') throw new BadRequest(`"${name}" must be true or false`)
    return v
  },
  integer (req: ControlRequest, name: string, min: number, max: number): number | undefined {
    const v = req[name]
    if (v === undefined) return undefined
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new BadRequest(`"${name}" must be an integer in ${min}..${max}`)
    return v
  },
}
