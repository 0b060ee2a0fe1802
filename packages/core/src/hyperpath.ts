/**
 * HyperPATH parsing (HyperBEAM `hb_singleton:from`): a request path with its query and extra keys
 * (HTTP headers, body keys) becomes the list of steps the resolver folds:
 * `[base, req1, req2, ...]`.
 */
import { DeviceError } from './errors.ts'
import {
  DEVICE_NAME,
  Float,
  ID_PATTERN,
  normalizeKey,
  type Message,
  type Value,
} from './message.ts'

/** Longest path segment accepted, in UTF-8 bytes (HyperBEAM `segment_too_long`). */
export const MAX_SEGMENT_BYTES = 512

/** A nested path, `(/x/y)` in a path or as a key value: resolved first, its result used in place. */
export class Subpath {
  readonly steps: readonly Step[]
  constructor(steps: readonly Step[]) {
    this.steps = steps
  }
}

/** `key~device@1.0&k=v`: this step runs with `device` in place of the current message's device. */
export class AsDevice {
  readonly device: string
  readonly message: StepMessage
  constructor(device: string, message: StepMessage) {
    this.device = device
    this.message = message
  }
}

/** A key value inside a step: a plain value or a subpath still to resolve. */
export type StepValue = Value | Subpath
export interface StepMessage {
  readonly [key: string]: StepValue
}
/** A message (a request, or the base), an ID to load, a device swap, or a nested path. */
export type Step = StepMessage | string | AsDevice | Subpath

const pathInvalid = (message: string): DeviceError => new DeviceError('PATH_INVALID', message)

/**
 * Parses `pathWithQuery` (e.g. `/ID~process@1.0/compute&slot+integer=3?x=1`) plus `extra` keys
 * into resolver steps. The first step is the base: an ID, an `AsDevice`, a `Subpath`, or `{}`
 * (with the global keys). Query and `extra` keys are global (merged into every message step)
 * unless scoped with `N.key` (0 = base, N = the N-th path segment); `key+TYPE` keys are typed.
 */
export function parseHyperPath(pathWithQuery: string, extra: Message = {}): Step[] {
  const queryAt = pathWithQuery.indexOf('?')
  const path = queryAt === -1 ? pathWithQuery : pathWithQuery.slice(0, queryAt)
  const steps = parseSteps(path)

  const global: Record<string, StepValue> = {}
  const scoped = new Map<number, Record<string, StepValue>>()
  const addKey = (rawKey: string, value: StepValue): void => {
    const scope = /^(\d+)\.(.+)$/.exec(rawKey)
    const [name, typed] = typedKey(scope === null ? rawKey : (scope[2] as string), value)
    if (name === 'path') return
    if (scope === null) {
      global[name] = typed
    } else {
      const index = Number(scope[1])
      let keys = scoped.get(index)
      if (keys === undefined) scoped.set(index, (keys = {}))
      keys[name] = typed
    }
  }
  for (const key of Object.keys(extra)) addKey(key, extra[key] as Value)
  if (queryAt !== -1) {
    for (const [key, value] of parseQuery(pathWithQuery.slice(queryAt + 1))) addKey(key, value)
  }

  // Scoped indexes count path segments; a prepended `{}` base sits before segment 1.
  const hasBase = steps.length > 0 && isBaseStep(steps[0] as Step)
  const out: Step[] = hasBase ? steps : [{}, ...steps]
  const offset = hasBase ? -1 : 0
  for (const [index, keys] of scoped) {
    const at = index === 0 ? 0 : index + offset
    const step = out[at]
    if (step === undefined || at < 0) {
      throw pathInvalid(`scoped key ${index}.${Object.keys(keys)[0]}: there is no segment ${index}`)
    }
    out[at] = withKeys(step, keys, true)
  }
  if (Object.keys(global).length > 0) {
    for (let i = 0; i < out.length; i++) out[i] = withKeys(out[i] as Step, global, false)
  }
  return out
}

function isBaseStep(step: Step): boolean {
  return typeof step === 'string' || step instanceof AsDevice || step instanceof Subpath
}

