import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestNode, type TestNode } from './helpers.ts'

const ID = /^[A-Za-z0-9_-]{43}$/

let node: TestNode
beforeAll(async () => {
  node = await startTestNode()
})
afterAll(async () => {
  await node.stop()
})

async function errorOf(response: Response): Promise<Record<string, unknown>> {
  expect(response.headers.get('content-type')).toBe('application/json')
  const body = (await response.json()) as Record<string, unknown>
  expect(body['status']).toBe(response.status)
  expect(typeof body['error']).toBe('string')
  expect(String(body['error'])).not.toMatch(/\.ts:\d+|\n\s+at /)
  return body
}

describe('meta@1.0', () => {
  it('answers /~meta@1.0/info with the address, version, loaded devices and store', async () => {
    const response = await node.request('/~meta@1.0/info')
    expect(response.status).toBe(200)
    const info = (await response.json()) as Record<string, unknown>
    expect(info['address']).toMatch(ID)
    expect(info['version']).toBe('0.1.0')
    expect(info['store']).toBe('lmdb')
    expect(info['devices']).toMatchObject({ 'meta@1.0': '@aonode/node@0.1.0' })
    expect(response.headers.get('access-control-allow-origin')).toBe('*')
    expect(response.headers.get('x-request-id')).toBeTruthy()
  })

  it('answers /~meta@1.0/info/address as plain text (what aoconnect and aos read)', async () => {
    const response = await node.request('/~meta@1.0/info/address')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(await response.text()).toMatch(ID)
  })

  it('serves Prometheus metrics that count requests', async () => {
    await node.request('/~message@1.0&a=b/a')
    const response = await node.request('/~meta@1.0/metrics')
    expect(response.status).toBe(200)
    const text = await response.text()
    expect(text).toMatch(/aonode_http_requests_total\{method="GET",status="200"\} [1-9]/)
    expect(text).toContain('# TYPE aonode_http_request_duration_seconds histogram')
    expect(text).toContain('aonode_slots_scheduled_total')
    expect(text).toContain('aonode_slots_computed_total')
    expect(text).toContain('aonode_active_workers')
  })
})

describe('message@1.0 over HTTP', () => {
  it('GET /~message@1.0&a=b/a → b as plain text', async () => {
    const response = await node.request('/~message@1.0&a=b/a')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(await response.text()).toBe('b')
  })

  it('GET /~message@1.0&a=b/id → a 43-character ID, the same every time', async () => {
    const first = await (await node.request('/~message@1.0&a=b/id')).text()
    expect(first).toMatch(ID)
    const again = await (
      await node.request('/~message@1.0&a=b/id', { headers: { 'user-agent': 'other' } })
    ).text()
    expect(again).toBe(first)
    const other = await (await node.request('/~message@1.0&a=c/id')).text()
    expect(other).not.toBe(first)
  })

  it('answers a message as JSON', async () => {
    const response = await node.request('/~message@1.0&a=b&n+integer=3')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(await response.json()).toMatchObject({ a: 'b', n: 3 })
  })

  it('answers CORS preflight', async () => {
    const response = await node.request('/~message@1.0/a', { method: 'OPTIONS' })
    expect(response.status).toBe(204)
    expect(response.headers.get('access-control-allow-origin')).toBe('*')
    expect(response.headers.get('access-control-allow-methods')).toContain('POST')
  })
})

describe('bad input', () => {
  it('unknown device → 404 naming it', async () => {
    const response = await node.request('/~nosuch@9.9/info')
    expect(response.status).toBe(404)
    expect((await errorOf(response))['error']).toContain('nosuch@9.9')
  })

  it('__proto__ and constructor as keys → clean 404', async () => {
    for (const key of ['__proto__', 'constructor']) {
      const response = await node.request(`/~message@1.0&a=b/${key}`)
      expect(response.status).toBe(404)
      await errorOf(response)
    }
  })

  it('__proto__ and constructor in a JSON body → 400 naming the key', async () => {
    for (const key of ['__proto__', 'constructor']) {
      const response = await node.request('/~message@1.0/a', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"${key}": {"x": 1}}`,
      })
      expect(response.status).toBe(400)
      expect((await errorOf(response))['error']).toContain(key)
    }
  })

  it('malformed JSON → 400 naming the problem', async () => {
    const response = await node.request('/~message@1.0/a', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"Action": "Increment"',
    })
    expect(response.status).toBe(400)
    expect((await errorOf(response))['error']).toMatch(/malformed JSON body/)
  })

  it('an 11 MB body → 413', async () => {
    const response = await node.request('/~message@1.0/a', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(11 * 1024 * 1024),
    })
    expect(response.status).toBe(413)
    expect((await errorOf(response))['error']).toMatch(/larger than 10485760 bytes/)
  })

  it('a 600-byte path segment → 400', async () => {
    const response = await node.request(`/~message@1.0&a=b/${'k'.repeat(600)}`)
    expect(response.status).toBe(400)
    await errorOf(response)
  })

  it('too many headers, an oversized header value or path → 431/414', async () => {
    const many: Record<string, string> = {}
    for (let i = 0; i < 120; i++) many[`x-key-${i}`] = 'v'
    const headers = await node.request('/~message@1.0&a=b/a', { headers: many })
    expect(headers.status).toBe(431)
    expect((await errorOf(headers))['error']).toMatch(/more than 100 headers/)
    const long = await node.request('/~message@1.0&a=b/a', {
      headers: { 'x-big': 'v'.repeat(9000) },
    })
    expect(long.status).toBe(431)
    expect((await errorOf(long))['key']).toBe('x-big')
    const path = await node.request(`/~message@1.0&a=b/a?${'q=1&'.repeat(2100)}`)
    expect(path.status).toBe(414)
    await errorOf(path)
    const huge = await node.request('/~message@1.0&a=b/a', {
      headers: { 'x-huge': 'v'.repeat(20_000) },
    })
    expect(huge.status).toBe(431) // past node's own 16 KB header limit
    await errorOf(huge)
  })

  it('unbalanced parentheses → 400', async () => {
    for (const path of ['/~message@1.0&a=b/(a', '/~message@1.0&a=(b/a', '/a)/b']) {
      const response = await node.request(path)
      expect(response.status).toBe(400)
      await errorOf(response)
    }
  })

  it('keeps serving after bad input', async () => {
    expect(await (await node.request('/~message@1.0&a=b/a')).text()).toBe('b')
  })
})

describe('persistence', () => {
  it('keeps what cache@1.0 wrote across a restart', async () => {
    const write = await node.request('/~cache@1.0/write', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'kept across restarts',
    })
    expect(write.status).toBe(200)
    const { id } = (await write.json()) as { id: string }
    expect(id).toMatch(ID)
    await node.restart()
    const read = await node.request(`/~cache@1.0/read?target=${id}`)
    expect(read.status).toBe(200)
    const message = (await read.json()) as Record<string, unknown>
    expect(message['body']).toBe('kept across restarts')
  })
})
