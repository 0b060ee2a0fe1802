import { randomUUID } from 'node:crypto'
import {
  DeviceError,
  Float,
  fromJSON,
  fromTABM,
  isMessage,
  Link,
  normalizeKey,
  toJSON,
  type Message,
  type Value,
} from '@aonode/core'
import type { Logger as PinoLogger } from 'pino'
import type { Metrics } from './metrics.ts'

/** A request as the app sees it: no sockets, so tests can call `handle` directly. */
export interface AppRequest {
  readonly method: string
  /** Path with query string, e.g. `/~message@1.0&a=b/a?x=1`. */
  readonly url: string
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body?: Uint8Array
}

export interface AppResponse {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string | Uint8Array
}

export interface Limits {
  /** Largest request body (default 10 MB); larger → 413. */
  readonly bodyBytes: number
  /** Longest path + query (default 8 KB); longer → 414. */
  readonly urlBytes: number
  /** Most headers kept from one request (default 100). */
  readonly headers: number
  /** Longest header value turned into a key (default 8 KB); longer → 431. */
  readonly headerBytes: number
  /** Time one request may take (default 120 s) before a 504. */
  readonly requestTimeoutMs: number
}

export const DEFAULT_LIMITS: Limits = {
  bodyBytes: 10 * 1024 * 1024,
  urlBytes: 8 * 1024,
  headers: 100,
  headerBytes: 8 * 1024,
  requestTimeoutMs: 120_000,
}

/** What the app needs from the core resolver. */
export interface PathResolver {
  resolvePath(path: string, extra?: Message): Promise<Value>
}

export interface AppOptions {
  readonly resolver: PathResolver
  readonly log: PinoLogger
  readonly metrics: Metrics
  readonly limits?: Partial<Limits>
}

export interface App {
  handle(request: AppRequest): Promise<AppResponse>
  /** The answer for a request refused before it reached `handle` (e.g. a body over the limit). */
  fail(error: unknown, method: string): AppResponse
  readonly limits: Limits
}

/**
 * Transport headers that say how a request travels, not what it asks: they never become message
 * keys, so the same HyperPATH gives the same message whichever client sends it.
 */
const TRANSPORT_HEADERS = new Set([
  'accept',
  'accept-charset',
  'accept-codec',
  'accept-encoding',
  'accept-language',
  'authorization',
  'cache-control',
  'connection',
  'content-length',
  'content-type',
  'cookie',
  'dnt',
  'expect',
  'forwarded',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'keep-alive',
  'origin',
  'pragma',
  'priority',
  'proxy-authorization',
  'referer',
  'require-codec',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'user-agent',
  'via',
  'x-request-id',
  'ao-types',
])
const TRANSPORT_PREFIXES = ['sec-', 'x-forwarded-', 'access-control-']

/** Keys that reach JavaScript object machinery; refused wherever a client names a key. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

/** Permissive CORS (as HyperBEAM): every answer may be read by any origin... */
const CORS_HEADERS: Record<string, string> = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': '*',
}
/** ...and the preflight allows every method and header, cached for a day. */
const PREFLIGHT_HEADERS: Record<string, string> = {
  'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'access-control-allow-headers': '*',
  'access-control-max-age': '86400',
}

