/**
 * The AO-Core evaluator (HyperBEAM `hb_ao:resolve`): picks the base message's device, finds the
 * handler for the request's key and folds multi-part paths step by step.
 *
 * Hashpaths (`priv.hashpath`) are attached to message results only with `hashpaths: true`:
 * hashing every intermediate message would dominate the cost of a resolution. There is no
 * resolution cache: devices that want caching use `cache@1.0` through `ctx.resolve`.
 */
import type { Device, KeyHandler, Logger, NodeOptions, ResolveContext } from './device.ts'
import { DeviceError, notFound } from './errors.ts'
import { PRIVATE_KEY } from './execution.ts'
import { hashpath } from './hashpath.ts'
import { AsDevice, Subpath, parseHyperPath, type Step, type StepMessage } from './hyperpath.ts'
import {
  getKey,
  getOwn,
  ID_PATTERN,
  isId,
  isMessage,
  normalizeKey,
  type Message,
  type Value,
} from './message.ts'
import { MESSAGE_DEVICE } from './message-device.ts'
import { createRegistry, type Registry } from './registry.ts'
import type { Store } from './store.ts'

export const DEFAULT_MAX_DEPTH = 64
const CACHE_DEVICE = 'cache@1.0'
/** Keys that name JavaScript object internals: never passed to a device's handlers. */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])

export interface ResolverOptions {
  readonly registry: Registry
  /** The node's store, seen by devices as `ctx.store` (default: an empty read-only store). */
  readonly store?: Store
  readonly node?: NodeOptions
  readonly log?: Logger
  /** Most nested `ctx.resolve` calls before DEPTH_EXCEEDED (508). Default 64. */
  readonly maxDepth?: number
  /**
   * Set `priv.hashpath` on every message result (HyperBEAM's `hashpath: update`). Off by default:
   * it costs an ID of each step's base (unless it already has a hashpath) and of its request.
   */
  readonly hashpaths?: boolean
}

export interface Resolver {
  /** Resolves `req` against `base`; a multi-part `req.path` (`a/b/c`) is folded step by step. */
  resolve(base: Message | string | readonly Value[], req: Message | string): Promise<Value>
  /** Folds parsed HyperPATH steps: the first is the base, each next one a request. */
  resolveMany(steps: readonly Step[]): Promise<Value>
  /** The HTTP form: a HyperPATH with its query, plus `extra` keys (method, headers, body). */
  resolvePath(pathWithQuery: string, extra?: Message): Promise<Value>
  /** The root context, as devices' `start`/`stop` hooks receive it. */
  readonly context: ResolveContext
  readonly registry: Registry
  /** Calls every device's `start` hook, in registration order. */
  start(): Promise<void>
  /** Calls every device's `stop` hook, in reverse order; all run even if one fails. */
  stop(): Promise<void>
}

const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
}

/** The store of a resolver created without one: nothing to read, and writes are refused. */
const noStore: Store = {
  kind: 'none',
  read: () => undefined,
  resolve: () => undefined,
  type: () => undefined,
  write: () => Promise.reject(unavailableStore()),
  link: () => Promise.reject(unavailableStore()),
  batch: () => Promise.reject(unavailableStore()),
  list: () => [],
  close: () => Promise.resolve(),
}

function unavailableStore(): DeviceError {
  return new DeviceError('UNAVAILABLE', 'this resolver has no store: pass one to createResolver')
}

