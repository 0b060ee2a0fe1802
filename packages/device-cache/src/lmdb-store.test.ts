import { rmSync } from 'node:fs'
import { open } from 'lmdb'
import { encodeValue, id } from '@aonode/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { tempDir } from './fixtures/backends.ts'
import { BLOBS_DB, createLmdbStore } from './lmdb-store.ts'
import { readMessage } from './message-cache.ts'

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (value: Uint8Array | undefined): string | undefined =>
  value === undefined ? undefined : new TextDecoder().decode(value)
const big = (fill: string): Uint8Array => bytes(fill.repeat(300))

/** Reads the data directory with lmdb itself (the store must be closed). */
async function onDisk(dir: string): Promise<{ blobs: number[]; entries: Map<string, number> }> {
  const db = open<Buffer, string>({ path: dir, encoding: 'binary' })
  const blobs = db.openDB<Buffer, Buffer>(BLOBS_DB, { encoding: 'binary', keyEncoding: 'binary' })
  try {
    const sequences = [...blobs.getKeys()].map((key) => Number(key.readBigUInt64BE(0)))
    // Main entries by their tag byte (0 value, 1 link, 2 blob pointer).
    const entries = new Map<string, number>()
    for (const { key, value } of db.getRange()) {
      if (key !== BLOBS_DB) entries.set(key, value[0] as number)
    }
    return { blobs: sequences, entries }
  } finally {
    await db.close()
  }
}

