/**
 * What the HTTP layer costs on top of the resolver: the same message@1.0 request answered by
 * `app.handle` (no socket) and over node:http with keep-alive clients (in this process, so the
 * client's cost is included), beside a bare node:http server answering a constant with the same
 * client (the ceiling of this machine). The issue sets no goals for these; they show the overhead.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { Agent, createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { measure, perSecond, report } from '@aonode/benchkit'
import { createMemoryStore } from '@aonode/device-cache'
import { pino } from 'pino'
import { createNode } from './node.ts'

const PATH = '/~message@1.0&a=b&n+integer=3/a'
const HANDLE_CALLS = 20_000
const HTTP_CALLS = 5_000
const CONCURRENCY = 32

const dataDir = mkdtempSync(join(tmpdir(), 'aonode-node-bench-'))
copyFileSync(
  new URL('../../../tests/integration/fixtures/wallet.json', import.meta.url),
  join(dataDir, 'wallet.json'),
)
const node = await createNode({
  dataDir,
  devices: [],
  store: createMemoryStore(),
  logger: pino({ level: 'silent' }),
  host: '127.0.0.1',
  port: 0,
})
const url = new URL(await node.listen())
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })

function get(port: string, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port, path, agent }, (res) => {
      res.resume()
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

/** `HTTP_CALLS` GETs from `CONCURRENCY` keep-alive clients; requests per second. */
async function load(port: string): Promise<number> {
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < HTTP_CALLS) await get(port, PATH)
    }),
  )
  return perSecond(HTTP_CALLS, performance.now() - started)
}

const bare = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
    res.end('b')
  })
})
await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve))
const barePort = String((bare.address() as AddressInfo).port)

const figures = [
  await measure('app.handle GET message@1.0 path (no socket)', 'req/s', async () => {
    const started = performance.now()
    for (let i = 0; i < HANDLE_CALLS; i++) {
      const response = await node.app.handle({ method: 'GET', url: PATH, headers: {} })
      if (response.status !== 200) throw new Error(`status ${response.status}`)
    }
    return perSecond(HANDLE_CALLS, performance.now() - started)
  }),
  await measure(`HTTP GET message@1.0 path (${CONCURRENCY} keep-alive clients)`, 'req/s', () =>
    load(url.port),
  ),
  await measure('bare node:http constant answer, same client (ceiling)', 'req/s', () =>
    load(barePort),
  ),
]

bare.close()
agent.destroy()
await node.close()
rmSync(dataDir, { recursive: true, force: true })
report('node', figures)
