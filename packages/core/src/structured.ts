/**
 * `structured@1.0`: messages ↔ TABMs (type-annotated binary messages, HyperBEAM
 * `dev_codec_structured` + `hb_link`).
 *
 * A TABM's values are only binaries (strings or Uint8Array) or nested TABMs. Other leaves are
 * encoded to text and their type recorded in the `ao-types` dictionary: integers as decimal text,
 * floats as Erlang `%.20e` text, `true`/`false`/`null` as atoms. Lists become numbered messages
 * (`"1"`, `"2"`, …) typed `.="list"`. In link mode every nested message or list is replaced by
 * `key+link: <its ID>`; in bundle mode it stays nested.
 */
import { DeviceError } from './errors.ts'
import { hmacId } from './httpsig.ts'
import type { FlatTABM } from './httpsig.ts'
import { compareBytewise, escapeKey, setOwn, unescapeKey } from './keys.ts'
import { Float, isId, isMessage, isPrivateKey, Link, Live } from './message.ts'
import type { Message, Value } from './message.ts'

export type TABMValue = string | Uint8Array | TABM
export interface TABM {
  readonly [key: string]: TABMValue
}

export interface ToTABMOptions {
  /** Keep nested messages and lists inline instead of replacing them with `key+link` IDs. */
  readonly bundle?: boolean
}

export interface TABMResult {
  readonly tabm: TABM
  /** Link mode: the link-mode TABM of every nested message and list, at any depth, by ID. */
  readonly children: ReadonlyMap<string, TABM>
}

export const TYPES_KEY = 'ao-types'
export const LINK_SUFFIX = '+link'

type AoType =
  'integer' | 'float' | 'atom' | 'list' | 'empty-message' | 'empty-list' | 'empty-binary'
const TYPE_NAMES: ReadonlySet<string> = new Set<AoType>([
  'integer',
  'float',
  'atom',
  'list',
  'empty-message',
  'empty-list',
  'empty-binary',
])

function invalid(message: string, status?: number): DeviceError {
  return new DeviceError('CODEC_INVALID', message, status === undefined ? {} : { status })
}

/** Erlang `float_to_binary/1`: 20 fractional digits and an exponent of at least two digits. */
export function formatFloat(value: number): string {
  if (!Number.isFinite(value)) return String(value) // not Erlang-representable: kept readable
  const text = value.toExponential(20)
  const e = text.indexOf('e')
  const sign = text[e + 1] as string
  const digits = text.slice(e + 2)
  const mantissa = Object.is(value, -0) ? `-${text.slice(0, e)}` : text.slice(0, e)
  return `${mantissa}e${sign}${digits.length === 1 ? `0${digits}` : digits}`
}

function formatInteger(value: number | bigint): string {
  return typeof value === 'number' && !Number.isSafeInteger(value)
    ? BigInt(value).toString()
    : String(value)
}

const INTEGER_TEXT = /^-?[0-9]+$/
const FLOAT_TEXT = /^(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|-?Infinity)$/

/** Decimal integer text → number when exactly safe, else bigint. */
function parseInteger(text: string): number | bigint {
  if (!INTEGER_TEXT.test(text)) throw invalid(`'${text.slice(0, 40)}' is not an integer`)
  const number = Number(text)
  return Number.isSafeInteger(number) ? number : BigInt(text)
}

/** Float text → number, or `Float` when the value is integral (so it stays a float). */
function parseFloatText(text: string): number | Float {
  if (!FLOAT_TEXT.test(text)) throw invalid(`'${text.slice(0, 40)}' is not a float`)
  const number = Number(text)
  return Number.isInteger(number) ? new Float(number) : number
}

function serializeTypes(types: readonly (readonly [string, AoType])[]): string {
  return types
    .map(([key, type]) => [escapeKey(key), type] as const)
    .sort((a, b) => compareBytewise(a[0], b[0]))
    .map(([key, type]) => `${key}="${type}"`)
    .join(', ')
}

/** Parses an `ao-types` dictionary into unescaped key → type. */
function parseTypes(text: string): Map<string, AoType> {
  const types = new Map<string, AoType>()
  if (text.trim() === '') return types
  for (const entry of text.split(',')) {
    const match = /^\s*([^=\s]*)="([a-z-]+)"\s*$/.exec(entry)
    const key = match === null ? undefined : unescapeKey(match[1] as string)
    if (match === null || key === undefined) {
      throw invalid(`malformed ${TYPES_KEY} entry '${entry.trim().slice(0, 60)}'`)
    }
    const type = match[2] as string
    if (!TYPE_NAMES.has(type)) throw invalid(`unknown ${TYPES_KEY} type '${type}' for '${key}'`)
    types.set(key, type as AoType)
  }
  return types
}

interface Encoder {
  readonly bundle: boolean
  /** Link mode: collects every child's TABM by ID (undefined when the caller only wants the ID). */
  readonly children: Map<string, TABM> | undefined
}

/** Encodes a message (or a list, as a numbered message) to a TABM; link-mode children get IDs. */
function encode(value: Message | readonly Value[], encoder: Encoder, path: string): TABM {
  const out: Record<string, TABMValue> = {}
  const types: [string, AoType][] = []
  const isList = Array.isArray(value)
  if (isList) {
    types.push(['.', 'list'])
    const list = value as readonly Value[]
    for (let i = 0; i < list.length; i++) {
      encodeEntry(out, types, String(i + 1), list[i] as Value, encoder, path)
    }
  } else {
    const message = value as Message
    for (const key of Object.keys(message)) {
      if (isPrivateKey(key)) continue
      if (key === TYPES_KEY || key.endsWith(LINK_SUFFIX)) {
        throw invalid(`key '${path}${key}' is reserved by structured@1.0`, 422)
      }
      encodeEntry(out, types, key, message[key] as Value, encoder, path)
    }
  }
  if (types.length > 0) out[TYPES_KEY] = serializeTypes(types)
  return out
}

