import { describe, expect, it } from 'vitest'
import { createTestStore } from './memory-store.ts'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

describe('createTestStore', () => {
  it('reads values, follows links in any path segment, and lists groups in byte order', async () => {
    const store = createTestStore()
    await store.write('messages/A/b', bytes('1'))
    await store.write('messages/A/a', bytes('2'))
    await store.write('messages/A/Z', bytes('3'))
    await store.link('alias', 'messages/A')
    expect(store.read('alias/b')).toEqual(bytes('1'))
    expect(store.resolve('alias/b')).toBe('messages/A/b')
    expect(store.type('alias')).toBe('group')
    expect(store.type('alias/a')).toBe('value')
    expect(store.type('missing')).toBeUndefined()
    expect(store.resolve('missing')).toBeUndefined()
    expect(store.list('alias')).toEqual(['Z', 'a', 'b'])
    expect(store.list('messages/A', { start: 'a', limit: 1 })).toEqual(['a'])
    expect(store.list('messages/A', { end: 'b', reverse: true })).toEqual(['a', 'Z'])
  })

  it('stores a copy of written bytes', async () => {
    const store = createTestStore()
    const value = bytes('abc')
    await store.write('k', value)
    value.fill(0)
    expect(store.read('k')).toEqual(bytes('abc'))
  })

  it('applies a batch all or nothing', async () => {
    const store = createTestStore()
    await expect(
      store.batch([
        { op: 'put', key: 'ok', value: bytes('1') },
        { op: 'put', key: '', value: bytes('2') },
      ]),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    expect(store.read('ok')).toBeUndefined()
    await store.batch([
      { op: 'put', key: 'a', value: bytes('1') },
      { op: 'delete', key: 'a' },
    ])
    expect(store.read('a')).toBeUndefined()
  })

  it('detects link cycles and refuses use after close', async () => {
    const store = createTestStore()
    await store.link('x', 'y')
    await store.link('y', 'x')
    expect(() => store.read('x')).toThrow('link cycle')
    await store.close()
    expect(() => store.read('x')).toThrow('closed')
  })
})
