/**
 * The `httpsig@1.0` HMAC commitment over a link-mode TABM: HyperBEAM's unsigned message ID
 * (`dev_codec_httpsig:commit/3`, type `hmac-sha256`, keyid `ao`).
 *
 * The TABM becomes HTTP headers and a body (`dev_codec_httpsig_conv:to/3`), the body is replaced by
 * its `content-digest`, and the RFC-9421-style signature base is MACed with the key `"ao"`.
 */
import { createHash, createHmac, createSecretKey, hash } from 'node:crypto'
import { compareBytewise } from './keys.ts'
import { isIdLength } from './message.ts'

/** A TABM whose children are all links: every value is binary. */
export type FlatTABM = Readonly<Record<string, string | Uint8Array>>

/** Values above this many bytes leave the headers for a multipart body part. */
export const MAX_HEADER_LENGTH = 4096

/** A KeyObject made once: HMACs keyed by it start about twice as fast as with a string key. */
const HMAC_KEY = createSecretKey(Buffer.from('ao'))
const SIGNATURE_PARAMS = ';alg="hmac-sha256";keyid="ao"'
const CRLF = '\r\n'
/** RFC-9421 derived components: their names get an `@` in the signature parameters. */
const DERIVED = new Set([
  'method',
  'target-uri',
  'authority',
  'scheme',
  'request-target',
  'path',
  'query',
  'query-param',
])

function fitsHeader(value: string | Uint8Array): boolean {
  if (typeof value !== 'string') return value.byteLength <= MAX_HEADER_LENGTH
  // A UTF-16 code unit is at most 3 UTF-8 bytes: short text needs no byte count.
  return value.length * 3 <= MAX_HEADER_LENGTH || Buffer.byteLength(value) <= MAX_HEADER_LENGTH
}

function isLink(tabm: FlatTABM, key: string): boolean {
  return !Object.hasOwn(tabm, key) && Object.hasOwn(tabm, `${key}+link`)
}

/** Which key is sent as the HTTP body (`inline_key/1`), and whether `ao-body-key` must be added. */
function inlineKey(tabm: FlatTABM): { key: string; announce: boolean } {
  const explicit = tabm['ao-body-key']
  if (explicit !== undefined && Object.hasOwn(tabm, 'ao-body-key')) {
    return {
      key: typeof explicit === 'string' ? explicit : Buffer.from(explicit).toString(),
      announce: false,
    }
  }
  if (Object.hasOwn(tabm, 'body') && !isLink(tabm, 'body')) return { key: 'body', announce: false }
  if (Object.hasOwn(tabm, 'data')) return { key: 'data', announce: true }
  return { key: 'body', announce: false }
}

function headerName(key: string): string {
  return isIdLength(key) ? key : key.toLowerCase()
}

function sfString(value: string | Uint8Array): string {
  const text = typeof value === 'string' ? value : Buffer.from(value).toString('latin1')
  return `"${text.replace(/[\\"]/g, (char) => `\\${char}`)}"`
}

/**
 * The unsigned ID of a link-mode TABM. Components are signed in byte order of their names; HyperBEAM
 * uses Erlang map order, which is the same for up to 32 components (see README "IDs").
 */
export function hmacId(tabm: FlatTABM): string {
  const headers = new Map<string, string | Uint8Array>()
  const bodyParts = new Map<string, string | Uint8Array>()
  const ids: string[] = []
  const inline = inlineKey(tabm)
  if (inline.announce) headers.set('ao-body-key', inline.key)

  for (const key of Object.keys(tabm)) {
    const value = tabm[key] as string | Uint8Array
    const name = headerName(key)
    if (key === 'body' || key === inline.key || !fitsHeader(value)) {
      bodyParts.set(name, value)
    } else if (isIdLength(key)) {
      ids.push(`${key}=${sfString(value)}`)
    } else {
      headers.set(name, value)
    }
  }
  if (ids.length > 0) headers.set('ao-ids', ids.sort(compareBytewise).join(', '))

  let digest: string | undefined
  if (bodyParts.size === 1 && bodyParts.has(inline.key)) {
    digest = hash('sha256', bodyParts.get(inline.key) as string | Uint8Array, 'base64')
  } else if (bodyParts.size > 0) {
    const multipart = multipartDigest(bodyParts, inline.key)
    headers.set('content-type', `multipart/form-data; boundary="${multipart.boundary}"`)
    digest = multipart.digest
  }
  if (digest !== undefined) headers.set('content-digest', `sha-256=:${digest}:`)

  const names = [...headers.keys()].sort(compareBytewise)
  const hmac = createHmac('sha256', HMAC_KEY)
  // Text is batched into one update; binary header values are fed between batches.
  let pending = ''
  let params = '"@signature-params": ('
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string
    const value = headers.get(name) as string | Uint8Array
    if (typeof value === 'string') {
      pending += `"${name}": ${value}\n`
    } else {
      hmac.update(`${pending}"${name}": `)
      hmac.update(value)
      pending = '\n'
    }
    params += `${i === 0 ? '' : ' '}"${DERIVED.has(name) ? '@' : ''}${name}"`
  }
  if (names.length === 0) pending = '\n'
  hmac.update(`${pending}${params})${SIGNATURE_PARAMS}`)
  return hmac.digest('base64url')
}

/**
 * The boundary and `content-digest` of the multipart body, hashed part by part: the body itself is
 * never built, so a large binary costs two SHA-256 passes (boundary, then body) and no copies.
 */
function multipartDigest(
  parts: Map<string, string | Uint8Array>,
  inline: string,
): { boundary: string; digest: string } {
  const names = [...parts.keys()].sort(compareBytewise)
  const heads = names.map((name) => {
    const disposition = name === inline ? 'inline' : `form-data;name="${name}"`
    return `content-disposition: ${disposition}${CRLF}${CRLF}`
  })
  // The boundary is the hash of the parts joined by CRLF.
  const boundaryHash = createHash('sha256')
  for (let i = 0; i < names.length; i++) {
    boundaryHash.update(i === 0 ? (heads[i] as string) : `${CRLF}${heads[i] as string}`)
    boundaryHash.update(parts.get(names[i] as string) as string | Uint8Array)
  }
  const boundary = boundaryHash.digest('base64url')
  const bodyHash = createHash('sha256')
  for (let i = 0; i < names.length; i++) {
    bodyHash.update(`${i === 0 ? '' : CRLF}--${boundary}${CRLF}${heads[i] as string}`)
    bodyHash.update(parts.get(names[i] as string) as string | Uint8Array)
  }
  bodyHash.update(`${CRLF}--${boundary}--`)
  return { boundary, digest: bodyHash.digest('base64') }
}
