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
import { hmacIdOf } from './httpsig.ts'
import { escapeKey, setOwn, unescapeKey } from './keys.ts'
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

/** The `ao-types` dictionary: entries sorted by their escaped keys (ASCII, so `<` is byte order). */
function serializeTypes(keys: readonly string[], types: readonly AoType[]): string {
  if (keys.length === 1) return `${escapeKey(keys[0] as string)}="${types[0] as AoType}"`
  const escaped = keys.map(escapeKey)
  // Insertion sort of the indices: the lists are short, and Array#splice costs more than the shifts.
  const order: number[] = []
  for (let i = 0; i < escaped.length; i++) {
    let at = i
    while (at > 0 && (escaped[order[at - 1] as number] as string) > (escaped[i] as string)) {
      order[at] = order[at - 1] as number
      at--
    }
    order[at] = i
  }
  let text = ''
  for (let j = 0; j < order.length; j++) {
    const i = order[j] as number
    text += `${j === 0 ? '' : ', '}${escaped[i] as string}="${types[i] as AoType}"`
  }
  return text
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

/**
 * One TABM level: keys and values in parallel, in the message's key order. Building it is the one
 * place that decides how values are written (text and `ao-types`); the TABM codec turns it into an
 * object, IDs sign it directly.
 */
export interface TABMLevel {
  readonly keys: string[]
  readonly values: TABMValue[]
}

/** The value that stands for a nested message or list: its TABM (bundle mode) or its ID (link). */
export type NestedEncoder = (child: Message | readonly Value[], path: string) => TABMValue

interface LevelBuilder extends TABMLevel {
  readonly bundle: boolean
  readonly nested: NestedEncoder
  typeKeys: string[] | undefined
  typeNames: AoType[] | undefined
}

/**
 * Encodes one level of a message (or a list, as a numbered message): leaves become text with
 * their `ao-types`, nested messages and lists become `nested(child)` under `key` (bundle) or
 * `key+link` (link mode). `path` (`a/b/`) names the level in errors.
 */
export function encodeLevel(
  value: Message | readonly Value[],
  path: string,
  bundle: boolean,
  nested: NestedEncoder,
): TABMLevel {
  const level: LevelBuilder = {
    keys: [],
    values: [],
    bundle,
    nested,
    typeKeys: undefined,
    typeNames: undefined,
  }
  if (Array.isArray(value)) {
    addType(level, '.', 'list')
    const list = value as readonly Value[]
    for (let i = 0; i < list.length; i++) {
      encodeEntry(level, String(i + 1), list[i] as Value, path)
    }
  } else {
    const message = value as Message
    for (const key of Object.keys(message)) {
      // Every private key starts with p or P: the full check lower-cases the key.
      const first = key.charCodeAt(0)
      if ((first === 0x70 || first === 0x50) && isPrivateKey(key)) continue
      if (key === TYPES_KEY || key.endsWith(LINK_SUFFIX)) {
        throw invalid(`key '${path}${key}' is reserved by structured@1.0`, 422)
      }
      encodeEntry(level, key, message[key] as Value, path)
    }
  }
  if (level.typeKeys !== undefined) {
    level.keys.push(TYPES_KEY)
    level.values.push(serializeTypes(level.typeKeys, level.typeNames as AoType[]))
  }
  return level
}

function addType(level: LevelBuilder, key: string, type: AoType): void {
  if (level.typeKeys === undefined) {
    level.typeKeys = [key]
    level.typeNames = [type]
  } else {
    level.typeKeys.push(key)
    ;(level.typeNames as AoType[]).push(type)
  }
}

function encodeEntry(level: LevelBuilder, key: string, value: Value, path: string): void {
  let text: TABMValue
  let type: AoType | undefined
  switch (typeof value) {
    case 'string':
      text = value
      break
    case 'number':
      if (Number.isInteger(value)) {
        text = formatInteger(value)
        type = 'integer'
      } else {
        text = formatFloat(value)
        type = 'float'
      }
      break
    case 'bigint':
      text = value.toString()
      type = 'integer'
      break
    case 'boolean':
      text = value ? 'true' : 'false'
      type = 'atom'
      break
    case 'object':
      if (value === null) {
        text = 'null'
        type = 'atom'
      } else if (value instanceof Uint8Array) {
        text = value
      } else if (value instanceof Float) {
        text = formatFloat(value.value)
        type = 'float'
      } else if (value instanceof Link) {
        level.keys.push(key + LINK_SUFFIX)
        level.values.push(value.id)
        return
      } else if (value instanceof Live) {
        throw invalid(`live value at '${path}${key}' cannot be serialised`)
      } else if (Array.isArray(value) || isMessage(value)) {
        level.keys.push(level.bundle ? key : key + LINK_SUFFIX)
        level.values.push(level.nested(value as Message | readonly Value[], `${path}${key}/`))
        return
      } else {
        throw invalid(`unsupported value at '${path}${key}'`)
      }
      break
    default:
      throw invalid(`unsupported value of type ${typeof value} at '${path}${key}'`)
  }
  level.keys.push(key)
  level.values.push(text)
  if (type !== undefined) addType(level, key, type)
}

/** The TABM object of a level (`__proto__` kept as an own key). */
function toObject(level: TABMLevel): TABM {
  const out: Record<string, TABMValue> = {}
  for (let i = 0; i < level.keys.length; i++) {
    setOwn(out, level.keys[i] as string, level.values[i] as TABMValue)
  }
  return out
}

/** The unsigned ID of a link-mode level (every value binary). */
export function levelId(level: TABMLevel): string {
  return hmacIdOf(level.keys, level.values as readonly (string | Uint8Array)[])
}

/**
 * Message (or list) → TABM. Link mode (default) replaces nested messages and lists with
 * `key+link: <ID>` and returns their TABMs in `children`; bundle mode keeps them nested.
 * Private keys are dropped; a `Live` value or a reserved key (`ao-types`, `*+link`) throws.
 */
export function toTABM(value: Message | readonly Value[], options: ToTABMOptions = {}): TABMResult {
  const bundle = options.bundle === true
  const children = new Map<string, TABM>()
  const nested: NestedEncoder = bundle
    ? (child, path) => toObject(encodeLevel(child, path, true, nested))
    : (child, path) => {
        const level = encodeLevel(child, path, false, nested)
        const childId = levelId(level)
        children.set(childId, toObject(level))
        return childId
      }
  return { tabm: toObject(encodeLevel(value, '', bundle, nested)), children }
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