/** Response headers a result key may never set. */
const RESERVED_RESPONSE_HEADERS = new Set([
  'cache-control',
  'connection',
  'date',
  'etag',
  'keep-alive',
  'link',
  'location',
  'refresh',
  'server',
  'set-cookie',
  'strict-transport-security',
  'status',
  'transfer-encoding',
  'vary',
  'www-authenticate',
  'x-request-id',
])
/** Result keys in these families would change how browsers and proxies treat the answer. */
const RESERVED_RESPONSE_PREFIXES = ['access-control-', 'content-', 'proxy-', 'sec-', 'priv']
/** At most this many result keys become headers. */
const MAX_RESULT_HEADERS = 32
const HEADER_NAME = /^[a-z0-9][a-z0-9-]*$/
const HEADER_VALUE = /^[\x20-\x7e]*$/
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/
/** One decoder for every body: a non-streaming `decode` keeps no state between calls. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

export function createApp(options: AppOptions): App {
  const limits: Limits = { ...DEFAULT_LIMITS, ...options.limits }
  const { resolver, log, metrics } = options

  async function respond(request: AppRequest): Promise<AppResponse> {
    const method = request.method.toUpperCase()
    if (method === 'OPTIONS') return { status: 204, headers: PREFLIGHT_HEADERS, body: '' }
    if (Buffer.byteLength(request.url) > limits.urlBytes) {
      throw new DeviceError('URI_TOO_LONG', `path is longer than ${limits.urlBytes} bytes`, {
        status: 414,
      })
    }
    if (request.url === '/' || request.url === '') {
      return { status: 302, headers: { location: '/~meta@1.0/info' }, body: '' }
    }
    const extra = requestKeys(method, request, limits)
    const result = await withTimeout(
      resolver.resolvePath(request.url, extra),
      limits.requestTimeoutMs,
    )
    if (method === 'POST' && isAssignment(request.url, result))
      metrics.count('slots_scheduled_total')
    return encodeResult(result)
  }

  return {
    limits,
    fail: (error, method) => {
      const response = errorResponse(error)
      metrics.observeRequest(methodLabel(method), response.status, 0)
      return { ...response, headers: { ...CORS_HEADERS, ...response.headers } }
    },
    async handle(request) {
      const started = performance.now()
      const headerId = request.headers['x-request-id']
      const requestId =
        headerId !== undefined && REQUEST_ID.test(headerId) ? headerId : randomUUID()
      let response: AppResponse
      try {
        response = await respond(request)
      } catch (error) {
        response = errorResponse(error)
        if (response.status >= 500) {
          log.error(
            { requestId, err: error, method: request.method, url: request.url },
            'request failed',
          )
        }
      }
      const seconds = (performance.now() - started) / 1000
      metrics.observeRequest(methodLabel(request.method), response.status, seconds)
      // Checked first so a node logging at `warn` builds no per-request log record.
      if (log.isLevelEnabled('info'))
        log.info(
          {
            requestId,
            method: request.method,
            url: request.url.length > 200 ? `${request.url.slice(0, 200)}…` : request.url,
            status: response.status,
            ms: Math.round(seconds * 10_000) / 10,
          },
          'request',
        )
      return {
        ...response,
        headers: { ...CORS_HEADERS, ...response.headers, 'x-request-id': requestId },
      }
    },
  }
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

/** Metric label for a method: any method a client invents counts as OTHER (bounded labels). */
function methodLabel(method: string): string {
  const upper = method.toUpperCase()
  return METHODS.has(upper) ? upper : 'OTHER'
}

/** The keys a request adds to every step of its HyperPATH: method, header-form keys, body keys. */
export function requestKeys(method: string, request: AppRequest, limits: Limits): Message {
  const form: Record<string, string> = {}
  let count = 0
  for (const [rawName, value] of Object.entries(request.headers)) {
    if (value === undefined) continue
    count += 1
    if (count > limits.headers) {
      throw new DeviceError('TOO_MANY_HEADERS', `more than ${limits.headers} headers`, {
        status: 431,
      })
    }
    const name = rawName.toLowerCase()
    if (TRANSPORT_HEADERS.has(name) || TRANSPORT_PREFIXES.some((p) => name.startsWith(p))) continue
    if (Buffer.byteLength(value) > limits.headerBytes) {
      throw new DeviceError(
        'HEADER_TOO_LARGE',
        `header "${name}" is longer than ${limits.headerBytes} bytes`,
        {
          status: 431,
          key: name,
        },
      )
    }
    checkKey(name, 'header')
    form[name] = value
  }
  const types = request.headers['ao-types']
  if (types !== undefined) form['ao-types'] = types
  const keys: Record<string, Value> = { ...(fromTABM(form) as Message), method }
  const body = request.body
  if (body === undefined || body.byteLength === 0) return keys
  if (body.byteLength > limits.bodyBytes) {
    throw new DeviceError('TOO_LARGE', `request body is larger than ${limits.bodyBytes} bytes`)
  }
  const contentType = (request.headers['content-type'] ?? '').toLowerCase()
  const mediaType = contentType.split(';')[0]?.trim() ?? ''
  if (mediaType === 'application/json' || mediaType.endsWith('+json')) {
    const parsed = parseJsonBody(body)
    for (const [key, value] of Object.entries(parsed)) keys[key] = value
    return keys
  }
  if (mediaType !== '') keys['content-type'] = contentType
  keys['body'] = isText(mediaType) ? decodeText(body) : body
  return keys
}

function checkKey(key: string, where: string): void {
  if (FORBIDDEN_KEYS.has(key.toLowerCase())) {
    throw new DeviceError('BAD_REQUEST', `${where} key "${key}" is not allowed`, { key })
  }
}

function parseJsonBody(body: Uint8Array): Message {
  let parsed: Message
  try {
    parsed = fromJSON(strictUtf8.decode(body))
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).replace(
      /^malformed JSON: /,
      '',
    )
    throw new DeviceError('BAD_REQUEST', `malformed JSON body: ${reason}`, { key: 'body' })
  }
  return normalizeKeys(parsed, 'body') as Message
}

