import { createHash, createHmac } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { key, leaf, message, messageOf } from './fixtures/arbitrary-message.ts'
import { hmacId } from './httpsig.ts'
import type { FlatTABM } from './httpsig.ts'
import { id, idTree, tabmId } from './id.ts'
import { compareBytewise, setOwn } from './keys.ts'
import { Float, isIdLength, isMessage, Link } from './message.ts'
import type { Message, Value } from './message.ts'
import { toTABM } from './structured.ts'
import type { TABM, TABMValue } from './structured.ts'

const RUNS = 10_000

/**
 * The oracle: the signer before the fused ID path (a Map of headers, createHmac), applied to the
 * bundle-mode TABM with each nested TABM replaced by its link. Independent of `hmacIdOf`.
 */
function oracleId(tabm: TABM): string {
  const flat: Record<string, string | Uint8Array> = {}
  for (const k of Object.keys(tabm)) {
    const value = tabm[k] as TABMValue
    if (typeof value === 'string' || value instanceof Uint8Array) setOwn(flat, k, value)
    else setOwn(flat, `${k}+link`, oracleId(value))
  }
  return oracleSign(flat)
}

const DERIVED = [
  'method',
  'target-uri',
  'authority',
  'scheme',
  'request-target',
  'path',
  'query',
  'query-param',
]
const fits = (value: string | Uint8Array): boolean =>
  (typeof value === 'string' ? Buffer.byteLength(value) : value.byteLength) <= 4096

function oracleSign(tabm: FlatTABM): string {
  const has = (k: string): boolean => Object.hasOwn(tabm, k)
  const text = (value: string | Uint8Array): string =>
    typeof value === 'string' ? value : Buffer.from(value).toString()
  const announce = !has('ao-body-key') && !has('body') && has('data')
  const inline = has('ao-body-key')
    ? text(tabm['ao-body-key'] as string | Uint8Array)
    : announce
      ? 'data'
      : 'body'
  const headers = new Map<string, string | Uint8Array>()
  const parts = new Map<string, string | Uint8Array>()
  const ids: string[] = []
  if (announce) headers.set('ao-body-key', inline)
  for (const k of Object.keys(tabm)) {
    const value = tabm[k] as string | Uint8Array
    const name = isIdLength(k) ? k : k.toLowerCase()
    if (k === 'body' || k === inline || !fits(value)) parts.set(name, value)
    else if (isIdLength(k)) {
      const latin = typeof value === 'string' ? value : Buffer.from(value).toString('latin1')
      ids.push(`${k}="${latin.replace(/[\\"]/g, (c) => `\\${c}`)}"`)
    } else headers.set(name, value)
  }
  if (ids.length > 0) headers.set('ao-ids', ids.sort(compareBytewise).join(', '))
  const bytes = (value: string | Uint8Array): Buffer =>
    typeof value === 'string' ? Buffer.from(value) : Buffer.from(value)
  if (parts.size === 1 && parts.has(inline)) {
    const digest = createHash('sha256')
      .update(bytes(parts.get(inline) as string | Uint8Array))
      .digest('base64')
    headers.set('content-digest', `sha-256=:${digest}:`)
  } else if (parts.size > 0) {
    const names = [...parts.keys()].sort(compareBytewise)
    const blocks = names.map((name) =>
      Buffer.concat([
        Buffer.from(
          `content-disposition: ${name === inline ? 'inline' : `form-data;name="${name}"`}\r\n\r\n`,
        ),
        bytes(parts.get(name) as string | Uint8Array),
      ]),
    )
    const crlf = Buffer.from('\r\n')
    const joined = Buffer.concat(blocks.flatMap((block, i) => (i === 0 ? [block] : [crlf, block])))
    const boundary = createHash('sha256').update(joined).digest('base64url')
    const body = Buffer.concat([
      ...blocks.flatMap((block, i) => [
        Buffer.from(`${i === 0 ? '' : '\r\n'}--${boundary}\r\n`),
        block,
      ]),
      Buffer.from(`\r\n--${boundary}--`),
    ])
    headers.set('content-type', `multipart/form-data; boundary="${boundary}"`)
    headers.set('content-digest', `sha-256=:${createHash('sha256').update(body).digest('base64')}:`)
  }
  const names = [...headers.keys()].sort(compareBytewise)
  const lines = names.map((name) =>
    Buffer.concat([Buffer.from(`"${name}": `), bytes(headers.get(name) as string | Uint8Array)]),
  )
  const params = names.map((name) => `"${DERIVED.includes(name) ? '@' : ''}${name}"`).join(' ')
  const base = Buffer.concat([
    ...lines.flatMap((line) => [line, Buffer.from('\n')]),
    Buffer.from(names.length === 0 ? '\n' : ''),
    Buffer.from(`"@signature-params": (${params});alg="hmac-sha256";keyid="ao"`),
  ])
  return createHmac('sha256', 'ao').update(base).digest('base64url')
}

