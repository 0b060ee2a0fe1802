/**
 * The `httpsig@1.0` HMAC commitment over a link-mode TABM: HyperBEAM's unsigned message ID
 * (`dev_codec_httpsig:commit/3`, type `hmac-sha256`, keyid `ao`).
 *
 * The TABM becomes HTTP headers and a body (`dev_codec_httpsig_conv:to/3`), the body is replaced by
 * its `content-digest`, and the RFC-9421-style signature base is MACed with the key `"ao"`.
 */
import { createHash, hash } from 'node:crypto'
import { compareBytewise } from './keys.ts'
import { isIdLength } from './message.ts'

/** A TABM whose children are all links: every value is binary. */
export type FlatTABM = Readonly<Record<string, string | Uint8Array>>

/** Values above this many bytes leave the headers for a multipart body part. */
export const MAX_HEADER_LENGTH = 4096

/**
 * HMAC-SHA256 with the key `"ao"` as two one-shot SHA-256 calls (RFC 2104:
 * `H((K ^ opad) || H((K ^ ipad) || m))`): about half the cost of `createHmac` per ID. Both padded
 * keys are ASCII, so the inner one prefixes the signature base as text.
 */
const HMAC_KEY = 'ao'
const padKey = (pad: number): string =>
  Array.from({ length: 64 }, (_, i) =>
    String.fromCharCode((HMAC_KEY.charCodeAt(i) || 0) ^ pad),
  ).join('')
const INNER_PAD = padKey(0x36)
/** The outer padded key followed by room for the inner digest; reused (IDs are synchronous). */
const OUTER_BLOCK = Buffer.from(`${padKey(0x5c)}${'\0'.repeat(32)}`, 'latin1')

/** The digest of an empty body (an empty `data` is common in process results). */
const EMPTY_DIGEST = hash('sha256', '', 'base64')
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

function headerName(key: string): string {
  return isIdLength(key) ? key : key.toLowerCase()
}

function sfString(value: string | Uint8Array): string {
  const text = typeof value === 'string' ? value : Buffer.from(value).toString('latin1')
  return `"${text.replace(/[\\"]/g, (char) => `\\${char}`)}"`
}

/**
 * Indices of `names` in byte order of the names; of equal names only the last one (a later
 * header of the same name replaces an earlier one).
 */
function sortedLast(names: readonly string[]): number[] {
  const order: number[] = []
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string
    let at = order.length
    while (at > 0 && compareBytewise(names[order[at - 1] as number] as string, name) > 0) at--
    if (at > 0 && names[order[at - 1] as number] === name) {
      order[at - 1] = i
    } else {
      // Insertion sort: the lists are short, and Array#splice costs more than the shifts.
      for (let j = order.length; j > at; j--) order[j] = order[j - 1] as number
      order[at] = i
    }
  }
  return order
}

/** The unsigned ID of a link-mode TABM: `hmacIdOf` over its keys and values. */
export function hmacId(tabm: FlatTABM): string {
  return hmacIdOf(Object.keys(tabm), Object.values(tabm))
}

/**
 * The unsigned ID of one link-mode TABM level given as parallel keys and values (in the TABM's
 * key order; keys unique). Components are signed in byte order of their names; HyperBEAM uses
 * Erlang map order, which is the same for up to 32 components (see README "IDs").
 */