/** Lower-cases keys at every depth (as HTTP keys are) and refuses keys that reach JS machinery. */
function normalizeKeys(value: Value, at: string): Value {
  if (Array.isArray(value)) return value.map((item: Value, i) => normalizeKeys(item, `${at}/${i}`))
  if (!isMessage(value)) return value
  const out: Record<string, Value> = {}
  for (const [key, item] of Object.entries(value)) {
    checkKey(key, `JSON ${at}`)
    out[normalizeKey(key)] = normalizeKeys(item, `${at}/${key}`)
  }
  return out
}

function isText(mediaType: string): boolean {
  return (
    mediaType === '' ||
    mediaType.startsWith('text/') ||
    mediaType === 'application/x-www-form-urlencoded' ||
    mediaType === 'application/lua' ||
    mediaType === 'application/javascript'
  )
}

/** Valid UTF-8 text stays a string (so keys compare as text); anything else stays bytes. */
function decodeText(body: Uint8Array): string | Uint8Array {
  try {
    return strictUtf8.decode(body)
  } catch {
    return body
  }
}

/** The request's answer, or a 504 after `ms`; the timer is cleared as soon as it settles. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new DeviceError('TIMEOUT', `request took longer than ${ms} ms`))
    }, ms)
    void promise.finally(() => clearTimeout(timer)).then(resolve, reject)
  })
}

/** A scheduled message comes back as its assignment: `{slot, process, ...}`. */
function isAssignment(url: string, result: Value): boolean {
  if (!isMessage(result) || typeof result['slot'] !== 'number') return false
  const query = url.indexOf('?')
  const path = query === -1 ? url : url.slice(0, query)
  return /(^|\/|~)schedule$/.test(path.slice(path.lastIndexOf('/') + 1))
}

/** A literal is the body as text; a message is JSON with nested messages inline. */
export function encodeResult(result: Value): AppResponse {
  if (typeof result === 'string') {
    return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: result }
  }
  if (result instanceof Uint8Array) {
    return { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: result }
  }
  if (result instanceof Link) return textResponse(result.id)
  if (result instanceof Float) return textResponse(String(result.value))
  if (result === null || typeof result !== 'object') return textResponse(String(result))
  const status = isMessage(result) ? statusOf(result) : 200
  return {
    status,
    headers: {
      'content-type': 'application/json',
      ...(isMessage(result) ? resultHeaders(result) : {}),
    },
    body: jsonText(result),
  }
}

function textResponse(text: string): AppResponse {
  return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: text }
}

function statusOf(message: Message): number {
  const status = message['status']
  return typeof status === 'number' && Number.isInteger(status) && status >= 200 && status <= 599
    ? status
    : 200
}

/** Result keys already judged as header names (the same few keys come back on every answer). */
const headerNames = new Map<string, boolean>()
const MAX_JUDGED_HEADER_NAMES = 1024

function allowedHeaderName(key: string): boolean {
  let allowed = headerNames.get(key)
  if (allowed === undefined) {
    allowed =
      HEADER_NAME.test(key) &&
      !RESERVED_RESPONSE_HEADERS.has(key) &&
      !RESERVED_RESPONSE_PREFIXES.some((prefix) => key.startsWith(prefix))
    if (headerNames.size < MAX_JUDGED_HEADER_NAMES) headerNames.set(key, allowed)
  }
  return allowed
}

/** Short scalar top-level keys also travel as headers (aoconnect reads `process` and `slot`). */
function resultHeaders(message: Message): Record<string, string> {
  const headers: Record<string, string> = {}
  let count = 0
  for (const key of Object.keys(message)) {
    if (count >= MAX_RESULT_HEADERS) break
    const value = message[key]
    if (
      (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'bigint') ||
      !allowedHeaderName(key)
    )
      continue
    const text = typeof value === 'string' ? value : String(value)
    // A number's text is printable ASCII: only text values need the character check.
    if (text.length <= 1024 && (typeof value !== 'string' || HEADER_VALUE.test(text))) {
      headers[key] = text
      count += 1
    }
  }
  return headers
}

export function errorResponse(error: unknown): AppResponse {
  const body: Record<string, string | number> = {}
  let status = 500
  if (DeviceError.is(error)) {
    status =
      Number.isInteger(error.status) && error.status >= 400 && error.status <= 599
        ? error.status
        : 500
    body['error'] =
      status >= 500 && error.code === 'DEVICE_FAILED' ? 'device failed' : error.message
    if (error.device !== undefined) body['device'] = error.device
    if (error.key !== undefined) body['key'] = error.key
  } else {
    body['error'] = 'internal error'
  }
  return {
    status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error: body['error'], status, ...body }),
  }
}

/** JSON text of any value through the core's json@1.0 codec (which encodes messages). */
function jsonText(value: Value): string {
  if (isMessage(value)) return toJSON(value)
  const wrapped = toJSON({ value })
  return wrapped.slice('{"value":'.length, -1)
}