const oracle = (value: Message | readonly Value[]): string =>
  oracleId(toTABM(value, { bundle: true }).tabm)

/** Every nested message and list of `value`, at any depth. */
function nestedOf(value: Message | readonly Value[], out: (Message | readonly Value[])[] = []) {
  for (const child of Array.isArray(value) ? value : Object.values(value as Message)) {
    if (Array.isArray(child) || isMessage(child)) {
      out.push(child as Message | readonly Value[])
      nestedOf(child as Message | readonly Value[], out)
    }
  }
  return out
}

/** Keys that steer the header layout: body selection, derived components, computed headers. */
const layoutKey = fc.oneof(
  key,
  fc.constantFrom(
    'body',
    'data',
    'ao-body-key',
    'Ao-Body-Key',
    'path',
    'Path',
    'ao-ids',
    'AO-TYPES',
    'content-type',
    'content-digest',
    'ü',
    'İ',
    '\u{1F600}',
    '\uE000',
    'k'.repeat(43),
    'K'.repeat(43),
    'x'.repeat(42),
    'y'.repeat(32),
  ),
)
/** Leaves plus empty and large values: text and binaries over 4096 bytes leave the headers. */
const layoutLeaf = fc.oneof(
  leaf,
  fc.constantFrom<Value>('', new Uint8Array(0), 'body', 'data', 'path', {}, []),
  fc.nat({ max: 3 }).map((n) => 'é'.repeat(1360 + n)),
  fc.integer({ min: 4090, max: 4100 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 4090, max: 4100 }).map((n) => Uint8Array.from({ length: n }, (_, i) => i)),
)

describe('id: the fused path equals the TABM path', () => {
  it(`gives the oracle's ID for ${RUNS} random messages and their nested messages`, () => {
    fc.assert(
      fc.property(message, (input) => {
        expect(id(input)).toBe(oracle(input))
        expect(tabmId(toTABM(input).tabm)).toBe(id(input))
      }),
      { numRuns: RUNS },
    )
  })

  it('gives the oracle ID for messages built to hit every header layout', () => {
    fc.assert(
      fc.property(messageOf(layoutKey, layoutLeaf), (input) => {
        expect(id(input)).toBe(oracle(input))
        expect(hmacId(toTABM(input).tabm as FlatTABM)).toBe(id(input))
      }),
      { numRuns: 3_000 },
    )
  })

  it('handles the edge values by name', () => {
    const proto: Record<string, Value> = {}
    setOwn(proto, '__proto__', { inner: 1 })
    const cases: (Message | readonly Value[])[] = [
      {},
      [],
      [[], {}],
      { e: {}, l: [], s: '', b: new Uint8Array(0) },
      proto,
      { ключ: 'значение', '🔑': 1.5, Ä: new Float(2) },
      { big: 2n ** 70n, neg: -(2n ** 64n), max: Number.MAX_SAFE_INTEGER, f: 0.1, nz: -0 },
      { link: new Link('a'.repeat(43)), list: [new Link('b'.repeat(43))] },
      { body: new Uint8Array(5000).fill(7), data: 'x'.repeat(5000), other: 'y'.repeat(4097) },
      { data: 'x'.repeat(4097) },
      { 'ao-body-key': 'payload', payload: 'p', body: 'b' },
      { [`${'k'.repeat(43)}`]: 'a "quoted" \\ value', path: '/x', Path: 'y' },
    ]
    for (const input of cases) expect(id(input)).toBe(oracle(input))
  })

  it('drops private keys in any case, and only those', () => {
    const withPrivate = { Priv: 1, 'PRIVATE-x': { y: 1 }, privy: [2], p: 'kept', pri: 3 }
    expect(id(withPrivate)).toBe(id({ p: 'kept', pri: 3 }))
    expect(idTree(withPrivate).id).toBe(id({ p: 'kept', pri: 3 }))
  })
})

describe('idTree', () => {
  it('gives the root ID and the ID of every nested message and list', () => {
    fc.assert(
      fc.property(message, (input) => {
        const tree = idTree(input)
        expect(tree.id).toBe(id(input))
        for (const child of nestedOf(input)) expect(tree.idOf(child)).toBe(id(child))
      }),
      { numRuns: 2_000 },
    )
  })

  it('knows nothing of values outside the tree', () => {
    const child = { a: 1 }
    expect(idTree({ child }).idOf({ a: 1 })).toBeUndefined()
    expect(idTree({ child }).idOf(child)).toBe(id(child))
  })
})
