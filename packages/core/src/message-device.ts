import { DeviceError, notFound } from './errors.ts'
import type { Device, KeyHandler } from './device.ts'
import { id } from './id.ts'
import {
  getKey,
  getOwn,
  isMessage,
  isPrivateKey,
  normalizeKey,
  publicKeys,
  type Message,
  type Value,
} from './message.ts'

export const MESSAGE_DEVICE = 'message@1.0'

/** Request keys `set` never copies into the base (HyperBEAM `dev_message` reserved keys). */
const RESERVED_SET_KEYS: ReadonlySet<string> = new Set([
  'id',
  'commitments',
  'committers',
  'keys',
  'path',
  'set',
  'remove',
  'verify',
  'set-mode',
])

/** The value `set` reads as "remove this key". */
const UNSET = 'unset'

/** Reads a public key case-insensitively; absent or private keys are a 404 naming the key. */
export function getMessageKey(base: Message, key: string): Value {
  const value = getKey(base, key)
  if (value === undefined) {
    throw notFound(
      isPrivateKey(key) ? `key "${key}" is private` : `key "${key}" not found in the message`,
      { device: MESSAGE_DEVICE, key },
    )
  }
  return value
}

/** Recursive merge: nested messages merge key by key, `unset` removes a key, the rest replaces. */
function deepMerge(base: Message, changes: Message): Message {
  const out: Record<string, Value> = { ...base }
  for (const key of Object.keys(changes)) {
    const change = changes[key] as Value
    if (change === UNSET) {
      delete out[key]
      continue
    }
    const current = getOwn(base, key)
    out[key] =
      current !== undefined && isMessage(current) && isMessage(change)
        ? deepMerge(current, change)
        : change
  }
  return out
}

/** Turns `{'a/b': v}` into `{a: {b: v}}` so that path-form keys deep-set nested messages. */
function expandPathKeys(changes: Message): Message {
  const out: Record<string, Value> = {}
  for (const rawKey of Object.keys(changes)) {
    const parts = rawKey.split('/').filter((part) => part !== '')
    const last = parts.pop()
    if (last === undefined) continue
    let target = out
    for (const part of parts) {
      const key = normalizeKey(part)
      const existing = getOwn(target, key)
      const next: Record<string, Value> =
        existing !== undefined && isMessage(existing) ? { ...existing } : {}
      target[key] = next
      target = next
    }
    target[parts.length === 0 ? last : normalizeKey(last)] = changes[rawKey] as Value
  }
  return out
}

const set: KeyHandler = (base, req) => {
  const changes: Record<string, Value> = {}
  for (const key of Object.keys(req)) {
    if (RESERVED_SET_KEYS.has(key.toLowerCase()) || isPrivateKey(key)) continue
    changes[key] = req[key] as Value
  }
  const explicit = getKey(req, 'set-mode') === 'explicit'
  let merged: Message
  if (explicit) {
    const out: Record<string, Value> = { ...base }
    for (const key of Object.keys(changes)) {
      if (changes[key] === UNSET) delete out[key]
      else out[key] = changes[key] as Value
    }
    merged = out
  } else {
    merged = deepMerge(base, expandPathKeys(changes))
  }
  // A changed message no longer matches its signatures.
  if (Object.hasOwn(merged, 'commitments') && Object.keys(changes).length > 0) {
    const out: Record<string, Value> = { ...merged }
    delete out['commitments']
    return out
  }
  return merged
}

const remove: KeyHandler = (base, req) => {
  const item = getKey(req, 'item')
  const items = getKey(req, 'items')
  const names: Value[] = []
  if (item !== undefined) names.push(item)
  if (Array.isArray(items)) names.push(...(items as readonly Value[]))
  else if (isMessage(items)) names.push(...Object.values(items))
  else if (items !== undefined) names.push(items)
  if (names.length === 0) {
    throw new DeviceError('BAD_REQUEST', 'remove needs an "item" or "items" key', {
      device: MESSAGE_DEVICE,
      key: 'remove',
    })
  }
  const out: Record<string, Value> = { ...base }
  for (const name of names) {
    if (typeof name !== 'string') {
      throw new DeviceError('BAD_REQUEST', 'remove: "item"/"items" must be key names (strings)', {
        device: MESSAGE_DEVICE,
        key: 'remove',
      })
    }
    delete out[name]
  }
  return out
}

/**
 * `message@1.0`: the default device. Any key without a handler is read from the message itself,
 * case-insensitively; private keys (`priv*`) are never readable.
 */
export function messageDevice(): Device {
  return {
    info: {
      name: MESSAGE_DEVICE,
      core: '*',
      description: 'Reads, sets and removes the keys of a message; the default device',
    },
    keys: {
      get: (base, req) => {
        const key = getKey(req, 'key')
        return getMessageKey(base, typeof key === 'string' ? key : 'get')
      },
      set,
      // `path` is reserved for `set`; this is the one way to change it (`unset` removes it).
      set_path: (base, req) => {
        const value = getKey(req, 'value')
        if (value === undefined) {
          throw new DeviceError('BAD_REQUEST', 'set_path needs a "value"', {
            device: MESSAGE_DEVICE,
            key: 'set_path',
          })
        }
        const out: Record<string, Value> = { ...base }
        if (value === UNSET) delete out['path']
        else out['path'] = value
        return out
      },
      keys: (base) => publicKeys(base),
      id: (base) => id(base),
      remove,
    },
    fallback: (key, base) => getMessageKey(base, key),
  }
}
