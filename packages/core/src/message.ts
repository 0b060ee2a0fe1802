/**
 * The message model: a map of lower-cased keys to typed values (HyperBEAM's structured@1.0 form).
 *
 * Number typing: a JS `number` that is an integer is an AO `integer`; any other number is a `float`.
 * `bigint` is an integer beyond 2^53. `Float` marks a float whose value happens to be integral
 * (`1.0`), so that it keeps its `float` type through codecs and IDs.
 */

/** A float that must stay a float even when its value is integral. */
export class Float {
  readonly value: number
  constructor(value: number) {
    this.value = value
  }
}

/** A reference to another message by its 43-character ID (HyperBEAM `key+link`). */
export class Link {
  readonly id: string
  constructor(id: string) {
    this.id = id
  }
}

/**
 * A live, in-memory handle (a WASM instance, a Lua state) that a device keeps under a private key.
 * Never serialised: codecs and IDs skip private keys, and reject a `Live` anywhere else.
 */
export class Live<T = unknown> {
  readonly value: T
  constructor(value: T) {
    this.value = value
  }
}

export type Scalar = string | number | bigint | boolean | null | Uint8Array | Float | Link | Live
export type Value = Scalar | Message | readonly Value[]
export interface Message {
  readonly [key: string]: Value
}

/** `name@version`, e.g. `process@1.0`, `lua@5.3a`. */
export type DeviceName = `${string}@${string}`
export const DEVICE_NAME: RegExp = /^[a-z0-9][a-z0-9._-]*@[0-9a-z][0-9a-z.-]*$/i

/** IDs (32-byte native, 42-byte Ethereum address, 43-character base64url) keep their case. */
export function isIdLength(key: string): boolean {
  return key.length === 43 || key.length === 42 || key.length === 32
}

export const ID_PATTERN: RegExp = /^[A-Za-z0-9_-]{43}$/

export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value)
}

export function normalizeKey(key: string | number): string {
  if (typeof key === 'number') return String(key)
  return isIdLength(key) ? key : key.toLowerCase()
}

/** Every key whose normalised form starts with `priv` is private (HyperBEAM `hb_private:is_private`). */
export function isPrivateKey(key: string): boolean {
  return normalizeKey(key).startsWith('priv')
}

export function isMessage(value: unknown): value is Message {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array) &&
    !(value instanceof Float) &&
    !(value instanceof Link) &&
    !(value instanceof Live)
  )
}

/** Own-property read: never reaches `__proto__`, `constructor` or anything inherited. */
export function getOwn(message: Message, key: string): Value | undefined {
  return Object.hasOwn(message, key) ? message[key] : undefined
}

/** Case-insensitive read of a public key (HyperBEAM `dev_message:case_insensitive_get`). */
export function getKey(message: Message, key: string): Value | undefined {
  if (isPrivateKey(key)) return undefined
  const exact = getOwn(message, key)
  if (exact !== undefined) return exact
  const lower = key.toLowerCase()
  for (const k of Object.keys(message)) {
    if (k.toLowerCase() === lower) return message[k]
  }
  return undefined
}

/** Public keys of a message, in insertion order. */
export function publicKeys(message: Message): string[] {
  return Object.keys(message).filter((key) => !isPrivateKey(key))
}

/** A message without its private keys. */
export function withoutPrivate(message: Message): Message {
  const out: Record<string, Value> = {}
  for (const key of Object.keys(message)) {
    if (!isPrivateKey(key)) out[key] = message[key] as Value
  }
  return out
}

/** Build a message with normalised keys; later keys win. Input objects are never mutated. */
export function normalizeMessage(input: Record<string, Value>): Message {
  const out: Record<string, Value> = Object.create(null) as Record<string, Value>
  for (const key of Object.keys(input)) out[normalizeKey(key)] = input[key] as Value
  return { ...out }
}

export function isInteger(value: Value): value is number | bigint {
  return typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value))
}

/** Reads an integer-valued key that may arrive as an integer or as decimal text (query strings). */
export function toInteger(value: Value | undefined): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value
  if (typeof value === 'bigint') return Number(value)
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value)
  return undefined
}