describe('lmdb split layout', () => {
  let dir: string
  beforeEach(() => {
    dir = tempDir()
  })
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  it('keeps tiny values inline and larger ones in blobs, behind a pointer', async () => {
    const store = createLmdbStore({ path: dir })
    await store.batch([
      { op: 'put', key: 'tiny', value: bytes('x'.repeat(255)) },
      { op: 'put', key: 'large', value: bytes('y'.repeat(256)) },
      { op: 'link', key: 'alias', target: 'large' },
    ])
    expect(text(store.read('alias'))).toBe('y'.repeat(256))
    await store.close()
    const { blobs, entries } = await onDisk(dir)
    expect(Object.fromEntries(entries)).toEqual({ tiny: 0, large: 2, alias: 1 })
    expect(blobs).toEqual([0])
  })

  it('frees the old blob when a key is overwritten, relinked or deleted, in the same commit', async () => {
    const store = createLmdbStore({ path: dir })
    await store.batch([
      { op: 'put', key: 'a', value: big('a') },
      { op: 'put', key: 'b', value: big('b') },
      { op: 'put', key: 'c', value: big('c') },
      { op: 'put', key: 'd', value: big('d') },
    ])
    await store.write('a', big('A'))
    await store.write('b', bytes('small now'))
    await store.link('c', 'a')
    await store.batch([{ op: 'delete', key: 'd' }])
    expect(text(store.read('a'))).toBe('A'.repeat(300))
    expect(text(store.read('b'))).toBe('small now')
    expect(text(store.read('c'))).toBe('A'.repeat(300))
    expect(store.read('d')).toBeUndefined()
    await store.close()
    // Only a's new blob is left: the four first blobs (0..3) are gone.
    expect((await onDisk(dir)).blobs).toEqual([4])
  })

  it('leaks no blob when one key is written several times before a commit', async () => {
    const store = createLmdbStore({ path: dir })
    await store.write('k', big('0'))
    // Issued in one event turn: none of these sees the others in the database yet.
    await Promise.all([
      store.write('k', big('1')),
      store.write('k', big('2')),
      store.batch([
        { op: 'put', key: 'k', value: big('3') },
        { op: 'put', key: 'k', value: big('4') },
      ]),
    ])
    expect(text(store.read('k'))).toBe('4'.repeat(300))
    // Two turns in flight at once: the second frees the blob the first one writes.
    const first = store.write('k', big('5'))
    await Promise.resolve()
    await Promise.all([first, store.write('k', big('6'))])
    expect(text(store.read('k'))).toBe('6'.repeat(300))
    await store.close()
    expect((await onDisk(dir)).blobs).toEqual([6])
  })

  it('appends no blob for a put ifAbsent whose key is taken, and frees none', async () => {
    const store = createLmdbStore({ path: dir })
    await store.batch([{ op: 'put', key: 'data/a', value: big('a') }])
    await store.batch([
      { op: 'put', key: 'data/a', value: big('A'), ifAbsent: true },
      { op: 'put', key: 'data/b', value: big('b'), ifAbsent: true },
    ])
    // While two transactions are in flight, the next batches wait and go out together: the second
    // one's put of a key the first one writes is written again (that write may still fail).
    const busy = [store.write('data/y', big('y')), store.write('data/z', big('z'))]
    const first = store.write('data/c', big('c'))
    const again = store.batch([{ op: 'put', key: 'data/c', value: big('c'), ifAbsent: true }])
    await Promise.all([...busy, first, again])
    // Once that is committed, the key is taken: skipped.
    await store.batch([{ op: 'put', key: 'data/c', value: big('C'), ifAbsent: true }])
    expect(text(store.read('data/a'))).toBe('a'.repeat(300))
    expect(text(store.read('data/c'))).toBe('c'.repeat(300))
    await store.close()
    // a (0) kept; b, y, z (1-3) written; c twice (4 freed for 5): none leaked, none lost.
    expect((await onDisk(dir)).blobs).toEqual([0, 1, 2, 3, 5])
  })

  it('commits batches in call order when a large one arrives behind waiting small ones', async () => {
    const store = createLmdbStore({ path: dir })
    const busy = [store.write('busy/1', big('x')), store.write('busy/2', big('y'))]
    // Two transactions are in flight: the small batch waits, and the large one (which would get a
    // transaction of its own) must join it rather than overtake it.
    const small = store.write('key', big('1'))
    const large = store.batch(
      Array.from({ length: 100 }, (_, i) => ({
        op: 'put' as const,
        key: i === 99 ? 'key' : `filler/${i}`,
        value: big(i === 99 ? '2' : 'f'),
      })),
    )
    await Promise.all([...busy, small, large])
    expect(text(store.read('key'))).toBe('2'.repeat(300))
    await store.close()
  })

  it('writes batches still waiting for a group commit before it closes', async () => {
    const store = createLmdbStore({ path: dir })
    const writes = Array.from({ length: 20 }, (_, i) =>
      store.write(`wait/${i}`, big(String(i % 10))),
    )
    await store.close()
    await Promise.all(writes)
    const reopened = createLmdbStore({ path: dir })
    expect(reopened.list('wait')).toHaveLength(20)
    await reopened.close()
  })

  it('reuses write buffers without mixing up the values of batches in flight', async () => {
    const store = createLmdbStore({ path: dir })
    const round = (r: number) =>
      Array.from({ length: 8 }, (_, b) =>
        store.batch(
          Array.from({ length: 50 }, (_, i) => ({
            op: 'put' as const,
            key: `k/${b}/${i}`,
            value: big(String((r + b + i) % 10)),
          })),
        ),
      )
    for (let r = 0; r < 3; r++) await Promise.all(round(r))
    for (let b = 0; b < 8; b++) {
      for (let i = 0; i < 50; i++)
        expect(text(store.read(`k/${b}/${i}`))).toBe(String((2 + b + i) % 10).repeat(300))
    }
    await store.close()
  })

  it('continues the blob sequence after a reopen, and reads what the last session wrote', async () => {
    const first = createLmdbStore({ path: dir })
    await first.batch([
      { op: 'put', key: 'one', value: big('1') },
      { op: 'put', key: 'two', value: big('2') },
    ])
    await first.write('one', big('3'))
    await first.close()
    expect((await onDisk(dir)).blobs).toEqual([1, 2])

    const second = createLmdbStore({ path: dir })
    await second.write('three', big('4'))
    expect(text(second.read('one'))).toBe('3'.repeat(300))
    expect(text(second.read('two'))).toBe('2'.repeat(300))
    expect(text(second.read('three'))).toBe('4'.repeat(300))
    await second.close()
    expect((await onDisk(dir)).blobs).toEqual([1, 2, 3])
  })

  it('reads a data directory written before the split layout (every value inline)', async () => {
    // The old layout: one database, each value tagged 0 (bytes) or 1 (link target), nothing else.
    const message = { type: 'Message', data: 'from before' }
    const messageId = id(message)
    // A message record as the message cache writes it: encodeValue([keys, nested, data]).
    const value = encodeValue([message, [], []])
    const old = open<Buffer, string>({ path: dir, encoding: 'binary', pageSize: 8192 })
    await old.put(`messages/${messageId}`, Buffer.concat([Buffer.from([0]), value]))
    await old.put('plain', Buffer.concat([Buffer.from([0]), Buffer.from('x'.repeat(500))]))
    await old.put(`commitments/${'c'.repeat(43)}`, Buffer.from(`\u0001messages/${messageId}`))
    await old.close()

    const store = createLmdbStore({ path: dir })
    expect(readMessage(store, messageId)).toEqual({ type: 'Message', data: 'from before' })
    expect(readMessage(store, 'c'.repeat(43))).toEqual({ type: 'Message', data: 'from before' })
    expect(text(store.read('plain'))).toBe('x'.repeat(500))
    expect(store.list('')).toEqual(['commitments', 'messages', 'plain'])
    // Overwriting an old inline value frees nothing and moves it to blobs.
    await store.write('plain', big('n'))
    expect(text(store.read('plain'))).toBe('n'.repeat(300))
    await store.close()
    const { blobs, entries } = await onDisk(dir)
    expect(blobs).toEqual([0])
    expect(entries.get('plain')).toBe(2)
  })

  it('refuses a second store on a directory that is open, with 409', async () => {
    const store = createLmdbStore({ path: dir })
    expect(() => createLmdbStore({ path: `${dir}/.` })).toThrow(
      expect.objectContaining({ status: 409 }) as Error,
    )
    await store.close()
    const again = createLmdbStore({ path: dir })
    await again.close()
  })

  it('fails a commit loudly (500) when another writer took its blob sequence numbers', async () => {
    const store = createLmdbStore({ path: dir })
    await store.write('mine', big('1'))
    // Another writer (here lmdb itself, on the same environment) appends far ahead of this store.
    const other = open<Buffer, string>({ path: dir, encoding: 'binary' })
    const otherBlobs = other.openDB<Buffer, Buffer>(BLOBS_DB, {
      encoding: 'binary',
      keyEncoding: 'binary',
    })
    const ahead = Buffer.alloc(8)
    ahead.writeUInt32BE(1000, 4)
    await otherBlobs.put(ahead, Buffer.from('theirs'))
    await expect(store.write('next', big('2'))).rejects.toMatchObject({ status: 500 })
    await store.close()
    await other.close()
  })

  it('never lists the blobs database among the keys', async () => {
    const store = createLmdbStore({ path: dir })
    await store.write('-', bytes('below the name'))
    await store.write('0', big('above the name'))
    expect(store.list('')).toEqual(['-', '0'])
    expect(store.list('', { reverse: true })).toEqual(['0', '-'])
    expect(store.type('blobs')).toBeUndefined()
    await store.close()
  })
})
