import { id, Live, type Message, type Store } from '@aonode/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { backends } from './fixtures/backends.ts'
import { messageKey, writeMessage } from './message-cache.ts'
import { latestResult, listSlots, readResult, writeResult, writeResults } from './results.ts'

const PID = 'p'.repeat(43)
const OTHER = 'q'.repeat(43)

const result = (slot: number): Message => ({ 'at-slot': slot, results: { output: `out ${slot}` } })
const snapshot = (slot: number): Message => ({ memory: new Uint8Array(8192).fill(slot & 0xff) })

describe.each(backends)('process results on the $name store', (backend) => {
  let store: Store
  beforeEach(() => {
    store = backend.open()
  })
  afterEach(async () => {
    await store.close()
    backend.cleanup()
  })

  it('reads a slot back by slot and by state ID', async () => {
    const stateId = await writeResult(store, { process: PID, slot: 3, result: result(3) })
    expect(stateId).toBe(id(result(3)))
    expect(readResult(store, PID, { slot: 3 })).toEqual(result(3))
    expect(readResult(store, PID, { id: stateId })).toEqual(result(3))
    expect(readResult(store, PID, { slot: 4 })).toBeUndefined()
    expect(readResult(store, OTHER, { slot: 3 })).toBeUndefined()
    expect(readResult(store, OTHER, { id: stateId })).toBeUndefined()
  })

  it('orders slots numerically and lists them with bounds', async () => {
    for (const slot of [100, 2, 10, 0, 1]) {
      await writeResult(store, { process: PID, slot, result: result(slot) })
    }
    expect(listSlots(store, PID)).toEqual([0, 1, 2, 10, 100])
    expect(listSlots(store, PID, { from: 1, to: 10 })).toEqual([1, 2, 10])
    expect(listSlots(store, PID, { from: 3, limit: 1 })).toEqual([10])
    expect(listSlots(store, OTHER)).toEqual([])
  })

  it('finds the latest slot, and the latest with a snapshot', async () => {
    const pending: Promise<string>[] = []
    for (let slot = 0; slot <= 12; slot++) {
      pending.push(
        writeResult(store, {
          process: PID,
          slot,
          result: result(slot),
          ...(slot % 5 === 0 && { snapshot: snapshot(slot) }),
        }),
      )
    }
    await Promise.all(pending)
    expect(latestResult(store, PID)).toEqual({ slot: 12, result: result(12) })
    expect(latestResult(store, PID, { to: 10 })).toEqual({
      slot: 10,
      result: result(10),
      snapshot: snapshot(10),
    })
    expect(latestResult(store, PID, { to: 9, withSnapshot: true })).toEqual({
      slot: 5,
      result: result(5),
      snapshot: snapshot(5),
    })
    expect(latestResult(store, PID, { withSnapshot: true })?.slot).toBe(10)
    expect(latestResult(store, OTHER)).toBeUndefined()
  })

  it('adds a snapshot to a slot written before', async () => {
    await writeResult(store, { process: PID, slot: 7, result: result(7) })
    expect(latestResult(store, PID, { withSnapshot: true })).toBeUndefined()
    await writeResult(store, { process: PID, slot: 7, result: result(7), snapshot: snapshot(7) })
    expect(latestResult(store, PID, { withSnapshot: true })?.snapshot).toEqual(snapshot(7))
  })

  it('keeps small nested messages inside the slot record and reads them back the same', async () => {
    const big = new Uint8Array(10_000).fill(7)
    const state = (slot: number): Message => ({
      'at-slot': slot,
      results: { output: { count: slot }, outbox: {} },
      large: { blob: big },
    })
    const ids = await writeResults(
      store,
      [0, 1].map((slot) => ({ process: PID, slot, result: state(slot) })),
    )
    expect(ids).toEqual([id(state(0)), id(state(1))])
    expect(readResult(store, PID, { slot: 1 })).toEqual(state(1))
    expect(readResult(store, PID, { id: id(state(0)) })).toEqual(state(0))
    // One record per state, at its slot; the nested message holding a large binary keeps its own.
    expect(store.type(`computed/${PID}/slot/000000000001`)).toBe('value')
    expect(store.type(messageKey(id(state(1))))).toBeUndefined()
    expect(store.type(messageKey(id(state(1)['results'] as Message)))).toBeUndefined()
    expect(store.type(messageKey(id({ blob: big })))).toBe('value')
  })

  it('stores one entry per slot and one state-ID index per run of consecutive slots', async () => {
    const ids = await writeResults(store, [
      { process: PID, slot: 4, result: result(4), snapshot: snapshot(4) },
      { process: PID, slot: 5, result: result(5) },
      { process: PID, slot: 6, result: result(6) },
      { process: PID, slot: 9, result: result(9) },
      { process: OTHER, slot: 10, result: result(10) },
    ])
    expect(store.list(`computed/${PID}`)).toEqual(['ids', 'slot', 'snapshot'])
    expect(store.list(`computed/${PID}/ids`)).toEqual([
      '000000000004-000000000006',
      '000000000009-000000000009',
    ])
    expect(store.list(`computed/${OTHER}/ids`)).toEqual(['000000000010-000000000010'])
    expect(store.list(`computed/${PID}/slot`)).toHaveLength(4)
    expect(store.list('messages')).toEqual([])
    const slots = [4, 5, 6, 9, 10]
    ids.forEach((stateId, i) => {
      const pid = i === 4 ? OTHER : PID
      expect(readResult(store, pid, { id: stateId })).toEqual(result(slots[i] as number))
    })
  })

  it('finds every state ID of a long run, and none of another process', async () => {
    const writes = Array.from({ length: 250 }, (_, slot) => ({
      process: PID,
      slot,
      result: result(slot),
    }))
    const ids = await writeResults(store, writes)
    for (const slot of [0, 1, 127, 248, 249]) {
      expect(readResult(store, PID, { id: ids[slot] as string })).toEqual(result(slot))
    }
    expect(readResult(store, OTHER, { id: ids[0] as string })).toBeUndefined()
    expect(readResult(store, PID, { id: id({ never: 'written' }) })).toBeUndefined()
  })

  it('keeps the other slots of a run findable when one of them is rewritten', async () => {
    const ids = await writeResults(
      store,
      [1, 2, 3].map((slot) => ({ process: PID, slot, result: result(slot) })),
    )
    const rewritten = await writeResult(store, { process: PID, slot: 2, result: result(200) })
    expect(readResult(store, PID, { id: ids[1] as string })).toBeUndefined()
    expect(readResult(store, PID, { id: rewritten })).toEqual(result(200))
    expect(readResult(store, PID, { id: ids[0] as string })).toEqual(result(1))
    expect(readResult(store, PID, { id: ids[2] as string })).toEqual(result(3))
    // Written back: the old state ID reads again, through the newest run that names it.
    await writeResult(store, { process: PID, slot: 2, result: result(2) })
    expect(readResult(store, PID, { id: ids[1] as string })).toEqual(result(2))
  })

  it('reads a rewritten slot by its new state ID only', async () => {
    const first = await writeResult(store, { process: PID, slot: 2, result: result(2) })
    const second = await writeResult(store, { process: PID, slot: 2, result: result(20) })
    expect(readResult(store, PID, { slot: 2 })).toEqual(result(20))
    expect(readResult(store, PID, { id: second })).toEqual(result(20))
    expect(readResult(store, PID, { id: first })).toBeUndefined()
  })

  it('reads slots written in the earlier layout (links to messages/<ID>)', async () => {
    const stateId = await writeMessage(store, result(5))
    const snapshotId = await writeMessage(store, snapshot(5))
    await store.batch([
      { op: 'link', key: `computed/${PID}/slot/000000000005`, target: messageKey(stateId) },
      { op: 'link', key: `computed/${PID}/snapshot/000000000005`, target: messageKey(snapshotId) },
      { op: 'link', key: `computed/${PID}/${stateId}`, target: messageKey(stateId) },
    ])
    expect(readResult(store, PID, { slot: 5 })).toEqual(result(5))
    expect(readResult(store, PID, { id: stateId })).toEqual(result(5))
    expect(latestResult(store, PID, { withSnapshot: true })).toEqual({
      slot: 5,
      result: result(5),
      snapshot: snapshot(5),
    })
    expect(listSlots(store, PID)).toEqual([5])
  })

  it('writes nothing when any part of a result is bad', async () => {
    await expect(
      writeResult(store, {
        process: PID,
        slot: 1,
        result: result(1),
        snapshot: { bad: new Live(1) },
      }),
    ).rejects.toMatchObject({ status: 400 })
    expect(store.list('')).toEqual([])
    await expect(
      writeResult(store, { process: 'nope', slot: 1, result: {} }),
    ).rejects.toMatchObject({
      status: 400,
    })
    await expect(writeResult(store, { process: PID, slot: -1, result: {} })).rejects.toMatchObject({
      status: 400,
    })
    expect(() => listSlots(store, PID, { to: 1.5 })).toThrow(
      expect.objectContaining({ status: 400 }) as Error,
    )
  })
})
