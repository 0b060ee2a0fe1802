import { inspect, isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeMessage, decodeValue, encodeMessage, encodeValue } from './binary.ts'
import { DeviceError } from './errors.ts'
import { fromJSON, toJSON } from './json.ts'
import { setOwn } from './keys.ts'
import { key, leaf, message } from './fixtures/arbitrary-message.ts'
import { Float, isMessage } from './message.ts'
import type { Value } from './message.ts'
import { fromTABM, toTABM } from './structured.ts'

const RUNS = 10_000
/** What json@1.0 documents: UTF-8 bytes come back as text. */
function jsonForm(value: Value): Value {
  if (value instanceof Uint8Array) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(value)
    } catch {
      return value
    }
  }
  if (Array.isArray(value)) return (value as readonly Value[]).map(jsonForm)
  if (isMessage(value)) {
    const out: Record<string, Value> = {}
    for (const k of Object.keys(value)) {
      setOwn(out, k, jsonForm(value[k] as Value))
    }
    return out
  }
  return value
}

function hasNonFinite(value: Value): boolean {
  if (typeof value === 'number') return !Number.isFinite(value)
  if (value instanceof Float) return !Number.isFinite(value.value)
  if (Array.isArray(value)) return (value as readonly Value[]).some(hasNonFinite)
  if (isMessage(value)) return Object.values(value).some(hasNonFinite)
  return false
}

/** Strict structural equality (prototypes, SameValue numbers, bytes); vitest's toEqual is too slow here. */
function expectSame(actual: unknown, expected: unknown): void {
  if (!isDeepStrictEqual(actual, expected)) {
    expect.fail(`${inspect(actual, { depth: 9 })}\n  !==\n${inspect(expected, { depth: 9 })}`)
  }
}

function expectDeviceError(run: () => unknown): void {
  try {
    run()
  } catch (error) {
    expect(DeviceError.is(error), String(error)).toBe(true)
  }
}

describe('codec fuzzing', () => {
  it(`round-trips ${RUNS} random messages through binary, structured (bundle) and json`, () => {
    fc.assert(
      fc.property(message, (input) => {
        expectSame(decodeMessage(encodeMessage(input)), input)
        expectSame(fromTABM(toTABM(input, { bundle: true }).tabm), input)
        if (hasNonFinite(input)) {
          expect(() => toJSON(input)).toThrow(DeviceError)
        } else {
          expectSame(fromJSON(toJSON(input)), jsonForm(input))
        }
      }),
      { numRuns: RUNS },
    )
  })

  it('round-trips arbitrary values through encodeValue', () => {
    const { value } = fc.letrec<{ value: Value }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(key, tie('value'), { maxKeys: 3, noNullPrototype: true }),
      ),
    }))
    fc.assert(
      fc.property(value, (input) => {
        expectSame(decodeValue(encodeValue(input)), input)
      }),
      { numRuns: 2_000 },
    )
  })

  it('answers garbage input with DeviceErrors only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.string({ maxLength: 40 }), (bytes, text) => {
        expectDeviceError(() => decodeMessage(bytes))
        expectDeviceError(() => fromJSON(text))
        expectDeviceError(() => fromTABM({ a: text, 'ao-types': `a="${text}"` }))
        expectDeviceError(() => fromTABM({ 'ao-types': text }))
      }),
      { numRuns: 2_000 },
    )
  })
})
