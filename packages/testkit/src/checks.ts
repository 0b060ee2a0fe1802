/**
 * The conformance checks behind `describeDevice`, as plain functions: each resolves when the device
 * passes and rejects with an Error that says what is wrong. They use a real resolver and registry.
 */
import { readFileSync } from 'node:fs'
import { isDeepStrictEqual } from 'node:util'
import {
  DeviceError,
  Float,
  Link,
  Live,
  createRegistry,
  createResolver,
  deviceInfoProblem,
  type Device,
  type Message,
  type NodeOptions,
  type Resolver,
  type Store,
  type Value,
} from '@aonode/core'
import { createTestStore } from './memory-store.ts'

/** One vector: resolve `req` against `base` and expect a value or an error. */
export interface DeviceCase {
  readonly name: string
  readonly base: Message
  readonly req: Message | string
  /** The expected result (deep equality), or a function that asserts on it. */
  readonly expect?: Value | ((result: Value) => void)
  /** An expected error: its code, or the parts of it to match. */
  readonly error?:
    | string
    | { readonly code?: string; readonly status?: number; readonly message?: string | RegExp }
  /** Results may differ between runs (skips the run-twice check). */
  readonly nondeterministic?: boolean
}

export interface DeviceCheckOptions {
  /** The device package's package.json, to check that `aonode.devices` lists the device. */
  readonly packageJson?: URL | string
  /** Other devices the cases need (registered alongside). */
  readonly devices?: readonly Device[]
  readonly node?: NodeOptions
  /** The store cases run with (default: a fresh in-memory test store per resolver). */
  readonly store?: Store
}

/** Keys that reach JavaScript internals on a plain object. */
export const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype'] as const
const PROBE_KEYS = [...PROTOTYPE_KEYS, 'toString', 'hasOwnProperty', 'valueOf']
const UNKNOWN_KEY = 'aonode-testkit-no-such-key'

const fail = (message: string): Error => new Error(message)

export function createCheckResolver(device: Device, options: DeviceCheckOptions = {}): Resolver {
  return createResolver({
    registry: createRegistry([device, ...(options.devices ?? [])]),
    store: options.store ?? createTestStore(),
    ...(options.node === undefined ? {} : { node: options.node }),
  })
}

/** `info` has a valid name, aliases and core range, and this core satisfies the range. */
export function checkInfo(device: Device): void {
  const problem = deviceInfoProblem(device)
  if (problem !== undefined) throw fail(problem)
  try {
    createRegistry([device])
  } catch (error) {
    throw fail(DeviceError.is(error) ? error.message : String(error))
  }
}

/** Keys are functions, lower-case (the resolver normalises keys), and none is a prototype key. */
export function checkKeys(device: Device): void {
  for (const key of Object.keys(device.keys)) {
    if ((PROTOTYPE_KEYS as readonly string[]).includes(key)) {
      throw fail(`key "${key}" must not be a handler: it collides with object internals`)
    }
    if (typeof device.keys[key] !== 'function') throw fail(`key "${key}" is not a function`)
    if (key !== key.toLowerCase()) {
      throw fail(`key "${key}" is not lower-case, so requests can never reach it`)
    }
  }
  if (Object.getPrototypeOf(device.keys) === Object.prototype) {
    for (const key of PROTOTYPE_KEYS) {
      if (Object.hasOwn(device.keys, key)) throw fail(`keys has an own "${key}"`)
    }
  }
}

/** An unknown key falls to `fallback` or message@1.0, or fails with a 4xx DeviceError; never a crash. */
export async function checkUnknownKey(
  device: Device,
  options: DeviceCheckOptions = {},
): Promise<void> {
  const resolver = createCheckResolver(device, options)
  const error = await errorOf(resolver.resolve({ device: device.info.name }, UNKNOWN_KEY))
  if (error === undefined) {
    if (device.fallback === undefined) {
      throw fail(`unknown key "${UNKNOWN_KEY}" resolved without a fallback`)
    }
    return
  }
  assertDeviceError(error, `unknown key "${UNKNOWN_KEY}"`)
  if (
    device.fallback === undefined &&
    !['NOT_FOUND', 'DEVICE_KEY_NOT_FOUND'].includes(error.code)
  ) {
    throw fail(
      `unknown key "${UNKNOWN_KEY}" failed with ${error.code}, expected NOT_FOUND or DEVICE_KEY_NOT_FOUND`,
    )
  }
  if (error.status >= 500) {
    throw fail(`unknown key "${UNKNOWN_KEY}" crashed the device: ${error.code} ${error.message}`)
  }
}

