import { describe, expect, it } from 'vitest'
import { decodeMessage, decodeValue, encodeMessage, encodeValue } from './binary.ts'
import { DeviceError } from './errors.ts'
import { Float, Link, Live } from './message.ts'
import type { Message, Value } from './message.ts'

const ID = 'UfSqKA58Hwk99Jg5fsYGY4iKDfnnUAW9MQdMv2-Fw40'

describe('encodeMessage / decodeMessage', () => {
  it('round-trips every value type', () => {
    const message: Message = {
      text: 'héllo ✓',
      empty: '',
      int: 42,
      negative: -7,
      big: 2 ** 53 - 1,
      float: 1.5,
      integralFloat: new Float(3),
      nan: Number.NaN,
      inf: Number.NEGATIVE_INFINITY,
      negZero: -0,
      bigint: 123456789012345678901234567890n,
      smallBigint: 5n,
      yes: true,
      no: false,
      nothing: null,
      bytes: new Uint8Array([0, 1, 255]),
      noBytes: new Uint8Array(0),
      link: new Link(ID),
      nested: { deeper: { list: [1, 'two', [3.25, null]] } },
      list: [{ a: 'b' }, new Float(2), new Link(ID), 9n],
      emptyList: [],
      emptyMessage: {},
    }
    const decoded = decodeMessage(encodeMessage(message))
    expect(decoded).toEqual(message)
    expect(Object.keys(decoded)).toEqual(Object.keys(message))
    expect(decoded['integralFloat']).toBeInstanceOf(Float)
    expect(decoded['link']).toBeInstanceOf(Link)
    expect(typeof decoded['smallBigint']).toBe('bigint')
    expect(typeof decoded['int']).toBe('number')
    expect(Object.is(decoded['negZero'], -0)).toBe(true)
  })

  it('decodes binaries as plain Uint8Array, not Buffer', () => {
    const decoded = decodeMessage(encodeMessage({ b: new Uint8Array([1, 2]) }))
    expect(Object.getPrototypeOf(decoded['b'])).toBe(Uint8Array.prototype)
  })

  it('drops private keys at every depth', () => {
    const decoded = decodeMessage(
      encodeMessage({ a: 1, priv: { x: 1 }, privkey: 'z', nested: { private: 2, b: 3 } }),
    )
    expect(decoded).toEqual({ a: 1, nested: { b: 3 } })
  })

  it('keeps __proto__ and constructor as own data keys without polluting prototypes', () => {
    const message = JSON.parse('{"__proto__": {"polluted": true}, "constructor": "c"}') as Message
    const decoded = decodeMessage(encodeMessage(message))
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    expect(Object.hasOwn(decoded, '__proto__')).toBe(true)
    expect(decoded['__proto__']).toEqual({ polluted: true })
    expect(decoded['constructor']).toBe('c')
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
  })

  it('rejects a Live value anywhere outside private keys', () => {
    expect(() => encodeMessage({ a: { b: [new Live(1)] } })).toThrow(DeviceError)
    try {
      encodeMessage({ a: new Live(1) })
    } catch (error) {
      expect(DeviceError.is(error) && error.code).toBe('CODEC_INVALID')
      expect(DeviceError.is(error) && error.status).toBe(400)
    }
    expect(decodeMessage(encodeMessage({ priv: new Live(1), a: 1 }))).toEqual({ a: 1 })
  })

  it('rejects bytes that are not an encoded message', () => {
    expect(() => decodeMessage(encodeValue('just text'))).toThrow(/not a message/)
    expect(() => decodeMessage(new Uint8Array([0xdf, 0xff]))).toThrow(DeviceError)
  })
})

describe('encodeValue / decodeValue', () => {
  it.each<[string, Value]>([
    ['string', 'x'],
    ['integer', 7],
    ['float', 0.1],
    ['Float', new Float(10)],
    ['bigint', -(2n ** 70n)],
    ['null', null],
    ['list', [1, [2], { a: [] }]],
    ['binary', new Uint8Array([9])],
  ])('round-trips a %s', (_name, value) => {
    expect(decodeValue(encodeValue(value))).toEqual(value)
  })
})