export function createResolver(options: ResolverOptions): Resolver {
  const { registry } = options
  const store = options.store ?? noStore
  const node = options.node ?? {}
  const log = options.log ?? silentLogger
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH
  const hashpaths = options.hashpaths === true
  const messageDevice = registry.require(MESSAGE_DEVICE)

  function contextFor(trace: readonly string[]): ResolveContext {
    return {
      resolve: (base, req) =>
        resolveRequest(base, typeof req === 'string' ? { path: req } : req, trace),
      store,
      node,
      log,
      trace,
    }
  }
  const root = contextFor([])

  /** One request; its path may have several parts, each resolved with the request's other keys. */
  async function resolveRequest(
    base: Value,
    req: Message,
    trace: readonly string[],
  ): Promise<Value> {
    if (trace.length > maxDepth) {
      throw new DeviceError(
        'DEPTH_EXCEEDED',
        `resolution nested more than ${maxDepth} deep: ${trace.slice(-8).join(' > ')}`,
      )
    }
    if (typeof base === 'string' && isId(base)) base = await loadId(base, trace)
    const path = req['path']
    if (typeof path === 'string') {
      if (path.indexOf('/') === -1) return path === '' ? base : step(base, req, path, trace)
      const parts = path.split('/').filter((part) => part !== '')
      let current = base
      for (const part of parts) current = await step(current, { ...req, path: part }, part, trace)
      return current
    }
    if (Array.isArray(path)) {
      let current = base
      for (const part of path as readonly Value[]) {
        const key = typeof part === 'number' ? String(part) : part
        if (typeof key !== 'string') throw new DeviceError('BAD_REQUEST', 'path parts must be keys')
        current = await step(current, { ...req, path: key }, key, trace)
      }
      return current
    }
    if (path === undefined) return base
    if (typeof path === 'number')
      return step(base, { ...req, path: String(path) }, String(path), trace)
    throw new DeviceError('BAD_REQUEST', `path must be text, not ${describe(path)}`)
  }

  /** One key on one message: device lookup, handler lookup, call. */
  async function step(
    base: Value,
    req: Message,
    rawKey: string,
    trace: readonly string[],
  ): Promise<Value> {
    const message = asMessage(base, rawKey)
    const deviceName = deviceOf(message)
    const device = deviceName === undefined ? messageDevice : registry.require(deviceName)
    const key = normalizeKey(rawKey)
    const name = device.info.name
    const ctx = contextFor(trace.length === 0 ? [name] : [...trace, name])
    try {
      const result = await call(device, key, message, req, ctx)
      if (result === undefined) {
        throw new DeviceError('DEVICE_FAILED', `${name} returned nothing for key "${key}"`, {
          device: name,
          key,
        })
      }
      return hashpaths && isMessage(result) ? withHashpath(result, message, req) : result
    } catch (error) {
      if (DeviceError.is(error)) throw error
      const reason = error instanceof Error ? error.message : String(error)
      throw new DeviceError('DEVICE_FAILED', `${name} failed on key "${key}": ${reason}`, {
        device: name,
        key,
        cause: error,
      })
    }
  }

  function call(
    device: Device,
    key: string,
    base: Message,
    req: Message,
    ctx: ResolveContext,
  ): Value | Promise<Value> {
    // Prototype keys go straight to message@1.0, whose own-property reads answer them safely.
    const excluded =
      PROTOTYPE_KEYS.has(key) || (device.excludes !== undefined && device.excludes.includes(key))
    if (!excluded) {
      const handler = ownHandler(device, key)
      if (handler !== undefined) return handler(base, req, ctx)
      if (device.fallback !== undefined) return device.fallback(key, base, req, ctx)
    }
    const handler = ownHandler(messageDevice, key)
    if (handler !== undefined) return handler(base, req, ctx)
    if (messageDevice.fallback === undefined) {
      throw new DeviceError('DEVICE_KEY_NOT_FOUND', `no device handles key "${key}"`, { key })
    }
    return messageDevice.fallback(key, base, req, ctx)
  }

  async function loadId(messageId: string, trace: readonly string[]): Promise<Value> {
    if (registry.get(CACHE_DEVICE) === undefined) {
      throw notFound(`message ${messageId} not found: no ${CACHE_DEVICE} device to load it from`, {
        key: messageId,
      })
    }
    return resolveRequest({ device: CACHE_DEVICE }, { path: 'read', target: messageId }, trace)
  }

  /** Resolves the `Subpath` values of a parsed step; returns the step itself when it has none. */
  async function evaluate(message: StepMessage, trace: readonly string[]): Promise<Message> {
    let out: Record<string, Value> | undefined
    for (const key of Object.keys(message)) {
      const value = message[key]
      if (value instanceof Subpath) {
        out ??= { ...(message as Message) }
        out[key] = await resolveSteps(value.steps, trace)
      }
    }
    return out ?? (message as Message)
  }

  async function loadBase(first: Step, trace: readonly string[]): Promise<Value> {
    if (typeof first === 'string') return ID_PATTERN.test(first) ? loadId(first, trace) : first
    if (first instanceof Subpath) return resolveSteps(first.steps, trace)
    if (first instanceof AsDevice) {
      const { path, ...keys } = await evaluate(first.message, trace)
      if (path === undefined || path === '') return { ...keys, device: first.device }
      if (typeof path === 'string' && ID_PATTERN.test(path)) {
        const loaded = asMessage(await loadId(path, trace), path)
        return { ...loaded, ...keys, device: first.device }
      }
      return resolveRequest({ device: first.device }, { ...keys, path }, trace)
    }
    return evaluate(first, trace)
  }

  async function applyStep(current: Value, next: Step, trace: readonly string[]): Promise<Value> {
    if (typeof next === 'string') return step(current, { path: next }, next, trace)
    if (next instanceof Subpath) {
      const value = await resolveSteps(next.steps, trace)
      const req = isMessage(value) ? value : { path: keyText(value) }
      return resolveRequest(current, req, trace)
    }
    if (next instanceof AsDevice) {
      const swapped = { ...asMessage(current, next.device), device: next.device }
      const { path, ...keys } = await evaluate(next.message, trace)
      if (path === undefined || path === '') return { ...swapped, ...keys }
      return resolveRequest(swapped, { ...keys, path }, trace)
    }
    return resolveRequest(current, await evaluate(next, trace), trace)
  }

  async function resolveSteps(steps: readonly Step[], trace: readonly string[]): Promise<Value> {
    if (steps.length === 0) return {}
    let current = await loadBase(steps[0] as Step, trace)
    for (let i = 1; i < steps.length; i++)
      current = await applyStep(current, steps[i] as Step, trace)
    return current
  }

  return {
    registry,
    context: root,
    resolve: (base, req) => resolveRequest(base, typeof req === 'string' ? { path: req } : req, []),
    resolveMany: (steps) => resolveSteps(steps, []),
    resolvePath: async (pathWithQuery, extra) =>
      resolveSteps(parseHyperPath(pathWithQuery, extra), []),
    async start() {
      for (const device of registry.devices()) await device.start?.(root)
    },
    async stop() {
      const failures: unknown[] = []
      for (const device of [...registry.devices()].reverse()) {
        try {
          await device.stop?.(root)
        } catch (error) {
          failures.push(error)
          log.error(`${device.info.name} failed to stop`, { error: String(error) })
        }
      }
      if (failures.length > 0) throw failures[0]
    },
  }
}