/** Adds keys to a step: message steps always; device swaps only with an empty path; IDs never. */
function withKeys(step: Step, keys: Record<string, StepValue>, scoped: boolean): Step {
  if (step instanceof AsDevice) {
    const path = step.message['path']
    if (path !== undefined && path !== '') return step
    return new AsDevice(step.device, { ...keys, ...step.message })
  }
  if (step instanceof Subpath) return step
  if (typeof step === 'string') {
    if (scoped) throw pathInvalid(`keys cannot be scoped to the ID segment ${step}`)
    return step
  }
  // Keys written in the segment itself win over global ones.
  return scoped ? { ...step, ...keys } : { ...keys, ...step }
}

/** Splits a path (no query) into parsed segments. */
function parseSteps(path: string): Step[] {
  return splitTopLevel(path, '/').map((segment) => parseSegment(segment))
}

/** Splits `text` on `separator` outside parentheses, dropping empty parts. */
function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = []
  let depth = 0
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const char = text[i]
    if (char === '(') depth++
    else if (char === ')') {
      depth--
      if (depth < 0) throw pathInvalid(`unbalanced ")" at position ${i} in "${clip(text)}"`)
    } else if (char === separator && depth === 0) {
      if (i > start) parts.push(text.slice(start, i))
      start = i + 1
    }
  }
  if (depth !== 0) throw pathInvalid(`unbalanced "(" in "${clip(text)}"`)
  if (text.length > start) parts.push(text.slice(start))
  return parts
}

const clip = (text: string): string => (text.length > 80 ? `${text.slice(0, 77)}...` : text)

function decode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    throw pathInvalid(`malformed percent-encoding in "${clip(text)}"`)
  }
}

function parseSegment(raw: string): Step {
  if (Buffer.byteLength(raw) > MAX_SEGMENT_BYTES) {
    throw pathInvalid(`path segment is longer than ${MAX_SEGMENT_BYTES} bytes: "${clip(raw)}"`)
  }
  const segment = decode(raw)
  if (ID_PATTERN.test(segment)) return segment
  if (segment.startsWith('(') && segment.endsWith(')') && isWrapped(segment)) {
    return subpath(segment.slice(1, -1))
  }
  const parts = splitTopLevel(segment, '&')
  const head = segment.startsWith('&') ? '' : (parts.shift() ?? '')
  const tilde = head.indexOf('~')
  const key = tilde === -1 ? head : head.slice(0, tilde)
  const message: Record<string, StepValue> = { path: key }
  for (const part of parts) {
    const eq = part.indexOf('=')
    if (eq === -1) {
      message[normalizeKey(part)] = true
      continue
    }
    const [name, typed] = typedKey(part.slice(0, eq), inlineValue(part.slice(eq + 1)))
    message[name] = typed
  }
  if (tilde === -1) return message
  const device = head.slice(tilde + 1)
  if (!DEVICE_NAME.test(device)) {
    throw pathInvalid(`"${clip(device)}" after "~" is not a device name (name@version)`)
  }
  return new AsDevice(device, message)
}

/** True when the first `(` closes at the very end, so `(a)(b)` is not one subpath. */
function isWrapped(text: string): boolean {
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++
    else if (text[i] === ')' && --depth === 0) return i === text.length - 1
  }
  return false
}

function subpath(inner: string): Subpath {
  const steps = parseSteps(inner)
  return new Subpath(steps.length > 0 && isBaseStep(steps[0] as Step) ? steps : [{}, ...steps])
}

const inlineValue = (text: string): StepValue =>
  text.startsWith('(') && text.endsWith(')') && isWrapped(text) ? subpath(text.slice(1, -1)) : text

/** `name+TYPE` (or `name TYPE`, from a query string's `+`) → the normalised name and typed value. */
function typedKey(rawKey: string, value: StepValue): [string, StepValue] {
  const plus = rawKey.search(/[+ ]/)
  if (plus === -1) return [normalizeKey(rawKey), value]
  const name = normalizeKey(rawKey.slice(0, plus))
  const type = rawKey.slice(plus + 1).toLowerCase()
  if (typeof value !== 'string') {
    if (type === 'resolve' && value instanceof Subpath) return [name, value]
    throw pathInvalid(`key "${name}+${type}" needs a text value`)
  }
  return [name, decodeTyped(name, type, value)]
}

