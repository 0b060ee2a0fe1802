import { describe, expect, it } from 'vitest'
import { DeviceError } from './errors.ts'
import { id } from './id.ts'
import { Float, Link, Live } from './message.ts'
import type { Message } from './message.ts'
import { formatFloat, fromTABM, toTABM } from './structured.ts'
import type { TABM } from './structured.ts'

const LIST_ID = 'rhBzuiUVOm8BYSaACEEsWk17NYyYz70Ur-faWcSuD7g'
const CHILD_ID = 'U9sNtkRwwZaueznMtUhvdNo_43YrP2fVcTz6iqDvL1M'

describe('toTABM', () => {
  const message: Message = { a: 1, b: [1, 2], c: { d: true } }

  it('link mode matches HyperBEAM: children become key+link IDs', () => {
    const { tabm, children } = toTABM(message)
    expect(tabm).toEqual({
      a: '1',
      'ao-types': 'a="integer"',
      'b+link': LIST_ID,
      'c+link': CHILD_ID,
    })
    expect([...children.keys()].sort()).toEqual([LIST_ID, CHILD_ID].sort())
    expect(children.get(CHILD_ID)).toEqual({ 'ao-types': 'd="atom"', d: 'true' })
    expect(id([1, 2])).toBe(LIST_ID)
  })

  it('link mode returns grandchildren too, each under its own ID', () => {
    const { children } = toTABM({ x: { y: { z: 'deep' } } })
    expect(children.get(id({ z: 'deep' }))).toEqual({ z: 'deep' })
    expect(children.get(id({ y: { z: 'deep' } }))).toEqual({ 'y+link': id({ z: 'deep' }) })
  })

  it('bundle mode matches HyperBEAM: children stay nested, lists are numbered', () => {
    const { tabm, children } = toTABM(message, { bundle: true })
    expect(children.size).toBe(0)
    expect(tabm).toEqual({
      a: '1',
      'ao-types': 'a="integer"',
      b: { '1': '1', '2': '2', 'ao-types': '.="list", 1="integer", 2="integer"' },
      c: { 'ao-types': 'd="atom"', d: 'true' },
    })
  })

  it('writes floats as Erlang float_to_binary text', () => {
    expect(formatFloat(1.5)).toBe('1.50000000000000000000e+00')
    expect(formatFloat(-0.001)).toBe('-1.00000000000000002082e-03')
    expect(formatFloat(1e300)).toBe('1.00000000000000005250e+300')
    expect(toTABM([1, 2, 2.5]).tabm['ao-types']).toBe(
      '.="list", 1="integer", 2="integer", 3="float"',
    )
  })

  it('escapes ao-types keys with hb_escape and sorts entries by their bytes', () => {
    expect(toTABM({ Zed: 1, 'a b': null }).tabm['ao-types']).toBe('%5aed="integer", a%20b="atom"')
  })

  it('keeps binaries and links as they are and drops private keys', () => {
    const bytes = new Uint8Array([0, 255])
    expect(toTABM({ bin: bytes, ref: new Link(CHILD_ID), priv: { x: 1 } }).tabm).toEqual({
      bin: bytes,
      'ref+link': CHILD_ID,
    })
  })

  it('rejects Live values and reserved keys with DeviceErrors', () => {
    expect(() => toTABM({ a: new Live(1) })).toThrow(DeviceError)
    expect(() => toTABM({ 'ao-types': 'x' })).toThrow(/reserved/)
    expect(() => toTABM({ 'a+link': 'x' })).toThrow(/reserved/)
  })
})

describe('fromTABM', () => {
  it('round-trips every value type in bundle mode', () => {
    const message: Message = {
      text: 'hé',
      int: -12,
      big: 2n ** 80n,
      float: 0.25,
      integral: new Float(7),
      yes: true,
      no: false,
      nil: null,
      bytes: new Uint8Array([1, 2]),
      link: new Link(CHILD_ID),
      nested: { list: [1, [2, { x: 'y' }], []], empty: {} },
      A: 'upper case keys keep their case',
    }
    expect(fromTABM(toTABM(message, { bundle: true }).tabm)).toEqual(message)
  })

  it('turns link-mode children into Links', () => {
    expect(fromTABM(toTABM({ a: 1, c: { d: true } }).tabm)).toEqual({
      a: 1,
      c: new Link(CHILD_ID),
    })
  })

  it('returns a list for a TABM typed .="list"', () => {
    expect(fromTABM({ '1': 'a', '2': '2', 'ao-types': '.="list", 2="integer"' })).toEqual(['a', 2])
  })

  it('materialises the implicit empty types of the cache', () => {
    expect(fromTABM({ 'ao-types': 'm="empty-message", l="empty-list", b="empty-binary"' })).toEqual(
      { m: {}, l: [], b: '' },
    )
  })

  it('rejects malformed TABMs with CODEC_INVALID', () => {
    const bad: TABM[] = [
      { a: 'x', 'ao-types': 'a="integer"' },
      { a: '1', 'ao-types': 'a="mystery"' },
      { a: '1', 'ao-types': 'garbage' },
      { 'a+link': 'not-an-id' },
      { '1': 'a', '3': 'b', 'ao-types': '.="list"' },
      { a: 5 as unknown as string },
      { a: new Float(1) as unknown as TABM },
    ]
    for (const tabm of bad) {
      expect(() => fromTABM(tabm)).toThrow(DeviceError)
      try {
        fromTABM(tabm)
      } catch (error) {
        expect(DeviceError.is(error) && error.code).toBe('CODEC_INVALID')
      }
    }
  })
})
