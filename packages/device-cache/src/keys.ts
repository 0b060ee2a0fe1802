import { badRequest, isId, type DeviceErrorOptions } from '@aonode/core'

export const CACHE_DEVICE = 'cache@1.0'

/** LMDB's key limit (the memory store enforces it too, so both backends accept the same keys). */
export const MAX_KEY_BYTES = 1978

/** In `u` mode a surrogate pair is one code point, so this matches only unpaired halves. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

/** Digits of a zero-padded slot in a key: byte order equals numeric order up to 10^12 - 1. */
export const SLOT_DIGITS = 12
export const MAX_SLOT = 10 ** SLOT_DIGITS - 1

/**
 * Checks a store key: non-empty well-formed Unicode, `/`-separated non-empty segments, at most
 * MAX_KEY_BYTES of UTF-8. Keys are only ever LMDB key bytes or map keys, never file-system paths.
 */
export function checkKey(key: string, what = 'key'): void {
  if (typeof key !== 'string' || key === '') throw badRequest(`${what} must be a non-empty string`)
  if (LONE_SURROGATE.test(key))
    throw badRequest(`${what} is not well-formed Unicode: ${JSON.stringify(key)}`)
  if (key.startsWith('/') || key.endsWith('/') || key.includes('//')) {
    throw badRequest(`${what} has an empty segment: ${JSON.stringify(key)}`)
  }
  if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw badRequest(`${what} is longer than ${MAX_KEY_BYTES} bytes`)
  }
}

/** A user-supplied ID: 43 characters of base64url, else 400. */
export function checkId(value: unknown, name: string, options: DeviceErrorOptions = {}): string {
  if (value === undefined) throw badRequest(`missing "${name}"`, options)
  if (!isId(value)) {
    throw badRequest(`"${name}" is not a 43-character base64url ID: ${describe(value)}`, options)
  }
  return value
}

/** `slot` as a key segment: zero-padded so that byte order is numeric order. */
export function slotKey(slot: number): string {
  return String(slot).padStart(SLOT_DIGITS, '0')
}

export function describe(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/**
 * Compares strings in UTF-8 byte order (LMDB's order), which differs from JS's UTF-16 order only
 * for surrogates: U+10000 and above must sort after U+E000..U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x !== y) return utf8Rank(x) - utf8Rank(y)
  }
  return a.length - b.length
}

function utf8Rank(unit: number): number {
  if (unit < 0xd800) return unit
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000
}
