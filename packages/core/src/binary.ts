import type { Message, Value } from './message.ts'

/** Lossless binary encoding of a message (msgpackr): every Value type round-trips. Private keys dropped. */
export function encodeMessage(_message: Message): Uint8Array {
  throw new Error('not implemented yet')
}
export function decodeMessage(_bytes: Uint8Array): Message {
  throw new Error('not implemented yet')
}
export function encodeValue(_value: Value): Uint8Array {
  throw new Error('not implemented yet')
}
export function decodeValue(_bytes: Uint8Array): Value {
  throw new Error('not implemented yet')
}