function encodeEntry(
  out: Record<string, TABMValue>,
  types: [string, AoType][],
  key: string,
  value: Value,
  encoder: Encoder,
  path: string,
): void {
  switch (typeof value) {
    case 'string':
      setOwn(out, key, value)
      return
    case 'number':
      if (Number.isInteger(value)) {
        setOwn(out, key, formatInteger(value))
        types.push([key, 'integer'])
      } else {
        setOwn(out, key, formatFloat(value))
        types.push([key, 'float'])
      }
      return
    case 'bigint':
      setOwn(out, key, value.toString())
      types.push([key, 'integer'])
      return
    case 'boolean':
      setOwn(out, key, value ? 'true' : 'false')
      types.push([key, 'atom'])
      return
    case 'object':
      break
    default:
      throw invalid(`unsupported value of type ${typeof value} at '${path}${key}'`)
  }
  if (value === null) {
    setOwn(out, key, 'null')
    types.push([key, 'atom'])
  } else if (value instanceof Uint8Array) {
    setOwn(out, key, value)
  } else if (value instanceof Float) {
    setOwn(out, key, formatFloat(value.value))
    types.push([key, 'float'])
  } else if (value instanceof Link) {
    setOwn(out, key + LINK_SUFFIX, value.id)
  } else if (value instanceof Live) {
    throw invalid(`live value at '${path}${key}' cannot be serialised`)
  } else if (Array.isArray(value) || isMessage(value)) {
    const child = encode(value as Message | readonly Value[], encoder, `${path}${key}/`)
    if (encoder.bundle) {
      setOwn(out, key, child)
    } else {
      const childId = hmacId(child as FlatTABM)
      encoder.children?.set(childId, child)
      setOwn(out, key + LINK_SUFFIX, childId)
    }
  } else {
    throw invalid(`unsupported value at '${path}${key}'`)
  }
}

/**
 * Message (or list) → TABM. Link mode (default) replaces nested messages and lists with
 * `key+link: <ID>` and returns their TABMs in `children`; bundle mode keeps them nested.
 * Private keys are dropped; a `Live` value or a reserved key (`ao-types`, `*+link`) throws.
 */
export function toTABM(value: Message | readonly Value[], options: ToTABMOptions = {}): TABMResult {
  const bundle = options.bundle === true
  const children = new Map<string, TABM>()
  const tabm = encode(value, { bundle, children: bundle ? undefined : children }, '')
  return { tabm, children }
}

/** The link-mode TABM of a message without collecting children: the input to its ID. */
export function linkTABM(value: Message | readonly Value[]): FlatTABM {
  return encode(value, { bundle: false, children: undefined }, '') as FlatTABM
}

function text(value: TABMValue, key: string): string {
  if (typeof value === 'string') return value
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8')
  throw invalid(`'${key}' must be binary, not a nested message`)
}

function decodeLeaf(value: TABMValue, type: AoType | undefined, key: string): Value {
  if (type === undefined) {
    return typeof value === 'string' || value instanceof Uint8Array ? value : fromTABM(value)
  }
  switch (type) {
    case 'integer':
      return parseInteger(text(value, key))
    case 'float':
      return parseFloatText(text(value, key))
    case 'atom': {
      const atom = text(value, key)
      return atom === 'true' ? true : atom === 'false' ? false : atom === 'null' ? null : atom
    }
    case 'list':
      if (typeof value === 'string' || value instanceof Uint8Array) {
        throw invalid(`'${key}' is typed list but is binary`)
      }
      return fromTABM(value)
    case 'empty-message':
      return {}
    case 'empty-list':
      return []
    case 'empty-binary':
      return ''
  }
}

/**
 * TABM → message, or a list when the TABM is typed `.="list"`. `key+link` entries become `Link`s
 * under `key`; cache-only implicit types (`empty-message`, `empty-list`, `empty-binary`) are honoured.
 */
export function fromTABM(tabm: TABM): Message | Value[] {
  if (!isMessage(tabm)) throw invalid('a TABM must be a message')
  const rawTypes = Object.hasOwn(tabm, TYPES_KEY) ? tabm[TYPES_KEY] : undefined
  const types =
    rawTypes === undefined ? new Map<string, AoType>() : parseTypes(text(rawTypes, TYPES_KEY))
  const out: Record<string, Value> = {}
  for (const key of Object.keys(tabm)) {
    if (key === TYPES_KEY) continue
    const value = tabm[key] as TABMValue
    if (key.endsWith(LINK_SUFFIX)) {
      const target = text(value, key)
      if (!isId(target)) throw invalid(`'${key}' is not a 43-character ID`)
      setOwn(out, key.slice(0, -LINK_SUFFIX.length), new Link(target))
    } else {
      setOwn(out, key, decodeLeaf(value, types.get(key), key))
    }
  }
  for (const [key, type] of types) {
    if (key !== '.' && type.startsWith('empty-') && !Object.hasOwn(out, key)) {
      setOwn(out, key, decodeLeaf('', type, key))
    }
  }
  return types.get('.') === 'list' ? listFromNumbered(out) : out
}

function listFromNumbered(numbered: Record<string, Value>): Value[] {
  const keys = Object.keys(numbered)
  const list = new Array<Value>(keys.length)
  for (const key of keys) {
    const index = Number(key)
    if (!Number.isInteger(index) || index < 1 || index > keys.length || String(index) !== key) {
      throw invalid(`list TABM has a key '${key}' that is not 1..${keys.length}`)
    }
    list[index - 1] = numbered[key] as Value
  }
  return list
}