/** `__proto__`, `constructor`, ... never reach a handler and resolve to a clean 404. */
export async function checkPrototypeKeys(
  device: Device,
  options: DeviceCheckOptions = {},
): Promise<void> {
  const seen: string[] = []
  const spied: Device = {
    ...device,
    ...(device.fallback === undefined
      ? {}
      : {
          fallback: (key, base, req, ctx) => {
            seen.push(key)
            return (device.fallback as NonNullable<Device['fallback']>)(key, base, req, ctx)
          },
        }),
  }
  const resolver = createCheckResolver(spied, options)
  for (const key of PROBE_KEYS) {
    const error = await errorOf(resolver.resolve({ device: device.info.name }, key))
    if ((PROTOTYPE_KEYS as readonly string[]).includes(key)) {
      if (error === undefined) throw fail(`key "${key}" resolved to a value; expected a 404`)
      assertDeviceError(error, `key "${key}"`)
      if (error.status !== 404) throw fail(`key "${key}" failed with ${error.status}, expected 404`)
    } else if (error !== undefined) {
      assertDeviceError(error, `key "${key}"`)
      if (error.status >= 500) throw fail(`key "${key}" crashed: ${error.code} ${error.message}`)
    }
  }
  // message@1.0's fallback is the own-property reader the resolver hands these keys to.
  const leaked = seen.filter((key) => (PROTOTYPE_KEYS as readonly string[]).includes(key))
  if (leaked.length > 0 && device.info.name.toLowerCase() !== 'message@1.0')
    throw fail(`the fallback saw prototype keys: ${leaked.join(', ')}`)
}

/** The package.json's `aonode.devices` lists the device's name. */
export function checkPackageJson(device: Device, packageJson: URL | string): void {
  const pkg = JSON.parse(readFileSync(packageJson, 'utf8')) as {
    aonode?: { devices?: unknown; core?: unknown }
  }
  const listed = pkg.aonode?.devices
  if (!Array.isArray(listed)) throw fail('package.json has no "aonode": {"devices": [...]}')
  const names = listed.map((name) => String(name).toLowerCase())
  if (!names.includes(device.info.name.toLowerCase())) {
    throw fail(
      `package.json aonode.devices ${JSON.stringify(listed)} does not list ${device.info.name}`,
    )
  }
}

/**
 * Runs one case with deep-frozen inputs, then checks the outcome, that the inputs were not mutated,
 * that the result is a well-formed Value, and (unless nondeterministic) that a second run agrees.
 */
export async function runCase(
  device: Device,
  vector: DeviceCase,
  options: DeviceCheckOptions = {},
): Promise<Value | DeviceError> {
  const resolver = createCheckResolver(device, options)
  const base = deepFreeze(vector.base)
  const req = typeof vector.req === 'string' ? vector.req : deepFreeze(vector.req)
  const bytesBefore = binarySnapshot([base, req])
  const outcome = await settle(resolver.resolve(base, req))
  if (!isDeepStrictEqual(binarySnapshot([base, req]), bytesBefore)) {
    throw fail('the device changed a binary inside its inputs')
  }
  if (vector.error !== undefined) {
    if (!(outcome instanceof Failure)) {
      throw fail(`expected an error ${JSON.stringify(vector.error)}, got ${preview(outcome)}`)
    }
    assertDeviceError(outcome.error, vector.name)
    matchError(outcome.error, vector.error)
    return outcome.error
  }
  if (outcome instanceof Failure) {
    const error = outcome.error
    throw DeviceError.is(error)
      ? fail(`${error.code} (${error.status}): ${error.message}`)
      : error instanceof Error
        ? error
        : fail(String(error))
  }
  const problem = valueProblem(outcome, 'result', new Set())
  if (problem !== undefined) throw fail(problem)
  if (typeof vector.expect === 'function') vector.expect(outcome)
  else if (vector.expect !== undefined && !isDeepStrictEqual(outcome, vector.expect)) {
    throw fail(`expected ${preview(vector.expect)}, got ${preview(outcome)}`)
  }
  if (vector.nondeterministic !== true) {
    const again = await settle(createCheckResolver(device, options).resolve(base, req))
    if (again instanceof Failure || !isDeepStrictEqual(again, outcome)) {
      throw fail(
        `a second run gave a different result: ${preview(again instanceof Failure ? again.error : again)}`,
      )
    }
  }
  return outcome
}

