/**
 * Lossless binary encoding of messages and values (msgpack via msgpackr).
 *
 * Messages travel as msgpack maps and lists as arrays; the AO types msgpack cannot express travel
 * as extensions: `Float` (float64), `Link` (ID text), `bigint` (decimal text) and `-0`. Maps are
 * decoded as `Map`s and rebuilt with own data properties, so keys such as `__proto__` round-trip
 * as data and never touch a prototype. Decoded binaries are `Uint8Array` views into the input.
 */
import { addExtension, Packr } from 'msgpackr'
import { DeviceError } from './errors.ts'
import { setOwn } from './keys.ts'
import { Float, isPrivateKey, Link, Live } from './message.ts'
import type { Message, Value } from './message.ts'

/** Wire wrapper for a bigint: msgpack int64 cannot hold every bigint and decodes to number. */
class BigIntWire {
  readonly value: bigint
  constructor(value: bigint) {
    this.value = value
  }
}
/** Wire marker for -0, which msgpackr would otherwise encode as the integer 0. */
class NegativeZeroWire {}
const NEGATIVE_ZERO = new NegativeZeroWire()

const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

// Extension type numbers 0x41-0x44 ('A'-'D'): clear of msgpackr's own (negative and 0x65-0x78).
addExtension({
  Class: Float,
  type: 0x41,
  pack: (float: Float) => {
    const bytes = Buffer.alloc(8)
    bytes.writeDoubleBE(float.value)
    return bytes
  },
  unpack: (bytes: Uint8Array) =>
    new Float(new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0)),
})
addExtension({
  Class: Link,
  type: 0x42,
  pack: (link: Link) => Buffer.from(link.id, 'utf8'),
  unpack: (bytes: Uint8Array) => new Link(utf8Decoder.decode(bytes)),
})
addExtension({
  Class: BigIntWire,
  type: 0x43,
  pack: (big: BigIntWire) => Buffer.from(big.value.toString(), 'latin1'),
  unpack: (bytes: Uint8Array) => BigInt(utf8Decoder.decode(bytes)),
})
addExtension({
  Class: NegativeZeroWire,
  type: 0x44,
  pack: () => Buffer.alloc(0),
  unpack: () => -0,
})

const packr = new Packr({
  useRecords: false,
  mapsAsObjects: false,
  moreTypes: false,
  variableMapSize: true,
})

function invalid(message: string, cause?: unknown): DeviceError {
  return new DeviceError('CODEC_INVALID', message, cause === undefined ? {} : { cause })
}

type Wire =
  | string
  | number
  | boolean
  | null
  | Uint8Array
  | Float
  | Link
  | BigIntWire
  | NegativeZeroWire
  | Wire[]
  | Map<string, Wire>

function toWire(value: Value, path: string): Wire {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      return Object.is(value, -0) ? NEGATIVE_ZERO : value
    case 'bigint':
      return new BigIntWire(value)
    case 'object':
      if (value === null || value instanceof Float || value instanceof Link) return value
      if (value instanceof Uint8Array) return value
      if (value instanceof Live) throw invalid(`live value at '${path}' cannot be serialised`)
      if (Array.isArray(value)) {
        const list = value as readonly Value[]
        const out: Wire[] = new Array<Wire>(list.length)
        for (let i = 0; i < list.length; i++) out[i] = toWire(list[i] as Value, `${path}/${i + 1}`)
        return out
      }
      return messageToWire(value as Message, path)
    default:
      throw invalid(`unsupported value of type ${typeof value} at '${path}'`)
  }
}

function messageToWire(message: Message, path: string): Map<string, Wire> {
  const map = new Map<string, Wire>()
  for (const key of Object.keys(message)) {
    if (isPrivateKey(key)) continue
    map.set(key, toWire(message[key] as Value, path === '' ? key : `${path}/${key}`))
  }
  return map
}

function fromWire(wire: unknown): Value {
  if (wire === null || typeof wire !== 'object') {
    if (typeof wire === 'string' || typeof wire === 'number' || typeof wire === 'boolean') {
      return wire
    }
    if (typeof wire === 'bigint' || wire === null) return wire
    throw invalid(`unsupported encoded value of type ${typeof wire}`)
  }
  if (wire instanceof Map) return messageFromWire(wire)
  if (Array.isArray(wire)) {
    const out: Value[] = new Array<Value>(wire.length)
    for (let i = 0; i < wire.length; i++) out[i] = fromWire(wire[i])
    return out
  }
  if (wire instanceof Uint8Array) {
    return Object.getPrototypeOf(wire) === Uint8Array.prototype
      ? wire
      : new Uint8Array(wire.buffer, wire.byteOffset, wire.byteLength)
  }
  if (wire instanceof Float || wire instanceof Link) return wire
  throw invalid('unsupported encoded value')
}

function messageFromWire(map: Map<unknown, unknown>): Message {
  const out: Record<string, Value> = {}
  for (const [key, value] of map) {
    if (typeof key !== 'string') throw invalid(`message key of type ${typeof key}`)
    setOwn(out, key, fromWire(value))
  }
  return out
}

function pack(wire: Wire): Uint8Array {
  const buffer = packr.pack(wire)
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}

function unpack(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes)
  } catch (error) {
    if (DeviceError.is(error)) throw error
    throw invalid(`malformed binary message: ${(error as Error).message}`, error)
  }
}

/** Lossless binary encoding of a message (msgpackr): every Value type round-trips. Private keys dropped. */
export function encodeMessage(message: Message): Uint8Array {
  return pack(messageToWire(message, ''))
}

/** Decodes `encodeMessage` output. Binaries in the result are views that share `bytes`' memory. */
export function decodeMessage(bytes: Uint8Array): Message {
  const wire = unpack(bytes)
  if (!(wire instanceof Map)) throw invalid('encoded value is not a message')
  return messageFromWire(wire)
}

/** Lossless binary encoding of any value; private keys of nested messages are dropped. */
export function encodeValue(value: Value): Uint8Array {
  return pack(toWire(value, ''))
}

/** Decodes `encodeValue` output. Binaries in the result are views that share `bytes`' memory. */
export function decodeValue(bytes: Uint8Array): Value {
  return fromWire(unpack(bytes))
}