/** `result` with `priv.hashpath` set to the hashpath of resolving `req` against `base`. */
function withHashpath(result: Message, base: Message, req: Message): Message {
  const priv = getOwn(result, PRIVATE_KEY)
  return {
    ...result,
    [PRIVATE_KEY]: { ...(isMessage(priv) ? priv : {}), hashpath: hashpath(base, req) },
  }
}

/** The device named by the message's `device` key; undefined means message@1.0. */
function deviceOf(message: Message): string | undefined {
  const device = getKey(message, 'device')
  if (device === undefined) return undefined
  if (typeof device !== 'string') {
    throw new DeviceError(
      'BAD_REQUEST',
      `the "device" key must be a device name, not ${describe(device)}`,
    )
  }
  return device
}

/** Steps resolve on messages; a list reads as a 1-based numbered message (HyperBEAM). */
function asMessage(value: Value, key: string): Message {
  if (isMessage(value)) return value
  if (Array.isArray(value)) {
    const out: Record<string, Value> = {}
    ;(value as readonly Value[]).forEach((item, index) => (out[String(index + 1)] = item))
    return out
  }
  throw notFound(`cannot resolve "${key}" on ${describe(value)}: it is not a message`, { key })
}

function keyText(value: Value): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'bigint') return String(value)
  throw new DeviceError(
    'BAD_REQUEST',
    `a subpath used as a key must yield text, not ${describe(value)}`,
  )
}

function describe(value: Value): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (value instanceof Uint8Array) return `a ${value.length}-byte binary`
  if (typeof value === 'object')
    return `a ${(value.constructor as { name?: string } | undefined)?.name ?? 'object'}`
  return `a ${typeof value}`
}

function ownHandler(device: Device, key: string): KeyHandler | undefined {
  return Object.hasOwn(device.keys, key) ? device.keys[key] : undefined
}

let standalone: Resolver | undefined

/** Resolves with only `message@1.0` registered and no store (for scripts and tests). */
export function resolve(base: Message | readonly Value[], req: Message | string): Promise<Value> {
  standalone ??= createResolver({ registry: createRegistry([]) })
  return standalone.resolve(base, req)
}