class Failure {
  readonly error: unknown
  constructor(error: unknown) {
    this.error = error
  }
}

function settle(promise: Promise<Value>): Promise<Value | Failure> {
  return promise.then(
    (value) => value,
    (error: unknown) => new Failure(error),
  )
}

async function errorOf(promise: Promise<Value>): Promise<unknown> {
  const outcome = await settle(promise)
  return outcome instanceof Failure ? outcome.error : undefined
}

function assertDeviceError(error: unknown, what: string): asserts error is DeviceError {
  if (!DeviceError.is(error)) {
    throw fail(
      `${what}: threw ${error instanceof Error ? error.name : typeof error}, not a DeviceError`,
    )
  }
  if (!Number.isInteger(error.status) || error.status < 400 || error.status > 599) {
    throw fail(`${what}: error ${error.code} has no HTTP error status (${String(error.status)})`)
  }
}

function matchError(error: DeviceError, expected: NonNullable<DeviceCase['error']>): void {
  const want = typeof expected === 'string' ? { code: expected } : expected
  if (want.code !== undefined && error.code !== want.code) {
    throw fail(`expected error ${want.code}, got ${error.code}: ${error.message}`)
  }
  if (want.status !== undefined && error.status !== want.status) {
    throw fail(`expected status ${want.status}, got ${error.status}: ${error.message}`)
  }
  if (want.message !== undefined) {
    const ok =
      typeof want.message === 'string'
        ? error.message.includes(want.message)
        : want.message.test(error.message)
    if (!ok) throw fail(`error message "${error.message}" does not match ${String(want.message)}`)
  }
}

/** Freezes plain objects and arrays all the way down (binaries cannot be frozen: they are compared). */
export function deepFreeze<T extends Value>(value: T): T {
  if (Array.isArray(value)) {
    for (const item of value as readonly Value[]) deepFreeze(item)
    return Object.freeze(value)
  }
  if (typeof value === 'object' && value !== null && isPlain(value)) {
    for (const key of Object.keys(value)) deepFreeze((value as Message)[key] as Value)
    return Object.freeze(value)
  }
  return value
}

function binarySnapshot(values: readonly (Value | string)[]): string[] {
  const out: string[] = []
  const walk = (value: Value): void => {
    if (value instanceof Uint8Array) out.push(Buffer.from(value).toString('base64'))
    else if (Array.isArray(value)) for (const item of value as readonly Value[]) walk(item)
    else if (typeof value === 'object' && value !== null && isPlain(value)) {
      for (const key of Object.keys(value)) walk((value as Message)[key] as Value)
    }
  }
  for (const value of values) walk(value)
  return out
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as object | null
  return proto === Object.prototype || proto === null
}

/** Why `value` is not a Value (undefined, functions, cycles, foreign class instances), or undefined. */
export function valueProblem(
  value: unknown,
  at: string,
  ancestors: Set<object>,
): string | undefined {
  if (value === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof value))
    return undefined
  if (value === undefined) return `${at} is undefined`
  if (typeof value === 'function') return `${at} is a function`
  if (typeof value !== 'object') return `${at} is a ${typeof value}`
  if (
    value instanceof Uint8Array ||
    value instanceof Float ||
    value instanceof Link ||
    value instanceof Live
  ) {
    return undefined
  }
  if (!Array.isArray(value) && !isPlain(value)) {
    return `${at} is a ${(value.constructor as { name?: string } | undefined)?.name ?? 'object'} instance, not a Value`
  }
  if (ancestors.has(value)) return `${at} is a cycle`
  ancestors.add(value)
  const entries: [string, unknown][] = Array.isArray(value)
    ? value.map((item, index): [string, unknown] => [String(index), item])
    : Object.entries(value)
  for (const [key, item] of entries) {
    const problem = valueProblem(item, `${at}.${key}`, ancestors)
    if (problem !== undefined) return problem
  }
  ancestors.delete(value)
  return undefined
}

function preview(value: unknown): string {
  try {
    const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))
    return text === undefined
      ? String(value)
      : text.length > 200
        ? `${text.slice(0, 197)}...`
        : text
  } catch {
    return String(value)
  }
}
