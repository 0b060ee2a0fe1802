/**
 * The ceiling: a bare `node:http` hello-world on loopback. Every HTTP figure of the run is also
 * given as a fraction of what this server answers with the same client and concurrency.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' })
  res.end('hello world')
})
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  process.stdout.write(`listening on http://127.0.0.1:${port}\n`)
})
process.on('SIGTERM', () => {
  server.close()
  server.closeAllConnections()
})
