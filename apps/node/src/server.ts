import { Server as NetServer } from 'node:net'
import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { Duplex } from 'node:stream'
import type { App, AppResponse } from './app.ts'
import { DeviceError } from '@aonode/core'

/** Bodies past the limit are drained (so the client reads the 413) up to this factor, then cut. */
const DRAIN_FACTOR = 4
/** Time to receive a whole request (headers and body) before node answers 408. */
const RECEIVE_TIMEOUT_MS = 60_000
/** Quiet time after the last in-flight request before open connections are closed on shutdown. */
const SETTLE_MS = 100

export interface HttpServer {
  readonly server: Server
  /** Requests being answered right now. */
  inFlight(): number
  /** Stops accepting, answers 503 to new requests on open connections, waits for in-flight ones. */
  drain(graceMs: number): Promise<void>
}

/** Wraps the socket-free app in `node:http`: reads the body under the limit and writes the answer. */
export function createHttpServer(app: App): HttpServer {
  let active = 0
  let draining = false
  let idle: (() => void) | undefined

  const server = createServer(
    { maxHeaderSize: 16 * 1024, requestTimeout: RECEIVE_TIMEOUT_MS },
    (req, res) => {
      active += 1
      res.on('close', () => {
        active -= 1
        if (active === 0) idle?.()
      })
      if (draining) {
        res.setHeader('connection', 'close')
        write(
          res,
          app.fail(new DeviceError('UNAVAILABLE', 'node is shutting down'), req.method ?? 'GET'),
        )
        return
      }
      void serve(app, req, res)
    },
  )
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || error.code === 'ECONNRESET') {
      socket.destroy()
      return
    }
    // node's own answer to a request it cannot parse has no body: answer in the app's error form.
    const [status, message] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'request headers are too large or too many']
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, `request not received within ${RECEIVE_TIMEOUT_MS} ms`]
          : [400, 'malformed HTTP request']
    const body = JSON.stringify({ error: message, status })
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\n` +
        `access-control-allow-origin: *\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `connection: close\r\n\r\n${body}`,
    )
  })

  return {
    server,
    inFlight: () => active,
    async drain(graceMs) {
      draining = true
      // net's close stops accepting but, unlike http's, keeps idle keep-alive connections open:
      // a request already sent on one then gets a clean 503 instead of a connection reset.
      const closed = new Promise<void>((resolve) => {
        NetServer.prototype.close.call(server, () => resolve())
      })
      const deadline = Date.now() + graceMs
      while (Date.now() < deadline) {
        if (active > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, deadline - Date.now())
            idle = () => {
              clearTimeout(timer)
              resolve()
            }
          })
        }
        // Give requests already on the wire a moment to arrive and be refused.
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
        if (active === 0) break
      }
      server.closeAllConnections()
      await closed
    },
  }
}

async function serve(app: App, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const limit = app.limits.bodyBytes
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > limit) {
    rejectTooLarge(app, req, res)
    return
  }
  let body: Buffer | undefined
  try {
    body = await readBody(req, limit)
  } catch {
    res.destroy()
    return
  }
  if (body === undefined) {
    rejectTooLarge(app, req, res)
    return
  }
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value
  }
  const response = await app.handle({
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers,
    body,
  })
  write(res, response)
}

/** The whole body, or undefined once it passes `limit` (the rest is left unread). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      size += chunk.byteLength
      if (size > limit) {
        req.off('data', onData)
        req.off('end', onEnd)
        resolve(undefined)
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => {
      const [only] = chunks
      resolve(chunks.length === 1 && only !== undefined ? only : Buffer.concat(chunks, size))
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', reject)
  })
}

/**
 * Answers 413 once the body has been read and discarded, so clients that send the whole body
 * before reading (most do) see the answer rather than a reset; a body past the drain cap is cut.
 */
function rejectTooLarge(app: App, req: IncomingMessage, res: ServerResponse): void {
  const limit = app.limits.bodyBytes
  const answer = (): void => {
    if (res.headersSent) return
    res.setHeader('connection', 'close')
    const error = new DeviceError('TOO_LARGE', `request body is larger than ${limit} bytes`)
    write(res, app.fail(error, req.method ?? 'POST'))
  }
  let drained = 0
  req.on('data', (chunk: Buffer) => {
    drained += chunk.byteLength
    if (drained > limit * DRAIN_FACTOR) {
      answer()
      req.socket.destroy()
    }
  })
  req.on('end', answer)
  req.resume()
}

/** Statuses whose answers carry no body, and so no `content-length` (RFC 9110 §8.6). */
const NO_BODY = new Set([204, 304])

function write(res: ServerResponse, response: AppResponse): void {
  if (res.headersSent) return
  const { status, headers, body } = response
  if (NO_BODY.has(status)) {
    res.writeHead(status, headers)
    res.end()
    return
  }
  // A declared length: without it node frames every answer as chunked (more bytes, more writes).
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength
  res.writeHead(status, { ...headers, 'content-length': String(length) })
  res.end(body)
}
