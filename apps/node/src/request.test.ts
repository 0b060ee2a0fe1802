import { DeviceError, Float, Link } from '@aonode/core'
import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, encodeResult, errorResponse, requestKeys, type AppRequest } from './app.ts'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const keys = (request: Partial<AppRequest>) =>
  requestKeys(
    request.method ?? 'GET',
    { method: 'GET', url: '/', headers: {}, ...request },
    DEFAULT_LIMITS,
  )

function statusOf(fn: () => unknown): number | undefined {
  try {
    fn()
  } catch (error) {
    if (DeviceError.is(error)) return error.status
    throw error
  }
  return undefined
}

describe('requestKeys', () => {
  it('turns a JSON body into keys (the chapter: -d \'{"Action": "Increment"}\')', () => {
    const message = keys({
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'curl/8', accept: '*/*' },
      body: text('{"Action": "Increment", "Count": 2, "Ratio": 0.5, "Nested": {"A": [1, null]}}'),
    })
    expect(message).toEqual({
      method: 'POST',
      action: 'Increment',
      count: 2,
      ratio: 0.5,
      nested: { a: [1, null] },
    })
  })

  it('keeps a plain text or binary body under `body` with its content type', () => {
    expect(
      keys({ method: 'POST', headers: { 'content-type': 'text/plain' }, body: text('hello') }),
    ).toEqual({
      method: 'POST',
      'content-type': 'text/plain',
      body: 'hello',
    })
    const bytes = new Uint8Array([0, 255, 1])
    const binary = keys({
      method: 'POST',
      headers: { 'content-type': 'application/wasm' },
      body: bytes,
    })
    expect(binary['body']).toEqual(bytes)
  })

  it('reads HyperBEAM header form: headers become keys, typed by ao-types', () => {
    const message = keys({
      headers: {
        action: 'Eval',
        slot: '7',
        ratio: '1',
        'ao-types': 'slot="integer", ratio="float"',
        host: 'localhost',
        'sec-fetch-mode': 'cors',
      },
    })
    expect(message).toEqual({ method: 'GET', action: 'Eval', slot: 7, ratio: new Float(1) })
    expect(statusOf(() => keys({ headers: { slot: 'x', 'ao-types': 'slot="integer"' } }))).toBe(400)
  })

  it('answers 400 naming the problem for malformed JSON and non-object JSON', () => {
    const bad = (body: string) => () =>
      keys({ method: 'POST', headers: { 'content-type': 'application/json' }, body: text(body) })
    expect(bad('{"Action": ')).toThrow(/malformed JSON body/)
    expect(statusOf(bad('{"Action": '))).toBe(400)
    expect(bad('[1, 2]')).toThrow(/malformed JSON body: JSON text is not an object/)
  })

  it('refuses __proto__ and constructor keys wherever a client names them', () => {
    const json = (body: string) => () =>
      keys({ method: 'POST', headers: { 'content-type': 'application/json' }, body: text(body) })
    expect(json('{"__proto__": {"polluted": 1}}')).toThrow(/"__proto__" is not allowed/)
    expect(json('{"a": {"constructor": 1}}')).toThrow(/"constructor" is not allowed/)
    expect(statusOf(json('{"__proto__": 1}'))).toBe(400)
    expect(statusOf(() => keys({ headers: { constructor: 'x' } }))).toBe(400)
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
  })

  it('enforces the body and header limits', () => {
    const limits = { ...DEFAULT_LIMITS, bodyBytes: 4, headers: 2 }
    const req = (r: Partial<AppRequest>): AppRequest => ({
      method: 'POST',
      url: '/',
      headers: {},
      ...r,
    })
    expect(statusOf(() => requestKeys('POST', req({ body: text('12345') }), limits))).toBe(413)
    expect(
      statusOf(() => requestKeys('POST', req({ headers: { a: '1', b: '2', c: '3' } }), limits)),
    ).toBe(431)
  })
})

describe('encodeResult', () => {
  it('answers literals as text and binaries as bytes', () => {
    expect(encodeResult('b')).toMatchObject({ status: 200, body: 'b' })
    expect(encodeResult('b').headers['content-type']).toMatch(/^text\/plain/)
    expect(encodeResult(42).body).toBe('42')
    expect(encodeResult(new Link('x'.repeat(43))).body).toBe('x'.repeat(43))
    expect(encodeResult(new Uint8Array([1, 2])).headers['content-type']).toBe(
      'application/octet-stream',
    )
  })

  it('answers messages as JSON with nested messages inline and status from the message', () => {
    const response = encodeResult({
      status: 201,
      process: 'P'.repeat(43),
      slot: 3,
      inner: { a: 1 },
    })
    expect(response.status).toBe(201)
    expect(response.headers['content-type']).toBe('application/json')
    expect(response.headers['process']).toBe('P'.repeat(43))
    expect(response.headers['slot']).toBe('3')
    expect(JSON.parse(response.body as string)).toEqual({
      status: 201,
      process: 'P'.repeat(43),
      slot: 3,
      inner: { a: 1 },
    })
  })
})

describe('result keys as response headers', () => {
  it('never lets a result set CORS, content or cookie headers, and caps how many it sets', () => {
    const many: Record<string, number> = {}
    for (let i = 0; i < 100; i++) many[`k${i}`] = i
    const response = encodeResult({
      'access-control-allow-origin': 'https://evil.example',
      'content-type': 'text/html',
      'set-cookie': 'a=b',
      location: 'https://evil.example',
      'bad value': 'x',
      multiline: 'a\r\nx-injected: 1',
      ...many,
    })
    expect(response.headers['content-type']).toBe('application/json')
    for (const name of ['access-control-allow-origin', 'set-cookie', 'location', 'multiline']) {
      expect(response.headers).not.toHaveProperty(name)
    }
    expect(Object.keys(response.headers).length).toBeLessThanOrEqual(33)
  })

  it('ignores status values that are not final HTTP statuses', () => {
    expect(encodeResult({ status: 101 }).status).toBe(200)
    expect(encodeResult({ status: 404 }).status).toBe(404)
  })
})

describe('errorResponse', () => {
  it('is a JSON {error, status, device?, key?} without stack traces', () => {
    const response = errorResponse(
      new DeviceError('DEVICE_KEY_NOT_FOUND', 'no key "x" on lua@5.3a', {
        device: 'lua@5.3a',
        key: 'x',
      }),
    )
    expect(response.status).toBe(404)
    expect(JSON.parse(response.body as string)).toEqual({
      error: 'no key "x" on lua@5.3a',
      status: 404,
      device: 'lua@5.3a',
      key: 'x',
    })
    const internal = errorResponse(new Error('secret at /home/x.ts:1'))
    expect(internal.status).toBe(500)
    expect(internal.body).not.toContain('secret')
  })
})

describe('JSON bodies and answers keep AO types (json@1.0)', () => {
  it('reads 1.0 as a float and 1 as an integer', () => {
    const message = keys({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: text('{"f": 1.0, "i": 1}'),
    })
    expect(message['f']).toEqual(new Float(1))
    expect(message['i']).toBe(1)
  })

  it('writes lists and nested messages as JSON', () => {
    expect(JSON.parse(encodeResult(['a', { b: 1 }]).body as string)).toEqual(['a', { b: 1 }])
    expect(encodeResult({ f: new Float(2) }).body).toBe('{"f":2.0}')
  })
})
