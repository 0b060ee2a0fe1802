import { createHash } from 'node:crypto'
import { DeviceError } from './errors.ts'
import { id } from './id.ts'
import { getOwn, ID_PATTERN, isMessage, isPrivateKey } from './message.ts'
import type { Message } from './message.ts'

/** `hb_path` chaining algorithms: `sha-256-chain` (default) or `accumulate-256`. */
export type HashpathAlg = 'sha-256-chain' | 'accumulate-256'

const TWO_256 = 1n << 256n

function invalid(message: string): DeviceError {
  return new DeviceError('PATH_INVALID', message)
}

function nativeId(humanId: string): Buffer {
  if (ID_PATTERN.test(humanId)) return Buffer.from(humanId, 'base64url')
  throw invalid(`hashpath segment '${humanId.slice(0, 60)}' is not an ID`)
}

/** The HashPath a message carries: `priv.hashpath` when set, else its ID. */
function baseHashpath(base: Message): string {
  const priv = getOwn(base, 'priv')
  if (isMessage(priv)) {
    const carried = getOwn(priv, 'hashpath')
    if (typeof carried === 'string') return carried
  }
  return id(base)
}

/** The request's part: its `path` when that is all it holds, else the request's ID. */
function requestPart(req: Message): string {
  let path: string | undefined
  for (const key of Object.keys(req)) {
    if (isPrivateKey(key) || key === 'hashpath') continue
    const value = req[key]
    if (key !== 'path' || typeof value !== 'string') return id(req)
    path = value
  }
  return path ?? id(req)
}

function chainAlg(base: Message | string): HashpathAlg {
  if (typeof base === 'string') return 'sha-256-chain'
  const alg = getOwn(base, 'hashpath-alg')
  if (alg === undefined || alg === 'sha-256-chain') return 'sha-256-chain'
  if (alg === 'accumulate-256') return alg
  throw new DeviceError(
    'BAD_REQUEST',
    `unknown hashpath-alg ${JSON.stringify(typeof alg === 'string' ? alg : typeof alg)}`,
  )
}

function accumulate(a: Uint8Array, b: Uint8Array): Buffer {
  const sum =
    (BigInt(`0x${Buffer.from(a).toString('hex') || '0'}`) +
      BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`)) %
    TWO_256
  return Buffer.from(sum.toString(16).padStart(64, '0'), 'hex')
}

/**
 * HashPath of resolving `req` against `base` (§1.8): `<HP(base)>/<key or ID(req)>`. A two-segment
 * base HashPath `P1/P2` is first compressed to one ID: `sha256(native(P1) ++ native-or-raw(P2))`.
 * `base` may be a message (its `priv.hashpath`, else its ID) or an existing HashPath string.
 */
export function hashpath(base: Message | string, req: Message): string {
  const previous = typeof base === 'string' ? base : baseHashpath(base)
  const part = requestPart(req)
  const slash = previous.indexOf('/')
  if (slash === -1) {
    nativeId(previous)
    return `${previous}/${part}`
  }
  const head = nativeId(previous.slice(0, slash))
  const tail = previous.slice(slash + 1)
  const tailBytes = ID_PATTERN.test(tail) ? nativeId(tail) : Buffer.from(tail, 'utf8')
  const compressed =
    chainAlg(base) === 'sha-256-chain'
      ? createHash('sha256').update(head).update(tailBytes).digest()
      : accumulate(head, tailBytes)
  return `${compressed.toString('base64url')}/${part}`
}
