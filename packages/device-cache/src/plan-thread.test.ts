import { DeviceError, Float, id, Link, Live, type Message, type Store } from '@aonode/core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { backends } from './fixtures/backends.ts'
import { PlanThread } from './plan-thread.ts'
import { readMessage, writeMessages } from './message-cache.ts'
import { listSlots, readResult, writeResults, type ResultWrite } from './results.ts'

const PID = 'p'.repeat(43)

const result = (slot: number): Message => ({
  'at-slot': slot,
  ratio: new Float(slot),
  big: 2n ** 70n + BigInt(slot),
  ref: new Link('l'.repeat(43)),
  results: { output: { data: `out ${slot}` }, outbox: [{ target: 't'.repeat(43), n: slot }] },
})
const run = (from: number, count: number, of = result): ResultWrite[] =>
  Array.from({ length: count }, (_, i) => ({ process: PID, slot: from + i, result: of(from + i) }))

const encoder = new PlanThread()
beforeAll(async () => {
  await encoder.started()
})
afterAll(async () => {
  await encoder.close()
})

describe.each(backends)('PlanThread on the $name store', (backend) => {
  let store: Store
  beforeEach(() => {
    store = backend.open()
  })
  afterEach(async () => {
    await store.close()
    backend.cleanup()
  })

  it('stores what writeResults stores, with the same state IDs', async () => {
    const ids = await encoder.writeResults(store, run(0, 50))
    expect(ids).toEqual(run(0, 50).map((write) => id(write.result)))
    const other = backend.open()
    try {
      expect(await writeResults(other, run(0, 50))).toEqual(ids)
    } finally {
      await other.close()
    }
    for (const slot of [0, 17, 49]) {
      expect(readResult(store, PID, { slot })).toEqual(result(slot))
      expect(readResult(store, PID, { id: ids[slot] as string })).toEqual(result(slot))
    }
  })

  it('keeps a snapshot with its binaries', async () => {
    const memory = new Uint8Array(64 * 1024).map((_, i) => i & 0xff)
    const writes = run(0, 10)
    writes[9] = { ...(writes[9] as ResultWrite), snapshot: { memory } }
    await encoder.writeResults(store, writes)
    expect(store.list(`computed/${PID}/snapshot`)).toEqual(['000000000009'])
    expect(readResult(store, PID, { slot: 9 })).toEqual(result(9))
  })

  it('commits in call order, whichever thread planned a batch', async () => {
    const rewrite = (slot: number): Message => ({ 'at-slot': slot, rewritten: true })
    // The big batch goes to the thread; the one-slot rewrite after it must not land first.
    const big = encoder.writeResults(store, run(0, 200))
    const small = encoder.writeResults(store, run(150, 1, rewrite))
    await Promise.all([big, small])
    expect(readResult(store, PID, { slot: 150 })).toEqual(rewrite(150))
    expect(listSlots(store, PID)).toHaveLength(200)
  })

  it('answers a bad result with its 4xx and writes nothing of the batch', async () => {
    const writes = run(0, 20)
    writes[7] = { process: PID, slot: 7, result: { 'ao-types': 'reserved' } }
    const failure = await encoder.writeResults(store, writes).catch((error: unknown) => error)
    expect(DeviceError.is(failure)).toBe(true)
    expect((failure as DeviceError).status).toBe(422)
    expect((failure as DeviceError).message).toContain('ao-types')
    expect(listSlots(store, PID)).toEqual([])
    // The thread keeps serving.
    await encoder.writeResults(store, run(0, 20))
    expect(listSlots(store, PID)).toHaveLength(20)
  })
})

describe.each(backends)('PlanThread writing messages on the $name store', (backend) => {
  let store: Store
  beforeEach(() => {
    store = backend.open()
  })
  afterEach(async () => {
    await store.close()
    backend.cleanup()
  })

  const shared = { role: 'shared child', blob: new Uint8Array(8192).fill(7) }
  const message = (i: number): Message => ({
    type: 'Message',
    n: i,
    ratio: new Float(i / 4),
    big: 2n ** 64n + BigInt(i),
    ref: new Link('r'.repeat(43)),
    child: shared,
    data: `body ${i}`,
  })
  const messages = (count: number): Message[] => Array.from({ length: count }, (_, i) => message(i))

  it('stores what writeMessages stores, with the same IDs and the shared child once', async () => {
    const ids = await encoder.writeMessages(store, messages(40))
    expect(ids).toEqual(messages(40).map((m) => id(m)))
    const other = backend.open()
    try {
      expect(await writeMessages(other, messages(40))).toEqual(ids)
      expect(store.list('messages')).toEqual(other.list('messages'))
      expect(store.list('data')).toEqual(other.list('data'))
    } finally {
      await other.close()
    }
    // 40 messages, the child once, its binary once.
    expect(store.list('messages')).toHaveLength(41)
    expect(store.list('data')).toHaveLength(1)
    for (const i of [0, 21, 39]) expect(readMessage(store, ids[i] as string)).toEqual(message(i))
  })

  it('refuses a batch with an entry that is not a message, and writes nothing', async () => {
    const list = [...messages(20), 'not a message'] as unknown as Message[]
    expect(() => encoder.writeMessages(store, list)).toThrow(/entry 20 to write is not a message/)
    const live = [...messages(20), { held: new Live({}) }]
    const failure = await encoder.writeMessages(store, live).catch((error: unknown) => error)
    expect(DeviceError.is(failure) && failure.status).toBe(400)
    expect((failure as DeviceError).message).toMatch(/live value/)
    expect(store.list('messages')).toEqual([])
  })

  it('commits message and result batches in call order', async () => {
    const firstId = id(message(0))
    const results = encoder.writeResults(store, run(0, 30))
    const written = encoder.writeMessages(store, messages(30))
    const rewrite = encoder.writeResults(store, [{ process: PID, slot: 3, result: { n: 3 } }])
    await Promise.all([results, written, rewrite])
    expect(readResult(store, PID, { slot: 3 })).toEqual({ n: 3 })
    expect(readMessage(store, firstId)).toEqual(message(0))
  })
})

it('plans on the calling thread while its thread boots, and starts a new one after close', async () => {
  const own = new PlanThread()
  const [backend] = backends
  const store = (backend as (typeof backends)[number]).open()
  try {
    // Not booted yet: planned here, answered without waiting for the thread.
    await own.writeResults(store, run(0, 10))
    await own.started()
    await own.writeResults(store, run(10, 10))
    await own.close()
    await own.started()
    await own.writeResults(store, run(20, 10))
    expect(listSlots(store, PID)).toHaveLength(30)
  } finally {
    await own.close()
    await store.close()
  }
})
