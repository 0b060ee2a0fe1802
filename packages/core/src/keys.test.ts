import { describe, expect, it } from 'vitest'
import { compareBytewise, escapeKey, setOwn, unescapeKey } from './keys.ts'

describe('compareBytewise', () => {
  it('orders like the UTF-8 bytes (Erlang binary order), not like UTF-16', () => {
    const keys = ['b', 'a', '\uffff', '😀', 'aa', '', 'A']
    const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
    expect([...keys].sort(compareBytewise)).toEqual(byBytes)
    expect(compareBytewise('😀', '\uffff')).toBeGreaterThan(0)
  })
})

describe('escapeKey / unescapeKey (hb_escape)', () => {
  it('keeps lowercase letters, digits and .-_/?& and escapes every other byte', () => {
    expect(escapeKey('a-b_c.d/e?f&g0')).toBe('a-b_c.d/e?f&g0')
    expect(escapeKey('Ab c%')).toBe('%41b%20c%25')
    expect(escapeKey('é')).toBe('%c3%a9')
  })

  it('round-trips any key and rejects malformed escapes', () => {
    for (const key of ['', 'Key With Spaces', '%41', 'ключ', '😀=",']) {
      expect(unescapeKey(escapeKey(key))).toBe(key)
    }
    expect(unescapeKey('%zz')).toBeUndefined()
    expect(unescapeKey('%ff')).toBeUndefined()
  })
})

describe('setOwn', () => {
  it('defines __proto__ as an own data key without touching the prototype', () => {
    const target: Record<string, number> = {}
    setOwn(target, '__proto__', 1)
    setOwn(target, 'x', 2)
    expect(Object.getPrototypeOf(target)).toBe(Object.prototype)
    expect(Object.keys(target)).toEqual(['__proto__', 'x'])
    expect(target['__proto__']).toBe(1)
  })
})
