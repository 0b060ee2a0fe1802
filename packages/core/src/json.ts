/**
 * `json@1.0`: messages ↔ JSON text, keeping AO types where JSON can carry them.
 *
 * - Integers are JSON integers (`42`); bigints are written as their exact digits and read back as
 *   bigint when beyond 2^53. Floats always carry a `.` or exponent (`1.5`, `Float(2)` → `2.0`),
 *   so they come back as floats. NaN and ±Infinity have no JSON form and are rejected.
 * - Text is a JSON string. A `Uint8Array` that is valid UTF-8 is written as a string too (AO has
 *   one binary type, so it reads back as a string); other bytes become `{"ao-binary": "<base64>"}`.
 * - A `Link` is `{"ao-link": "<ID>"}`. A message whose only key is `ao-binary` or `ao-link` with a
 *   string value would read back as one of these, so it is rejected (422).
 * - Nested messages are JSON objects, lists are arrays. Private keys are dropped.
 */
import { DeviceError } from './errors.ts'
import { isId, isPrivateKey, Float, Link, Live } from './message.ts'
import type { Message, Value } from './message.ts'

export const JSON_BINARY_KEY = 'ao-binary'
export const JSON_LINK_KEY = 'ao-link'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function invalid(message: string, status?: number): DeviceError {
  return new DeviceError('CODEC_INVALID', message, status === undefined ? {} : { status })
}

function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    return undefined
  }
}

function writeNumber(value: number, asFloat: boolean, path: string): string {
  if (!Number.isFinite(value)) throw invalid(`${value} at '${path}' has no JSON form`, 422)
  if (!Number.isInteger(value)) return String(value)
  if (asFloat) {
    const text = Object.is(value, -0) ? '-0' : String(value)
    return /[.e]/.test(text) ? text : `${text}.0`
  }
  if (Object.is(value, -0)) return '-0'
  return Number.isSafeInteger(value) ? String(value) : BigInt(value).toString()
}

function wrapper(key: string, text: string): string {
  return `{${JSON.stringify(key)}:${JSON.stringify(text)}}`
}

function write(value: Value, path: string): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'number':
      return writeNumber(value, false, path)
    case 'bigint':
      return value.toString()
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object':
      break
    default:
      throw invalid(`unsupported value of type ${typeof value} at '${path}'`)
  }
  if (value === null) return 'null'
  if (value instanceof Uint8Array) {
    const text = utf8Text(value)
    return text === undefined
      ? wrapper(
          JSON_BINARY_KEY,
          Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'),
        )
      : JSON.stringify(text)
  }
  if (value instanceof Float) return writeNumber(value.value, true, path)
  if (value instanceof Link) return wrapper(JSON_LINK_KEY, value.id)
  if (value instanceof Live) throw invalid(`live value at '${path}' cannot be serialised`)
  if (Array.isArray(value)) {
    const list = value as readonly Value[]
    let out = '['
    for (let i = 0; i < list.length; i++) {
      out += `${i === 0 ? '' : ','}${write(list[i] as Value, `${path}/${i + 1}`)}`
    }
    return `${out}]`
  }
  return writeMessage(value as Message, path)
}

function writeMessage(message: Message, path: string): string {
  const keys = Object.keys(message).filter((key) => !isPrivateKey(key))
  if (keys.length === 1) {
    const only = keys[0] as string
    if ((only === JSON_BINARY_KEY || only === JSON_LINK_KEY) && typeof message[only] === 'string') {
      throw invalid(
        `message at '${path || '/'}' has the reserved json@1.0 shape {"${only}": text}`,
        422,
      )
    }
  }
  let out = '{'
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string
    out += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${write(message[key] as Value, `${path}/${key}`)}`
  }
  return `${out}}`
}

/** Message → JSON text (see the module comment for the type conventions). */
export function toJSON(message: Message): string {
  return writeMessage(message, '')
}

function readWrapper(value: Record<string, unknown>): Value | undefined {
  const keys = Object.keys(value)
  if (keys.length !== 1) return undefined
  const key = keys[0] as string
  const text = value[key]
  if (typeof text !== 'string') return undefined
  if (key === JSON_BINARY_KEY) {
    if (!BASE64.test(text)) throw invalid(`"${JSON_BINARY_KEY}" is not base64`)
    const bytes = Buffer.from(text, 'base64')
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }
  if (key === JSON_LINK_KEY) {
    if (!isId(text)) throw invalid(`"${JSON_LINK_KEY}" is not a 43-character ID`)
    return new Link(text)
  }
  return undefined
}

/** Restores AO types while JSON.parse builds the value (numbers are typed by their source text). */
function revive(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value === 'number') {
    const source = context?.source ?? String(value)
    if (/[.eE]/.test(source)) return Number.isInteger(value) ? new Float(value) : value
    return Number.isSafeInteger(value) ? value : BigInt(source)
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return readWrapper(value as Record<string, unknown>) ?? value
  }
  return value
}

/** JSON text → message. The top level must be a JSON object. */
export function fromJSON(text: string): Message {
  let parsed: unknown
  try {
    parsed = JSON.parse(text, revive)
  } catch (error) {
    if (DeviceError.is(error)) throw error
    throw invalid(`malformed JSON: ${(error as Error).message}`)
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    parsed instanceof Uint8Array ||
    parsed instanceof Link ||
    parsed instanceof Float
  ) {
    throw invalid('JSON text is not an object (a message)')
  }
  return parsed as Message
}
