import { Float, id, Link, Live, type Message, type Store } from '@aonode/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { setDecodedCacheSize } from './decoded-cache.ts'
import { backends } from './fixtures/backends.ts'
import {
  dataHash,
  INLINE_LIMIT,
  linkCommitment,
  readById,
  readMessage,
  writeData,
  writeMessage,
  writeMessages,
} from './message-cache.ts'

const OTHER_ID = 'A'.repeat(43)

function typed(): Message {
  const proto: Record<string, unknown> = {}
  Object.defineProperty(proto, '__proto__', { value: 'data', enumerable: true })
  return {
    integer: 42,
    negative: -7,
    'minus-zero': -0,
    float: 1.5,
    'integral-float': new Float(2),
    huge: 123456789012345678901234567890n,
    yes: true,
    no: false,
    nothing: null,
    text: 'héllo wörld 😀',
    'empty-text': '',
    bytes: Uint8Array.of(0, 1, 2, 255),
    'empty-bytes': new Uint8Array(0),
    list: [1, 'two', [3], { four: 4 }, Uint8Array.of(5)],
    'empty-list': [],
    'empty-message': {},
    link: new Link(OTHER_ID),
    nested: { deeper: { deepest: 'bottom', n: 1 } },
    odd: proto as Message,
  }
}

