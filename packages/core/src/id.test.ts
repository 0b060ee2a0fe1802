import { createHash, createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { DeviceError } from './errors.ts'
import { id, tabmId } from './id.ts'
import { toTABM } from './structured.ts'
import { Float, Link, Live } from './message.ts'
import type { Message, Value } from './message.ts'

/**
 * The vectors' typed JSON: {"int": n} integer, {"float": x} float, {"atom": "true"} atom,
 * {"repeat": ["x", n]} a long string; anything else is plain (strings, messages, lists).
 */
type Typed = string | number | boolean | null | Typed[] | { [key: string]: Typed }

function fromTyped(value: Typed): Value {
  if (Array.isArray(value)) return value.map(fromTyped)
  if (value === null || typeof value !== 'object') return value
  const keys = Object.keys(value)
  const only = keys.length === 1 ? keys[0] : undefined
  const inner = only === undefined ? undefined : value[only]
  if (only === 'int' && typeof inner === 'number') return inner
  if (only === 'float' && typeof inner === 'number') {
    return Number.isInteger(inner) ? new Float(inner) : inner
  }
  if (only === 'atom' && typeof inner === 'string') {
    return inner === 'true' ? true : inner === 'false' ? false : null
  }
  if (only === 'repeat' && Array.isArray(inner)) {
    return (inner[0] as string).repeat(inner[1] as number)
  }
  return Object.fromEntries(keys.map((key) => [key, fromTyped(value[key] as Typed)]))
}

const golden = JSON.parse(
  readFileSync(new URL('./fixtures/ids.json', import.meta.url), 'utf8'),
) as { ids: { message: Typed; id: string }[] }

describe('id (golden vectors from HyperBEAM)', () => {
  it.each(
    golden.ids.map((vector) => [JSON.stringify(vector.message).slice(0, 70), vector] as const),
  )('%s', (_label, vector) => {
    expect(id(fromTyped(vector.message) as Message)).toBe(vector.id)
  })

  it('id({a: "b"}) is the documented value', () => {
    expect(id({ a: 'b' })).toBe('UfSqKA58Hwk99Jg5fsYGY4iKDfnnUAW9MQdMv2-Fw40')
  })
})

const hmac = (base: string | Buffer): string =>
  createHmac('sha256', 'ao').update(base).digest('base64url')

describe('id signature base (spec §1.9 and §3.4)', () => {
  it('is the HMAC of the reference base for {a: 1}', () => {
    const base =
      '"a": 1\n"ao-types": a="integer"\n"@signature-params": ("a" "ao-types");alg="hmac-sha256";keyid="ao"'
    expect(id({ a: 1 })).toBe(hmac(base))
  })

  it('signs an inline body plus a large value as multipart/form-data', () => {
    const large = 'x'.repeat(5000)
    const parts = [
      'content-disposition: inline\r\n\r\nhello',
      `content-disposition: form-data;name="c"\r\n\r\n${large}`,
    ]
    const boundary = createHash('sha256').update(parts.join('\r\n')).digest('base64url')
    const body = `${parts.map((part) => `--${boundary}\r\n${part}`).join('\r\n')}\r\n--${boundary}--`
    const digest = createHash('sha256').update(body).digest('base64')
    const base = [
      '"a": 1',
      '"ao-types": a="integer"',
      `"content-digest": sha-256=:${digest}:`,
      `"content-type": multipart/form-data; boundary="${boundary}"`,
      '"@signature-params": ("a" "ao-types" "content-digest" "content-type");alg="hmac-sha256";keyid="ao"',
    ].join('\n')
    expect(id({ a: 1, body: 'hello', c: large })).toBe(hmac(base))
  })

  it('signs large binary parts (any bytes) as the digest of the assembled multipart body', () => {
    const code = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 131 + 7) % 256)
    const image = Uint8Array.from({ length: 5000 }, (_, i) => 255 - (i % 256))
    const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8')
    const parts = [
      Buffer.concat([utf8('content-disposition: form-data;name="code"\r\n\r\n'), code]),
      Buffer.concat([utf8('content-disposition: form-data;name="image"\r\n\r\n'), image]),
    ]
    const boundary = createHash('sha256')
      .update(Buffer.concat([parts[0] as Buffer, utf8('\r\n'), parts[1] as Buffer]))
      .digest('base64url')
    const body = Buffer.concat([
      utf8(`--${boundary}\r\n`),
      parts[0] as Buffer,
      utf8(`\r\n--${boundary}\r\n`),
      parts[1] as Buffer,
      utf8(`\r\n--${boundary}--`),
    ])
    const digest = createHash('sha256').update(body).digest('base64')
    const base = [
      `"content-digest": sha-256=:${digest}:`,
      `"content-type": multipart/form-data; boundary="${boundary}"`,
      '"type": Module',
      '"@signature-params": ("content-digest" "content-type" "type");alg="hmac-sha256";keyid="ao"',
    ].join('\n')
    expect(id({ type: 'Module', code, image })).toBe(hmac(base))
  })

  it('marks derived components such as path with @ in the parameters only', () => {
    const base = '"path": x\n"@signature-params": ("@path");alg="hmac-sha256";keyid="ao"'
    expect(id({ path: 'x' })).toBe(hmac(base))
  })
})

