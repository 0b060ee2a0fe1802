// TEMPORARY stand-in for the node (delete when the real node serves processes).
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
const procs = new Map<string, { slots: number; computed: number }>()
let ids = 0
const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const url = req.url ?? ''
    const send = (v: unknown): void => {
      res.writeHead(200, {
        'content-type': typeof v === 'string' ? 'text/plain' : 'application/json',
      })
      res.end(typeof v === 'string' ? v : JSON.stringify(v))
    }
    if (url === '/~meta@1.0/info')
      return send({ address: 'addr', devices: { 'test-exec@1.0': 'x', 'lua@5.3a': 'y' } })
    if (url === '/~cache@1.0/write') return send({ id: `code${ids++}` })
    if (url === '/~process@1.0/schedule') {
      const pid = `p${ids++}`
      procs.set(pid, { slots: 0, computed: 0 })
      return send({ process: pid, slot: 0 })
    }
    const m = /^\/(\w+)~process@1.0\/(schedule|now)/.exec(url)
    const p = m === null ? undefined : procs.get(m[1] as string)
    if (p === undefined) {
      res.writeHead(404)
      return res.end('{}')
    }
    if (m?.[2] === 'schedule') return send({ slot: ++p.slots })
    const until = performance.now() + (p.slots - p.computed) * 0.01
    while (performance.now() < until);
    p.computed = p.slots
    return send(url.endsWith('/at-slot') ? String(p.slots) : { 'at-slot': p.slots })
  })
})
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`),
)
process.on('SIGTERM', () => {
  server.close()
  server.closeAllConnections()
})
