/**
 * A small HTTP load generator: N concurrent loops, each sending one request at a time over a
 * keep-alive connection, for a fixed duration. Every response is read to the end and checked, so a
 * server that answers errors fast does not look fast.
 */
import { Agent, request as httpRequest } from 'node:http'
import { performance } from 'node:perf_hooks'

export interface HttpAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly text: string
}

export interface Client {
  /** One request; JSON objects are sent as `application/json`, bytes with `contentType`. */
  call(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<HttpAnswer>
  /** Like `call`, but throws unless the status is 2xx, and parses a JSON answer. */
  json(method: 'GET' | 'POST', path: string, body?: unknown, contentType?: string): Promise<unknown>
  close(): void
}

export function createClient(baseUrl: string, maxSockets = 256): Client {
  const url = new URL(baseUrl)
  const agent = new Agent({ keepAlive: true, maxSockets })
  const call: Client['call'] = (method, path, body, contentType) =>
    send(method, path, body, contentType).catch((error: Error & { reusedSocket?: boolean }) => {
      // The server may close an idle keep-alive socket just as a request goes out on it (the
      // race Node's docs describe for `request.reusedSocket`): nothing reached it, so send again.
      if (error.reusedSocket === true && (error as { code?: string }).code === 'ECONNRESET')
        return send(method, path, body, contentType)
      throw error
    })
  const send: Client['call'] = (method, path, body, contentType) =>
    new Promise((resolve, reject) => {
      const payload =
        body === undefined
          ? undefined
          : body instanceof Uint8Array || typeof body === 'string'
            ? body
            : JSON.stringify(body)
      const type =
        body === undefined
          ? undefined
          : (contentType ??
            (body instanceof Uint8Array ? 'application/octet-stream' : 'application/json'))
      const req = httpRequest(
        {
          agent,
          hostname: url.hostname,
          port: url.port,
          method,
          path,
          headers: type === undefined ? {} : { 'content-type': type },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          )
          res.on('error', reject)
        },
      )
      req.on('error', (error) => reject(Object.assign(error, { reusedSocket: req.reusedSocket })))
      req.end(payload)
    })
  return {
    call,
    json: async (method, path, body, contentType) =>
      parseAnswer(`${method} ${path}`, await call(method, path, body, contentType)),
    close: () => agent.destroy(),
  }
}

/** A 2xx answer's JSON (or text); otherwise an error naming the request and the status. */
export function parseAnswer(request: string, answer: HttpAnswer): unknown {
  if (answer.status < 200 || answer.status > 299)
    throw new Error(`${request}: ${answer.status} ${answer.text.slice(0, 300)}`)
  const type = String(answer.headers['content-type'] ?? '')
  return type.startsWith('application/json') ? (JSON.parse(answer.text) as unknown) : answer.text
}

export interface LoadOptions {
  readonly method: 'GET' | 'POST'
  /** The path of the n-th request (n counts from 0 over all loops). */
  readonly path: (n: number) => string
  /** The JSON body of the n-th request (POST only). */
  readonly body?: (n: number) => unknown
  readonly concurrency: number
  readonly durationMs: number
}

export interface LoadResult {
  readonly requests: number
  readonly elapsedMs: number
  /** Per-request latency in milliseconds, in completion order. */
  readonly latenciesMs: Float64Array
  readonly perSecond: number
}

/** Runs the load; any non-2xx answer or socket error fails the whole run with that error. */
export async function runLoad(client: Client, options: LoadOptions): Promise<LoadResult> {
  const latencies = new Float64Array(1 << 20)
  let issued = 0
  let done = 0
  const start = performance.now()
  const deadline = start + options.durationMs
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const n = issued++
      const sent = performance.now()
      const answer = await client.call(options.method, options.path(n), options.body?.(n))
      if (answer.status < 200 || answer.status > 299)
        throw new Error(
          `${options.method} ${options.path(n)}: ${answer.status} ${answer.text.slice(0, 300)}`,
        )
      if (done < latencies.length) latencies[done] = performance.now() - sent
      done++
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, loop))
  const elapsedMs = performance.now() - start
  return {
    requests: done,
    elapsedMs,
    latenciesMs: latencies.subarray(0, Math.min(done, latencies.length)),
    perSecond: (done * 1000) / elapsedMs,
  }
}

/** Sends `count` requests with at most `concurrency` in flight (for building state fast). */
export async function sendMany(
  count: number,
  concurrency: number,
  send: (n: number) => Promise<unknown>,
): Promise<void> {
  let next = 0
  const loop = async (): Promise<void> => {
    while (next < count) await send(next++)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, loop))
}