export function hmacIdOf(
  keys: readonly string[],
  values: readonly (string | Uint8Array)[],
): string {
  // Which key is sent as the HTTP body (`inline_key/1`), and whether `ao-body-key` must be added.
  let bodyKey: string | Uint8Array | undefined
  let hasBody = false
  let hasData = false
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]
    if (key === 'ao-body-key') bodyKey = values[i]
    else if (key === 'body') hasBody = true
    else if (key === 'data') hasData = true
  }
  const announce = bodyKey === undefined && !hasBody && hasData
  const inline =
    bodyKey === undefined
      ? announce
        ? 'data'
        : 'body'
      : typeof bodyKey === 'string'
        ? bodyKey
        : Buffer.from(bodyKey).toString()

  const names: string[] = []
  const headers: (string | Uint8Array)[] = []
  const partNames: string[] = []
  const parts: (string | Uint8Array)[] = []
  let ids: string[] | undefined
  if (announce) {
    names.push('ao-body-key')
    headers.push(inline)
  }
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string
    const value = values[i] as string | Uint8Array
    if (key === 'body' || key === inline || !fitsHeader(value)) {
      partNames.push(headerName(key))
      parts.push(value)
    } else if (isIdLength(key)) {
      ;(ids ??= []).push(`${key}=${sfString(value)}`)
    } else {
      names.push(key.toLowerCase())
      headers.push(value)
    }
  }
  if (ids !== undefined) {
    names.push('ao-ids')
    headers.push(ids.sort(compareBytewise).join(', '))
  }
  if (parts.length > 0) {
    const order = sortedLast(partNames)
    const only = order.length === 1 ? (order[0] as number) : -1
    let digest: string
    if (only >= 0 && partNames[only] === inline) {
      const body = parts[only] as string | Uint8Array
      digest = body.length === 0 ? EMPTY_DIGEST : hash('sha256', body, 'base64')
    } else {
      const multipart = multipartDigest(partNames, parts, order, inline)
      names.push('content-type')
      headers.push(`multipart/form-data; boundary="${multipart.boundary}"`)
      digest = multipart.digest
    }
    names.push('content-digest')
    headers.push(`sha-256=:${digest}:`)
  }
  return signatureBaseMac(names, headers, sortedLast(names))
}

/** The HMAC of the signature base of `headers` (taken in `order`), base64url. */
function signatureBaseMac(
  names: readonly string[],
  headers: readonly (string | Uint8Array)[],
  order: readonly number[],
): string {
  // Text is built as one string; a binary header value splits it into chunks.
  let chunks: (string | Uint8Array)[] | undefined
  let base = INNER_PAD
  let params = '"@signature-params": ('
  for (let j = 0; j < order.length; j++) {
    const i = order[j] as number
    const name = names[i] as string
    const value = headers[i] as string | Uint8Array
    if (typeof value === 'string') {
      base += `"${name}": ${value}\n`
    } else {
      ;(chunks ??= []).push(`${base}"${name}": `, value)
      base = '\n'
    }
    params += `${j === 0 ? '' : ' '}"${DERIVED.has(name) ? '@' : ''}${name}"`
  }
  if (order.length === 0) base += '\n'
  base += `${params})${SIGNATURE_PARAMS}`
  const inner =
    chunks === undefined
      ? hash('sha256', base, 'binary')
      : hash(
          'sha256',
          Buffer.concat(
            [...chunks, base].map((chunk) =>
              typeof chunk === 'string' ? Buffer.from(chunk) : chunk,
            ),
          ),
          'binary',
        )
  OUTER_BLOCK.write(inner, 64, 'latin1')
  return hash('sha256', OUTER_BLOCK, 'base64url')
}

/**
 * The boundary and `content-digest` of the multipart body, hashed part by part: the body itself is
 * never built, so a large binary costs two SHA-256 passes (boundary, then body) and no copies.
 */
function multipartDigest(
  names: readonly string[],
  parts: readonly (string | Uint8Array)[],
  order: readonly number[],
  inline: string,
): { boundary: string; digest: string } {
  const heads = order.map((i) => {
    const name = names[i] as string
    const disposition = name === inline ? 'inline' : `form-data;name="${name}"`
    return `content-disposition: ${disposition}${CRLF}${CRLF}`
  })
  // The boundary is the hash of the parts joined by CRLF.
  const boundaryHash = createHash('sha256')
  for (let j = 0; j < order.length; j++) {
    boundaryHash.update(j === 0 ? (heads[j] as string) : `${CRLF}${heads[j] as string}`)
    boundaryHash.update(parts[order[j] as number] as string | Uint8Array)
  }
  const boundary = boundaryHash.digest('base64url')
  const bodyHash = createHash('sha256')
  for (let j = 0; j < order.length; j++) {
    bodyHash.update(`${j === 0 ? '' : CRLF}--${boundary}${CRLF}${heads[j] as string}`)
    bodyHash.update(parts[order[j] as number] as string | Uint8Array)
  }
  bodyHash.update(`${CRLF}--${boundary}--`)
  return { boundary, digest: bodyHash.digest('base64') }
}
