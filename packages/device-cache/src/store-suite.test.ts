import { rmSync } from 'node:fs'
import type { Store } from '@aonode/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createStore } from './create-store.ts'
import { backends, tempDir } from './fixtures/backends.ts'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (value: Uint8Array | undefined): string | undefined =>
  value === undefined ? undefined : new TextDecoder().decode(value)

describe.each(backends)('$name store', (backend) => {
  let store: Store
  beforeEach(() => {
    store = backend.open()
  })
  afterEach(async () => {
    await store.close()
    backend.cleanup()
  })

  it('reads back what it wrote, and overwrites', async () => {
    expect(store.kind).toBe(backend.kind)
    await store.write('a/b', bytes('one'))
    expect(text(store.read('a/b'))).toBe('one')
    expect(store.type('a/b')).toBe('value')
    await store.write('a/b', bytes('two'))
    expect(text(store.read('a/b'))).toBe('two')
    expect(store.read('a/c')).toBeUndefined()
    expect(store.type('a/c')).toBeUndefined()
    expect(store.resolve('a/c')).toBeUndefined()
  })

  it('keeps its own copy of a written value', async () => {
    const value = bytes('abc')
    await store.write('k', value)
    value[0] = 0x7a
    const read = store.read('k') as Uint8Array
    expect(text(read)).toBe('abc')
    read[0] = 0x7a
    expect(text(store.read('k'))).toBe('abc')
  })

  it('stores empty values, every byte value and unicode keys', async () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i)
    const keys = [
      'ключ/😀',
      'k/\u0000nul',
      'k/\u0001\u001f',
      'k/é',
      'k/\uffff',
      'k/中文 key',
      'k/emoji😀x',
    ]
    await store.batch(keys.map((key) => ({ op: 'put', key, value: all })))
    await store.write('empty', new Uint8Array(0))
    for (const key of keys) expect(store.read(key)).toEqual(all)
    expect(store.read('empty')).toEqual(new Uint8Array(0))
    expect(store.type('empty')).toBe('value')
    // UTF-8 byte order: U+FFFF sorts before the 4-byte emoji, NUL first.
    expect(store.list('k')).toEqual([
      '\u0000nul',
      '\u0001\u001f',
      'emoji😀x',
      'é',
      '中文 key',
      '\uffff',
    ])
    expect(store.list('ключ')).toEqual(['😀'])
  })

  it('refuses keys that are malformed, with 400 and no write', async () => {
    const bad = ['', '/a', 'a/', 'a//b', 'x\ud800', 'k'.repeat(2000)]
    for (const key of bad) {
      await expect(store.write(key, bytes('v'))).rejects.toMatchObject({ status: 400 })
      expect(() => store.read(key)).toThrow(expect.objectContaining({ status: 400 }) as Error)
    }
    await expect(store.link('a', 'b//c')).rejects.toMatchObject({ status: 400 })
    expect(store.list('')).toEqual([])
  })

  it('stores a 10 MB binary', async () => {
    const big = new Uint8Array(10 * 1024 * 1024)
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff
    big[big.length - 1] = 0xee
    await store.write('data/big', big)
    const read = store.read('data/big') as Uint8Array
    expect(read.byteLength).toBe(big.byteLength)
    expect(Buffer.compare(read, big)).toBe(0)
  })

  it('puts ifAbsent only where the key holds nothing (value or link), and writes the rest', async () => {
    await store.batch([
      { op: 'put', key: 'data/held', value: bytes('first') },
      { op: 'link', key: 'data/linked', target: 'data/held' },
    ])
    await store.batch([
      { op: 'put', key: 'data/held', value: bytes('second'), ifAbsent: true },
      { op: 'put', key: 'data/linked', value: bytes('second'), ifAbsent: true },
      { op: 'put', key: 'data/new', value: bytes('new'), ifAbsent: true },
      { op: 'put', key: 'data/plain', value: bytes('plain') },
    ])
    expect(text(store.read('data/held'))).toBe('first')
    expect(store.type('data/linked')).toBe('link')
    expect(text(store.read('data/new'))).toBe('new')
    expect(text(store.read('data/plain'))).toBe('plain')
    // Only skipped puts: nothing changes, and the batch still resolves.
    await store.batch([{ op: 'put', key: 'data/new', value: bytes('other'), ifAbsent: true }])
    expect(text(store.read('data/new'))).toBe('new')
    // Within one batch, the first put of a key counts as what the key holds.
    await store.batch([
      { op: 'put', key: 'data/twice', value: bytes('one') },
      { op: 'put', key: 'data/twice', value: bytes('two'), ifAbsent: true },
    ])
    expect(['one', 'two']).toContain(text(store.read('data/twice')))
    await expect(
      store.batch([{ op: 'put', key: 'bad//key', value: bytes('x'), ifAbsent: true }]),
    ).rejects.toMatchObject({ status: 400 })
  })

  it('follows links, including links in the middle of a path', async () => {
    await store.write('messages/m1/body', bytes('hello'))
    await store.link('alias', 'messages/m1')
    await store.link('alias2', 'alias')
    expect(store.type('alias')).toBe('link')
    expect(store.type('messages/m1')).toBe('group')
    expect(store.resolve('alias2')).toBe('messages/m1')
    expect(text(store.read('alias2/body'))).toBe('hello')
    expect(store.resolve('alias2/body')).toBe('messages/m1/body')
    expect(store.type('alias2/body')).toBe('value')
    expect(store.list('alias2')).toEqual(['body'])
    await store.link('direct', 'messages/m1/body')
    expect(text(store.read('direct'))).toBe('hello')
    // A link to nothing resolves to nothing.
    await store.link('dangling', 'nowhere')
    expect(store.read('dangling')).toBeUndefined()
  })

  it('reports a link loop as 422 instead of spinning', async () => {
    await store.link('loop/a', 'loop/b')
    await store.link('loop/b', 'loop/a')
    expect(() => store.read('loop/a')).toThrow(expect.objectContaining({ status: 422 }) as Error)
  })

  it('lists direct children in byte order, with bounds, limit and reverse', async () => {
    const names = ['000000000010', '000000000002', '000000000100', '000000000001']
    await store.batch(
      names.map((name) => ({ op: 'put', key: `p/slot/${name}`, value: bytes(name) })),
    )
    await store.batch([
      { op: 'put', key: 'p/b', value: bytes('b') },
      { op: 'put', key: 'p/b!', value: bytes('b!') },
      { op: 'put', key: 'p/b/deep/er', value: bytes('x') },
      { op: 'put', key: 'p/b/c', value: bytes('x') },
      { op: 'put', key: 'p0', value: bytes('outside') },
      { op: 'put', key: 'p', value: bytes('the group key itself') },
    ])
    expect(store.list('p/slot')).toEqual([
      '000000000001',
      '000000000002',
      '000000000010',
      '000000000100',
    ])
    expect(store.list('p')).toEqual(['b', 'b!', 'slot'])
    expect(store.list('p', { reverse: true })).toEqual(['slot', 'b!', 'b'])
    expect(store.list('p/slot', { start: '000000000002', end: '000000000100' })).toEqual([
      '000000000002',
      '000000000010',
    ])
    expect(store.list('p/slot', { end: '000000000100', reverse: true, limit: 1 })).toEqual([
      '000000000010',
    ])
    expect(store.list('p/slot', { start: '000000000002', reverse: true })).toEqual([
      '000000000100',
      '000000000010',
      '000000000002',
    ])
    expect(store.list('p/slot', { limit: 2 })).toEqual(['000000000001', '000000000002'])
    expect(store.list('p/b')).toEqual(['c', 'deep'])
    expect(store.list('')).toEqual(['p', 'p0'])
    expect(store.list('nothing')).toEqual([])
  })

  it('orders a child that only has descendants by its name', async () => {
    const keys = ['q/n/x', 'q/n-a', 'q/n.b', 'q/m', 'q/n-a/deeper']
    await store.batch(keys.map((key) => ({ op: 'put', key, value: bytes(key) })))
    expect(store.list('q')).toEqual(['m', 'n', 'n-a', 'n.b'])
    expect(store.list('q', { limit: 2 })).toEqual(['m', 'n'])
    expect(store.list('q', { start: 'n', limit: 1 })).toEqual(['n'])
    expect(store.list('q', { reverse: true })).toEqual(['n.b', 'n-a', 'n', 'm'])
    expect(store.list('q', { reverse: true, limit: 2 })).toEqual(['n.b', 'n-a'])
    expect(store.list('q', { reverse: true, end: 'n.b', limit: 2 })).toEqual(['n-a', 'n'])
    expect(store.list('q', { end: 'n-' })).toEqual(['m', 'n'])
    expect(store.list('q', { start: 'n-', end: 'n/' })).toEqual(['n-a', 'n.b'])
  })

  it('commits a batch as a whole: a bad op anywhere writes nothing', async () => {
    await store.write('keep', bytes('old'))
    await expect(
      store.batch([
        { op: 'put', key: 'new/1', value: bytes('1') },
        { op: 'delete', key: 'keep' },
        { op: 'put', key: 'bad//key', value: bytes('2') },
      ]),
    ).rejects.toMatchObject({ status: 400 })
    expect(store.read('new/1')).toBeUndefined()
    expect(text(store.read('keep'))).toBe('old')
    await store.batch([
      { op: 'put', key: 'new/1', value: bytes('1') },
      { op: 'link', key: 'new/2', target: 'new/1' },
      { op: 'delete', key: 'keep' },
    ])
    expect(text(store.read('new/2'))).toBe('1')
    expect(store.read('keep')).toBeUndefined()
    expect(store.list('new')).toEqual(['1', '2'])
  })

  it('lands every concurrent write', async () => {
    await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        store.write(`c/${String(i).padStart(4, '0')}`, bytes(`${i}`)),
      ),
    )
    const names = store.list('c')
    expect(names).toHaveLength(500)
    expect(text(store.read('c/0499'))).toBe('499')
  })

  it('refuses use after close', async () => {
    await store.close()
    expect(() => store.read('a')).toThrow(expect.objectContaining({ status: 503 }) as Error)
    await expect(store.write('a', bytes('x'))).rejects.toMatchObject({ status: 503 })
    store = backend.open()
  })
})

describe('lmdb store on disk', () => {
  it('keeps everything across close and reopen', async () => {
    const dir = tempDir()
    try {
      const first = await createStore({ path: dir })
      await first.batch([
        { op: 'put', key: 'x/1', value: bytes('one') },
        { op: 'link', key: 'x/2', target: 'x/1' },
      ])
      await first.close()
      const second = await createStore({ kind: 'lmdb', path: dir })
      expect(text(second.read('x/2'))).toBe('one')
      expect(second.list('x')).toEqual(['1', '2'])
      await second.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('lmdb store without fsync', () => {
  it('still reads back what it wrote and keeps it across a reopen', async () => {
    const dir = tempDir()
    try {
      const first = await createStore({ path: dir, durable: false })
      await first.write('k', bytes('v'))
      expect(text(first.read('k'))).toBe('v')
      await first.close()
      const second = await createStore({ path: dir })
      expect(text(second.read('k'))).toBe('v')
      await second.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('createStore', () => {
  it('chooses the backend by kind, and refuses unknown kinds', async () => {
    const memory = await createStore({ kind: 'memory' })
    expect(memory.kind).toBe('memory')
    await memory.close()
    expect(() => createStore({ kind: 'nope' } as never)).toThrow(/unknown store kind/)
  })
})
