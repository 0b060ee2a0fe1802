import { DeviceError, Float, id, Link, type Message, type Store } from '@aonode/core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { backends } from './fixtures/backends.ts'
import { ResultEncoder } from './result-encoder.ts'
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

const encoder = new ResultEncoder()
beforeAll(async () => {
  await encoder.started()
})
afterAll(async () => {
  await encoder.close()
})

describe.each(backends)('ResultEncoder on the $name store', (backend) => {
  let store: Store
  beforeEach(() => {
    store = backend.open()
  })
  afterEach(async () => {
    await store.close()
    backend.cleanup()
  })

  it('stores what writeResults stores, with the same state IDs', async () => {
    const ids = await encoder.write(store, run(0, 50))
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
    await encoder.write(store, writes)
    expect(store.list(`computed/${PID}/snapshot`)).toEqual(['000000000009'])
    expect(readResult(store, PID, { slot: 9 })).toEqual(result(9))
  })

  it('commits in call order, whichever thread planned a batch', async () => {
    const rewrite = (slot: number): Message => ({ 'at-slot': slot, rewritten: true })
    // The big batch goes to the thread; the one-slot rewrite after it must not land first.
    const big = encoder.write(store, run(0, 200))
    const small = encoder.write(store, run(150, 1, rewrite))
    await Promise.all([big, small])
    expect(readResult(store, PID, { slot: 150 })).toEqual(rewrite(150))
    expect(listSlots(store, PID)).toHaveLength(200)
  })

  it('answers a bad result with its 4xx and writes nothing of the batch', async () => {
    const writes = run(0, 20)
    writes[7] = { process: PID, slot: 7, result: { 'ao-types': 'reserved' } }
    const failure = await encoder.write(store, writes).catch((error: unknown) => error)
    expect(DeviceError.is(failure)).toBe(true)
    expect((failure as DeviceError).status).toBe(422)
    expect((failure as DeviceError).message).toContain('ao-types')
    expect(listSlots(store, PID)).toEqual([])
    // The thread keeps serving.
    await encoder.write(store, run(0, 20))
    expect(listSlots(store, PID)).toHaveLength(20)
  })
})

it('plans on the calling thread while its thread boots, and starts a new one after close', async () => {
  const own = new ResultEncoder()
  const [backend] = backends
  const store = (backend as (typeof backends)[number]).open()
  try {
    // Not booted yet: planned here, answered without waiting for the thread.
    await own.write(store, run(0, 10))
    await own.started()
    await own.write(store, run(10, 10))
    await own.close()
    await own.started()
    await own.write(store, run(20, 10))
    expect(listSlots(store, PID)).toHaveLength(30)
  } finally {
    await own.close()
    await store.close()
  }
})
