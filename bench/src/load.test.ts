import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient, runLoad, sendMany, type Client } from './load.ts'

let server: Server
let client: Client
let seen = 0
const bodies: unknown[] = []

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      seen++
      if (chunks.length > 0) bodies.push(JSON.parse(Buffer.concat(chunks).toString()))
      res.writeHead(req.url === '/fail' ? 503 : 200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ url: req.url }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  client = createClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
})

afterAll(async () => {
  client.close()
  await new Promise((resolve) => server.close(resolve))
})

describe('runLoad', () => {
  it('counts exactly the answered requests, with one latency each', async () => {
    seen = 0
    const result = await runLoad(client, {
      method: 'GET',
      path: (n) => `/get/${n}`,
      concurrency: 4,
      durationMs: 200,
    })
    expect(result.requests).toBe(seen)
    expect(result.requests).toBeGreaterThan(0)
    expect(result.latenciesMs).toHaveLength(result.requests)
    expect(result.perSecond).toBeCloseTo((result.requests * 1000) / result.elapsedMs)
  })

  it('sends each request its own body', async () => {
    bodies.length = 0
    await runLoad(client, {
      method: 'POST',
      path: () => '/post',
      body: (n) => ({ n }),
      concurrency: 3,
      durationMs: 100,
    })
    const ns = bodies.map((b) => (b as { n: number }).n)
    expect(new Set(ns).size).toBe(ns.length)
  })

  it('fails the run on a non-2xx answer, naming the request and status', async () => {
    await expect(
      runLoad(client, { method: 'GET', path: () => '/fail', concurrency: 2, durationMs: 100 }),
    ).rejects.toThrow('GET /fail: 503')
  })
})

describe('client.json', () => {
  it('parses JSON answers and throws on errors', async () => {
    expect(await client.json('GET', '/x')).toEqual({ url: '/x' })
    await expect(client.json('GET', '/fail')).rejects.toThrow(/503/)
  })
})

describe('sendMany', () => {
  it('sends exactly count requests with at most `concurrency` in flight', async () => {
    let inFlight = 0
    let most = 0
    const done: number[] = []
    await sendMany(50, 7, async (n) => {
      inFlight++
      most = Math.max(most, inFlight)
      await new Promise((resolve) => setTimeout(resolve, 1))
      inFlight--
      done.push(n)
    })
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i))
    expect(most).toBe(7)
  })
})
