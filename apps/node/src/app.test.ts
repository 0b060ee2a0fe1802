import { createRegistry, createResolver, defineDevice, DeviceError } from '@aonode/core'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { createApp, encodeResult, type AppRequest } from './app.ts'
import { createMetaDevice } from './meta.ts'
import { createMetrics } from './metrics.ts'

const ID = /^[A-Za-z0-9_-]{43}$/

/** A device that echoes what the HTTP layer handed it, and one slow key for the timeout. */
const echo = defineDevice({
  info: { name: 'echo@1.0', core: '^0.1.0' },
  keys: {
    keys: (_base, req) => ({ ...req }),
    slow: () => new Promise((resolve) => setTimeout(() => resolve('late'), 500)),
    fail: () => {
      throw new Error('secret detail at /srv/app.ts:12')
    },
    teapot: () => {
      throw new DeviceError('TEAPOT', 'short and stout', {
        status: 418,
        device: 'echo@1.0',
        key: 'teapot',
      })
    },
    created: () => ({ status: 201, id: 'x' }),
  },
})

function setup(limits = {}) {
  const metrics = createMetrics()
  const info = () => ({
    address: 'A'.repeat(43),
    version: '0.1.0',
    devices: { 'echo@1.0': 'embedded' },
    store: 'none',
  })
  const registry = createRegistry([echo, createMetaDevice('0.1.0', info, metrics)])
  const resolver = createResolver({ registry })
  const app = createApp({ resolver, log: pino({ level: 'silent' }), metrics, limits })
  const call = async (url: string, init: Partial<AppRequest> = {}) => {
    const response = await app.handle({ method: 'GET', url, headers: {}, ...init })
    const text =
      typeof response.body === 'string' ? response.body : new TextDecoder().decode(response.body)
    return { ...response, text, json: () => JSON.parse(text) as Record<string, unknown> }
  }
  return { app, metrics, call }
}