describe.each(backends)('message cache on the $name store', (backend) => {
  let store: Store
  beforeEach(() => {
    store = backend.open()
  })
  afterEach(async () => {
    await store.close()
    backend.cleanup()
  })

  it('reads back exactly what it wrote: typed values, nesting, binaries', async () => {
    const message = typed()
    const messageId = await writeMessage(store, message)
    expect(messageId).toBe(id(message))
    const read = readMessage(store, messageId) as Message
    expect(read).toEqual(message)
    expect(Object.is(read['minus-zero'], -0)).toBe(true)
    expect(read['integral-float']).toBeInstanceOf(Float)
    expect(read['link']).toBeInstanceOf(Link)
    expect(Object.getPrototypeOf((read['odd'] as Message)['__proto__'])).toBe(String.prototype)
    expect(Object.keys(read)).toEqual(Object.keys(message))
  })

  it('stores the empty message', async () => {
    const messageId = await writeMessage(store, {})
    expect(readMessage(store, messageId)).toEqual({})
  })

  it('stores every nested message under its own ID, at any depth', async () => {
    const leaf = { deepest: 'bottom', n: 1, big: new Uint8Array(INLINE_LIMIT).fill(3) }
    const middle = { leaf, list: [{ in: 'list' }], empty: {}, 'Mixed-Case': 'v' }
    const top = { middle, same: middle, other: { leaf }, priv: { hidden: true } }
    const topId = await writeMessage(store, top)
    expect(topId).toBe(id(top))
    for (const child of [leaf, middle, { leaf }, {}] as Message[]) {
      expect(readMessage(store, id(child), { lazy: true }), JSON.stringify(child)).toBeDefined()
    }
    expect(readMessage(store, id({ hidden: true }))).toBeUndefined()
    const lazy = readMessage(store, topId, { lazy: true }) as Message
    expect(lazy['middle']).toEqual(new Link(id(middle)))
    expect(lazy['other']).toEqual(new Link(id({ leaf })))
    expect(readMessage(store, topId)).toEqual({ middle, same: middle, other: { leaf } })
  })

  it('refuses a live value deep in a tree, naming its path, and writes nothing', async () => {
    const write = writeMessage(store, { a: 1, outer: { inner: { bad: new Live({}) } } })
    await expect(write).rejects.toMatchObject({ status: 400 })
    await expect(write).rejects.toThrow(/outer\/inner\/bad/)
    expect(store.list('messages')).toEqual([])
  })

  it('drops private keys and refuses live values', async () => {
    const messageId = await writeMessage(store, { a: 1, priv: new Live({}), 'priv-x': 2 })
    expect(readMessage(store, messageId)).toEqual({ a: 1 })
    await expect(writeMessage(store, { a: new Live({}) })).rejects.toMatchObject({ status: 400 })
  })

  it('stores nested messages and large binaries once', async () => {
    const image = new Uint8Array(10 * 1024 * 1024).map((_, i) => i % 251)
    const shared = { code: image, kind: 'module' }
    const first = await writeMessage(store, { name: 'one', module: shared, raw: image })
    const second = await writeMessage(store, { name: 'two', module: shared })
    expect(store.list('data')).toEqual([dataHash(image)])
    // Two top-level messages and the shared nested one.
    expect(store.list('messages')).toHaveLength(3)
    const read = readMessage(store, second) as Message
    expect(Buffer.compare((read['module'] as Message)['code'] as Uint8Array, image)).toBe(0)
    expect(Buffer.compare(readMessage(store, first)?.['raw'] as Uint8Array, image)).toBe(0)
    // Writing the same message again changes nothing.
    const before = store.list('messages')
    expect(await writeMessage(store, { name: 'two', module: shared })).toBe(second)
    expect(store.list('messages')).toEqual(before)
  })

  it('writes a batch of messages in one commit and returns their IDs in order', async () => {
    const shared = { kind: 'shared', n: 1 }
    const messages: Message[] = [
      { name: 'a', shared },
      { name: 'b', shared },
      { name: 'a', shared },
      typed(),
    ]
    const ids = await writeMessages(store, messages)
    expect(ids).toEqual(messages.map((message) => id(message)))
    for (const [i, messageId] of ids.entries()) {
      expect(readMessage(store, messageId)).toEqual(messages[i])
    }
    // a, b, the typed one, the shared nested message and the typed one's nested messages, each once.
    expect(new Set(store.list('messages')).size).toBe(store.list('messages').length)
    expect(store.list('messages')).toContain(id(shared))
    expect(await writeMessages(store, [])).toEqual([])
  })

  it('writes nothing of a batch that holds a bad message', async () => {
    const live = writeMessages(store, [{ a: 1 }, { b: 2 }, { c: new Live({}) }])
    await expect(live).rejects.toMatchObject({ status: 400 })
    const notMessage = writeMessages(store, [{ a: 1 }, 'text' as unknown as Message])
    await expect(notMessage).rejects.toMatchObject({ status: 400 })
    await expect(notMessage).rejects.toThrow(/entry 1/)
    expect(store.list('messages')).toEqual([])
  })

  it('keeps small binaries inline and large ones under data/', async () => {
    const small = new Uint8Array(INLINE_LIMIT - 1).fill(1)
    const large = new Uint8Array(INLINE_LIMIT).fill(2)
    await writeMessage(store, { small, large })
    expect(store.list('data')).toEqual([dataHash(large)])
  })

  it('reads lazily: nested messages and large binaries as links', async () => {
    const large = new Uint8Array(INLINE_LIMIT).fill(3)
    const message = { inner: { x: 1 }, large, small: 'text' }
    const messageId = await writeMessage(store, message)
    const lazy = readMessage(store, messageId, { lazy: true }) as Message
    expect(lazy['small']).toBe('text')
    expect(lazy['inner']).toEqual(new Link(id({ x: 1 })))
    expect(lazy['large']).toEqual(new Link(dataHash(large)))
    expect(readById(store, (lazy['inner'] as Link).id)).toEqual({ x: 1 })
    expect(readById(store, (lazy['large'] as Link).id)).toEqual(large)
  })

  it('reads a message by a commitment ID', async () => {
    const messageId = await writeMessage(store, { signed: 'yes' })
    await linkCommitment(store, OTHER_ID, messageId)
    expect(readMessage(store, OTHER_ID)).toEqual({ signed: 'yes' })
    expect(readById(store, OTHER_ID)).toEqual({ signed: 'yes' })
  })

  it('reads a binary written alone by its hash', async () => {
    const bytes = Uint8Array.of(9, 8, 7)
    const hash = await writeData(store, bytes)
    expect(hash).toBe(dataHash(bytes))
    expect(readById(store, hash)).toEqual(bytes)
    expect(readMessage(store, hash)).toBeUndefined()
  })

  it('serves repeated reads from decoded messages that readers cannot corrupt', async () => {
    const message = { a: 1, nested: { b: [2, { c: 3 }] } }
    const messageId = await writeMessage(store, message)
    const first = readMessage(store, messageId) as Record<string, unknown>
    first['a'] = 'changed'
    delete first['nested']
    const second = readMessage(store, messageId) as Message
    expect(second).toEqual(message)
    expect(Object.isFrozen(second['nested'])).toBe(true)
    expect(() => {
      ;(second['nested'] as Record<string, unknown>)['b'] = 0
    }).toThrow(TypeError)
    // Messages with binaries are fresh on every read, and theirs to change.
    const withBytes = await writeMessage(store, { bytes: Uint8Array.of(1), inner: { x: 1 } })
    const owned = readMessage(store, withBytes) as Message
    ;(owned['bytes'] as Uint8Array)[0] = 9
    ;(owned['inner'] as Record<string, unknown>)['x'] = 2
    expect(readMessage(store, withBytes)).toEqual({ bytes: Uint8Array.of(1), inner: { x: 1 } })
  })

  it('reads without the decoded cache when it is turned off', async () => {
    setDecodedCacheSize(store, 0)
    const messageId = await writeMessage(store, { nested: { b: 1 } })
    const read = readMessage(store, messageId) as Message
    expect(read).toEqual({ nested: { b: 1 } })
    expect(Object.isFrozen(read['nested'])).toBe(false)
  })

  it('answers undefined for a missing ID and 400 for a malformed one', () => {
    expect(readMessage(store, OTHER_ID)).toBeUndefined()
    for (const bad of ['short', '../../etc/passwd', 'A'.repeat(42) + '/', 'A'.repeat(44)]) {
      expect(() => readMessage(store, bad)).toThrow(
        expect.objectContaining({ status: 400 }) as Error,
      )
    }
  })
})
