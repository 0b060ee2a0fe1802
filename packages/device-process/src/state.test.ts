import { id, type Message } from '@aonode/core'
import { describe, expect, it } from 'vitest'
import { definitionId, processOf } from './state.ts'

const definition = (extra: Message = {}): Message => ({
  type: 'Process',
  device: 'process@1.0',
  'execution-device': 'test-exec@1.0',
  nonce: 7,
  ...extra,
})

describe('definitionId', () => {
  it('is the unsigned ID, for every copy of a definition', () => {
    for (let copy = 0; copy < 3; copy++) {
      expect(definitionId({ ...definition() })).toBe(id(definition()))
    }
  })

  it('tells apart contents that differ only in type, key or value boundaries', () => {
    const variants: Message[] = [
      definition({ x: 1 }),
      definition({ x: '1' }),
      definition({ x: true }),
      definition({ x: 'true' }),
      definition({ x: 'ab', y: 'c' }),
      definition({ x: 'a', y: 'bc' }),
      definition({ 'x1:y': 'z' }),
      definition({ x: 'y:z' }),
      definition({ x: { nested: 'message' } }),
      definition({ x: new Uint8Array([1, 2]) }),
    ]
    for (const variant of variants) expect(definitionId({ ...variant })).toBe(id(variant))
    expect(new Set(variants.map((variant) => definitionId(variant))).size).toBe(variants.length)
  })
})

describe('processOf', () => {
  it('answers one frozen definition object for every copy of the same content', () => {
    const first = processOf({ ...definition() })
    const second = processOf({ ...definition(), 'extra-base-key': 'kept' })
    const again = processOf({ ...definition() })
    expect(first?.pid).toBe(id(definition()))
    expect(again?.definition).toBe(first?.definition)
    expect(Object.isFrozen(first?.definition)).toBe(true)
    expect(first?.base['process']).toBe(first?.definition)
    // Another content is another definition.
    expect(second?.pid).not.toBe(first?.pid)
    // A state's `process` key also maps to the kept object.
    const state = processOf({ process: { ...definition() }, 'at-slot': 3 })
    expect(state?.definition).toBe(first?.definition)
    expect(state?.base).toMatchObject({ 'at-slot': 3, process: first?.definition })
  })

  it('is undefined for a message that is neither a state nor a definition', () => {
    expect(processOf({ type: 'Message', action: 'Eval' })).toBeUndefined()
  })
})