describe('id properties', () => {
  it('is a 43-character base64url string', () => {
    expect(id({ x: 1, y: [1, 2], z: { w: null } })).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('ignores private keys and key order', () => {
    expect(id({ b: 2, a: 1, private: 'x', priv: { hashpath: 'p' } })).toBe(id({ a: 1, b: 2 }))
  })

  it('distinguishes types: integer, text, float, atom', () => {
    const ids = new Set([id({ a: 1 }), id({ a: '1' }), id({ a: new Float(1) }), id({ a: true })])
    expect(ids.size).toBe(4)
  })

  it('treats text and binary with the same bytes as the same value', () => {
    expect(id({ a: new TextEncoder().encode('héllo') })).toBe(id({ a: 'héllo' }))
  })

  it('identifies a nested message through its link: a Link to its ID gives the same ID', () => {
    const child = { b: 'c', n: 5 }
    expect(id({ a: new Link(id(child)) })).toBe(id({ a: child }))
  })

  it('tabmId of a link-mode TABM and of each of its children is the message ID', () => {
    const child = { b: 'c', deeper: { n: 5 } }
    const message = { a: 1, child, list: [1, { x: 'y' }] }
    const { tabm, children } = toTABM(message)
    expect(tabmId(tabm)).toBe(id(message))
    const childTABM = children.get(id(child))
    expect(childTABM).toBeDefined()
    expect(tabmId(childTABM as NonNullable<typeof childTABM>)).toBe(id(child))
    for (const [childId, childOf] of children) expect(tabmId(childOf)).toBe(childId)
  })

  it('a bigint and the same safe integer as a number have the same ID', () => {
    expect(id({ a: 42n })).toBe(id({ a: 42 }))
  })

  it('changes when any value changes, including inside large multipart values', () => {
    const large = 'x'.repeat(5000)
    expect(id({ a: large, b: 'y' })).not.toBe(id({ a: `${large}!`, b: 'y' }))
    expect(id({ a: large })).not.toBe(id({ a: large, b: 'y' }))
  })

  it('puts data in the body and announces it, unless body exists', () => {
    expect(id({ data: 'x' })).not.toBe(id({ body: 'x' }))
    expect(id({ body: 'x', data: 'y' })).not.toBe(id({ body: 'x', data: 'z' }))
  })

  it('rejects a Live value outside private keys', () => {
    expect(() => id({ a: new Live({}) })).toThrow(DeviceError)
    expect(id({ a: 'b', priv: { live: new Live({}) } })).toBe(id({ a: 'b' }))
  })
})
