import { DeviceError, id, withoutPrivate, type Message, type ResolveContext } from '@aonode/core'
import { describe, expect, it } from 'vitest'
import { createTestExecDevice } from './test-exec.ts'

const device = createTestExecDevice()
// test-exec never reaches other devices or the store: its keys ignore the context.
const ctx = {} as ResolveContext
const call = async (key: string, base: Message, req: Message = { path: key }): Promise<Message> =>
  (await (device.keys[key] as NonNullable<(typeof device.keys)[string]>)(base, req, ctx)) as Message
const assignment = (slot: number, body: Message): Message => ({ slot, body, path: 'compute' })
const OTHER = 'b'.repeat(43)

describe('test-exec@1.0', () => {
  it('counts Increment messages and hashes every message ID in order', async () => {
    let state = await call('init', { type: 'Process' })
    expect(state['count']).toBe(0)
    const bodies: Message[] = [
      { action: 'Increment' },
      { action: 'Other' },
      { action: 'Increment', n: 2 },
    ]
    const hashes = new Set<unknown>([state['hash']])
    for (const [slot, body] of bodies.entries()) {
      state = await call('compute', state, assignment(slot, body))
      hashes.add(state['hash'])
    }
    expect(state['count']).toBe(2)
    expect(state['results']).toEqual({ output: { count: 2 } })
    expect(hashes.size).toBe(4)

    // Same messages in another order: same count, different running hash.
    let reordered = await call('init', { type: 'Process' })
    for (const [slot, body] of [...bodies].reverse().entries()) {
      reordered = await call('compute', reordered, assignment(slot, body))
    }
    expect(reordered['count']).toBe(2)
    expect(reordered['hash']).not.toBe(state['hash'])
    expect(id(bodies[0] as Message)).toHaveLength(43)
  })

  it('throws on Action Fail and leaves the live state untouched', async () => {
    let state = await call('init', {})
    state = await call('compute', state, assignment(0, { action: 'Increment' }))
    const before = withoutPrivate(state)
    await expect(call('compute', state, assignment(1, { action: 'Fail' }))).rejects.toSatisfy(
      (error) => DeviceError.is(error) && /Action Fail at slot 1/.test(error.message),
    )
    const after = await call('compute', state, assignment(2, { action: 'Increment' }))
    expect(after['count']).toBe((before['count'] as number) + 1)
  })

  it('puts a message for the recipient in the outbox on Action Send', async () => {
    const state = await call('init', {})
    const out = await call('compute', state, assignment(0, { action: 'Send', recipient: OTHER }))
    expect(out['results']).toMatchObject({
      outbox: { '1': { target: OTHER, action: 'Increment', 'sent-at-count': 0 } },
    })
    await expect(call('compute', state, assignment(1, { action: 'Send' }))).rejects.toThrow(
      /recipient/,
    )
  })

  it('restores from its snapshot to the same public state', async () => {
    let state = await call('init', { type: 'Process' })
    for (let slot = 0; slot < 5; slot++) {
      state = await call('compute', state, assignment(slot, { action: 'Increment', slot }))
    }
    const snapshot = await call('snapshot', state)
    const restored = await call('normalize', { ...withoutPrivate(state), snapshot })
    expect(restored['snapshot']).toBeUndefined()
    expect(withoutPrivate(restored)).toEqual(withoutPrivate(state))
    const next = await call('compute', restored, assignment(5, { action: 'Increment' }))
    const live = await call('compute', state, assignment(5, { action: 'Increment' }))
    expect(withoutPrivate(next)).toEqual(withoutPrivate(live))
    await expect(call('normalize', { snapshot: { count: 1 } })).rejects.toThrow(/snapshot/)
    await expect(call('compute', {}, assignment(0, {}))).rejects.toThrow(/not initialised/)
  })
})
