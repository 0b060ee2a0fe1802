import type { Message } from './message.ts'

/** HashPath of resolving `req` against `base` (§1.8): `<HP(base)>/<key or ID(req)>`, chained with sha-256. */
export function hashpath(_base: Message | string, _req: Message): string {
  throw new Error('not implemented yet')
}