/** Decodes `value` as the ao-types `type` (§1.3): integer, float, atom, boolean, list, map, resolve. */
function decodeTyped(name: string, type: string, value: string): StepValue {
  switch (type) {
    case 'integer':
      return parseInteger(name, value)
    case 'float':
      return parseFloatValue(name, value)
    case 'atom':
    case 'boolean':
      return parseAtom(value)
    case 'list':
      return value.trim() === '' ? [] : splitItems(value).map((item) => parseItem(name, item))
    case 'map':
      return parseDictionary(name, value)
    case 'resolve':
      return value.startsWith('(') && isWrapped(value)
        ? subpath(value.slice(1, -1))
        : subpath(value)
    default:
      throw pathInvalid(
        `key "${name}": unknown type "${type}" (integer, float, atom, list, map, resolve)`,
      )
  }
}

function parseInteger(name: string, text: string): number | bigint {
  const trimmed = text.trim()
  if (!/^-?\d+$/.test(trimmed))
    throw pathInvalid(`key "${name}": "${clip(text)}" is not an integer`)
  const big = BigInt(trimmed)
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(big)
    : big
}

function parseFloatValue(name: string, text: string): number | Float {
  const trimmed = text.trim()
  const value = Number(trimmed)
  if (trimmed === '' || !Number.isFinite(value) || !/^[-+]?[\d.]+(e[-+]?\d+)?$/i.test(trimmed)) {
    throw pathInvalid(`key "${name}": "${clip(text)}" is not a float`)
  }
  return Number.isInteger(value) ? new Float(value) : value
}

function parseAtom(text: string): Value {
  const trimmed = text.trim()
  if (trimmed === 'true' || trimmed === '?1') return true
  if (trimmed === 'false' || trimmed === '?0') return false
  if (trimmed === 'null' || trimmed === 'undefined') return null
  return trimmed
}

/** Splits an RFC 8941 list or dictionary on commas outside quoted strings. */
function splitItems(text: string): string[] {
  const items: string[] = []
  let quoted = false
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const char = text[i]
    if (char === '\\' && quoted) i++
    else if (char === '"') quoted = !quoted
    else if (char === ',' && !quoted) {
      items.push(text.slice(start, i).trim())
      start = i + 1
    }
  }
  items.push(text.slice(start).trim())
  return items
}

const LEGACY_TYPED = /^\(ao-type-([a-z]+)\) (.*)$/s

/** One RFC 8941 bare item: integer, decimal, "string", ?1/?0, :base64:, or a token. */
function parseItem(name: string, item: string): Value {
  if (item.startsWith('"')) {
    if (item.length < 2 || !item.endsWith('"')) {
      throw pathInvalid(`key "${name}": unterminated string ${clip(item)}`)
    }
    const text = item.slice(1, -1).replace(/\\(["\\])/g, '$1')
    const legacy = LEGACY_TYPED.exec(text)
    if (legacy !== null) {
      const typed = decodeTyped(name, legacy[1] as string, legacy[2] as string)
      if (typed instanceof Subpath) throw pathInvalid(`key "${name}": a list item cannot resolve`)
      return typed
    }
    return text
  }
  if (/^-?\d+$/.test(item)) return parseInteger(name, item)
  if (/^-?\d+\.\d+$/.test(item)) return parseFloatValue(name, item)
  if (item === '?1') return true
  if (item === '?0') return false
  if (item.startsWith(':') && item.endsWith(':') && item.length >= 2) {
    return new Uint8Array(Buffer.from(item.slice(1, -1), 'base64'))
  }
  if (item === '') throw pathInvalid(`key "${name}": empty list item`)
  return item
}

function parseDictionary(name: string, text: string): Message {
  const out: Record<string, Value> = {}
  if (text.trim() === '') return out
  for (const member of splitItems(text)) {
    const eq = member.indexOf('=')
    if (eq === -1) out[normalizeKey(member)] = true
    else
      out[normalizeKey(member.slice(0, eq).trim())] = parseItem(name, member.slice(eq + 1).trim())
  }
  return out
}

/** `application/x-www-form-urlencoded` pairs, as cowboy's `parse_qs`: `+` is a space, `k` alone is true. */
function parseQuery(query: string): [string, Value][] {
  const pairs: [string, Value][] = []
  for (const part of query.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const key = decode((eq === -1 ? part : part.slice(0, eq)).replaceAll('+', ' '))
    if (key === '') continue
    pairs.push([key, eq === -1 ? true : decode(part.slice(eq + 1).replaceAll('+', ' '))])
  }
  return pairs
}