describe('app.handle (no sockets)', () => {
  it('answers message@1.0 HyperPATHs: a literal as text, an ID, a message as JSON', async () => {
    const { call } = setup()
    const a = await call('/~message@1.0&a=b/a')
    expect(a.status).toBe(200)
    expect(a.headers['content-type']).toMatch(/^text\/plain/)
    expect(a.text).toBe('b')
    expect((await call('/~message@1.0&a=b/id')).text).toMatch(ID)
    const message = await call('/~message@1.0&a=b&n+integer=3')
    expect(message.headers['content-type']).toBe('application/json')
    expect(message.json()).toMatchObject({ a: 'b', n: 3 })
  })

  it('hands the body and header-form keys to the device in every step', async () => {
    const { call } = setup()
    const result = await call('/~echo@1.0/keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-app': 'demo', 'user-agent': 'curl' },
      body: new TextEncoder().encode('{"Action": "Increment"}'),
    })
    expect(result.status).toBe(200)
    expect(result.json()).toMatchObject({ method: 'POST', action: 'Increment', 'x-app': 'demo' })
    expect(result.json()).not.toHaveProperty('user-agent')
  })

  it('answers the meta@1.0 info and the address as text', async () => {
    const { call } = setup()
    expect((await call('/~meta@1.0/info')).json()).toEqual({
      address: 'A'.repeat(43),
      version: '0.1.0',
      devices: { 'echo@1.0': 'embedded' },
      store: 'none',
    })
    expect((await call('/~meta@1.0/info/address')).text).toBe('A'.repeat(43))
  })

  it('takes the status from the result message or the error', async () => {
    const { call } = setup()
    expect((await call('/~echo@1.0/created')).status).toBe(201)
    const teapot = await call('/~echo@1.0/teapot')
    expect(teapot.status).toBe(418)
    expect(teapot.json()).toEqual({
      error: 'short and stout',
      status: 418,
      device: 'echo@1.0',
      key: 'teapot',
    })
  })

  it('answers unknown devices and keys with 404 naming them', async () => {
    const { call } = setup()
    const device = await call('/~nosuch@1.0/x')
    expect(device.status).toBe(404)
    expect(device.json()['error']).toContain('nosuch@1.0')
    for (const key of ['__proto__', 'constructor', 'missing']) {
      const response = await call(`/~message@1.0&a=b/${key}`)
      expect(response.status).toBe(404)
      expect(response.json()['error']).toContain(key)
    }
  })

  it('answers path syntax errors with 400: long segments, unbalanced parentheses', async () => {
    const { call } = setup()
    expect((await call(`/~message@1.0&a=b/${'k'.repeat(600)}`)).status).toBe(400)
    expect((await call('/~message@1.0&a=b/(a')).status).toBe(400)
    expect((await call('/a)/b')).status).toBe(400)
  })

  it('hides internal errors behind a 500 without details', async () => {
    const { call } = setup()
    const response = await call('/~echo@1.0/fail')
    expect(response.status).toBe(500)
    expect(response.json()).toEqual({
      error: 'device failed',
      status: 500,
      device: 'echo@1.0',
      key: 'fail',
    })
    expect(response.text).not.toContain('secret')
  })

  it('times out slow requests with 504', async () => {
    const { call } = setup({ requestTimeoutMs: 50 })
    const response = await call('/~echo@1.0/slow')
    expect(response.status).toBe(504)
    expect(response.json()['error']).toMatch(/longer than 50 ms/)
  })

  it('redirects / to the node info, answers CORS preflight and refuses long URLs', async () => {
    const { call } = setup({ urlBytes: 100 })
    const root = await call('/')
    expect(root.status).toBe(302)
    expect(root.headers['location']).toBe('/~meta@1.0/info')
    const preflight = await call('/~message@1.0/a', { method: 'OPTIONS' })
    expect(preflight.status).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe('*')
    expect((await call(`/~message@1.0&a=${'b'.repeat(200)}/a`)).status).toBe(414)
  })

  it('tags every answer with a request ID, keeping a well-formed client one', async () => {
    const { call } = setup()
    expect(
      (await call('/~message@1.0&a=b/a', { headers: { 'x-request-id': 'abc-1' } })).headers[
        'x-request-id'
      ],
    ).toBe('abc-1')
    expect(
      (await call('/~message@1.0&a=b/a', { headers: { 'x-request-id': 'bad id\n' } })).headers[
        'x-request-id'
      ],
    ).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('counts requests and latency in the metrics', async () => {
    const { call } = setup()
    await call('/~message@1.0&a=b/a')
    await call('/~nosuch@1.0/x')
    const text = (await call('/~meta@1.0/metrics')).text
    expect(text).toContain('aonode_http_requests_total{method="GET",status="200"} 1')
    expect(text).toContain('aonode_http_requests_total{method="GET",status="404"} 1')
    expect(text).toContain('aonode_http_request_duration_seconds_count 2')
  })
})

describe('encodeResult', () => {
  it('sends short scalar keys as headers, never reserved, malformed or long ones', () => {
    const message = {
      process: 'p'.repeat(43),
      slot: 7,
      big: 12345678901234567890n,
      'set-cookie': 'a=b',
      'content-encoding': 'gzip',
      'private-note': 'priv keys never leave',
      note: 'kept',
      'Bad Name': 'x',
      line: 'a\nb',
      long: 'x'.repeat(1025),
      huge: 10n ** 1100n,
      nested: { a: 'b' },
    }
    for (let answer = 0; answer < 2; answer++) {
      const { headers } = encodeResult(message)
      const { 'content-type': type, ...fromKeys } = headers
      expect(type).toBe('application/json')
      expect(fromKeys).toEqual({
        process: 'p'.repeat(43),
        slot: '7',
        big: '12345678901234567890',
        note: 'kept',
      })
    }
  })
})
