import { describe, expect, it } from 'vitest'
import { DeviceError } from './errors.ts'
import { fromJSON, toJSON } from './json.ts'
import { Float, Link, Live } from './message.ts'
import type { Message } from './message.ts'

const ID = 'UfSqKA58Hwk99Jg5fsYGY4iKDfnnUAW9MQdMv2-Fw40'

describe('toJSON / fromJSON', () => {
  it('keeps integers integers and floats floats', () => {
    const message: Message = {
      int: 3,
      negative: -0,
      float: 3.5,
      integralFloat: new Float(3),
      big: 2n ** 64n,
      tiny: 1e-7,
      huge: new Float(1e300),
    }
    const text = toJSON(message)
    expect(text).toBe(
      '{"int":3,"negative":-0,"float":3.5,"integralFloat":3.0,"big":18446744073709551616,"tiny":1e-7,"huge":1e+300}',
    )
    const decoded = fromJSON(text)
    expect(decoded).toEqual(message)
    expect(Object.is(decoded['negative'], -0)).toBe(true)
    expect(decoded['integralFloat']).toBeInstanceOf(Float)
    expect(typeof decoded['int']).toBe('number')
  })

  it('reads foreign JSON numbers by their text', () => {
    expect(fromJSON('{"a": 1, "b": 1.0, "c": 1E2, "d": 9007199254740993}')).toEqual({
      a: 1,
      b: new Float(1),
      c: new Float(100),
      d: 9007199254740993n,
    })
  })

  it('writes UTF-8 binaries as text and other bytes as base64', () => {
    const text = toJSON({ utf8: new TextEncoder().encode('héllo'), raw: new Uint8Array([0xff, 0]) })
    expect(text).toBe('{"utf8":"héllo","raw":{"ao-binary":"/wA="}}')
    expect(fromJSON(text)).toEqual({ utf8: 'héllo', raw: new Uint8Array([0xff, 0]) })
  })

  it('round-trips links, nesting, lists, atoms and unicode keys', () => {
    const message: Message = {
      link: new Link(ID),
      nested: { list: [1, 'two', [null, true, false]], empty: {}, none: [] },
      'κλειδί ✓': 'value',
    }
    expect(fromJSON(toJSON(message))).toEqual(message)
  })

  it('keeps __proto__ as an own data key', () => {
    const decoded = fromJSON('{"__proto__": {"polluted": 1}, "x": 1}')
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    expect(Object.hasOwn(decoded, '__proto__')).toBe(true)
    expect(fromJSON(toJSON(decoded))).toEqual(decoded)
  })

  it('drops private keys', () => {
    expect(toJSON({ a: 1, priv: { x: 1 }, private: 2 })).toBe('{"a":1}')
  })

  it('rejects values JSON cannot carry', () => {
    expect(() => toJSON({ a: Number.NaN })).toThrow(DeviceError)
    expect(() => toJSON({ a: new Float(Number.POSITIVE_INFINITY) })).toThrow(/no JSON form/)
    expect(() => toJSON({ a: new Live(1) })).toThrow(DeviceError)
    expect(() => toJSON({ a: { 'ao-binary': 'AA==' } })).toThrow(/reserved/)
  })

  it('rejects malformed or non-object JSON with CODEC_INVALID', () => {
    for (const text of [
      '{',
      '[1]',
      '"x"',
      '{"a": {"ao-binary": "%%"}}',
      '{"a": {"ao-link": "x"}}',
    ]) {
      expect(() => fromJSON(text)).toThrow(DeviceError)
      try {
        fromJSON(text)
      } catch (error) {
        expect(DeviceError.is(error) && error.status).toBe(400)
      }
    }
  })
})
