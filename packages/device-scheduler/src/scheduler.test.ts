import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DeviceError,
  createRegistry,
  createResolver,
  encodeMessage,
  id,
  type Device,
  type Message,
  type Store,
} from '@aonode/core'
import { createDevices as createCacheDevices, createLmdbStore } from '@aonode/device-cache'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createSchedulerDevice } from './scheduler.ts'

let dir: string
let store: Store

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'aonode-scheduler-'))
  store = createLmdbStore({ path: dir })
})
afterEach(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

/** A resolver with the scheduler and the real cache@1.0 over the LMDB store. */
function client(device: Device = createSchedulerDevice()) {
  const resolver = createResolver({
    registry: createRegistry([device, ...createCacheDevices()]),
    store,
    node: { address: 'n'.repeat(43) },
  })
  const call = async (key: string, base: Message, req: Message): Promise<Message> =>
    (await resolver.resolve({ ...base, device: 'scheduler@1.0' }, { ...req, path: key })) as Message
  return {
    post: (body: Message, base: Message = {}) => call('schedule', base, { method: 'POST', body }),
    get: (req: Message, base: Message = {}) => call('schedule', base, req),
    call,
    resolver,
  }
}

const definition: Message = {
  device: 'process@1.0',
  type: 'Process',
  'execution-device': 'test-exec@1.0',
}

function link(previous: Buffer, messageId: string): Buffer {
  return createHash('sha256').update(previous).update(messageId).digest()
}

const statusOf = (error: unknown): number | undefined =>
  DeviceError.is(error) ? error.status : undefined

describe('scheduler@1.0 schedule POST', () => {
  it('spawns a process at slot 0 under its unsigned ID and refuses a second spawn', async () => {
    const scheduler = client()
    const assignment = await scheduler.post(definition)
    const pid = id(definition)
    expect(assignment).toMatchObject({ slot: 0, process: pid, body: definition, epoch: 0 })
    expect(assignment['hash-chain']).toBe(link(Buffer.alloc(0), pid).toString('base64url'))
    expect(typeof assignment['timestamp']).toBe('number')
    expect(assignment['block-height']).toBeUndefined()
    // The definition is in the message cache too, so its ID loads as a base.
    expect(
      await scheduler.resolver.resolve({ device: 'cache@1.0' }, { path: 'read', target: pid }),
    ).toEqual(definition)

    await expect(scheduler.post({ ...definition })).rejects.toSatisfy(
      (error) => statusOf(error) === 409,
    )
    // A fresh scheduler (after a restart) still refuses it, from the store.
    await expect(client().post(definition)).rejects.toSatisfy((error) => statusOf(error) === 409)
    expect(store.list(`assignments/${pid}`)).toEqual(['000000000000'])
    // A nonce key makes a twin.
    const twin = await scheduler.post({ ...definition, nonce: 1 })
    expect(twin['process']).not.toBe(pid)
  })

  it('assigns contiguous, hash-chained slots to concurrent requests, durable when answered', async () => {
    const scheduler = client()
    const pid = (await scheduler.post(definition))['process'] as string
    const answers = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        scheduler.post({ target: pid, action: 'Increment', i }),
      ),
    )
    const slots = answers.map((a) => a['slot'] as number).sort((a, b) => a - b)
    expect(slots).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1))
    // Every acknowledged slot is readable from the store at once.
    for (const answer of answers) {
      expect(
        store.read(`assignments/${pid}/${String(answer['slot'] as number).padStart(12, '0')}`),
      ).toBeDefined()
    }

    const first = await scheduler.get({ target: pid, from: 0, to: 1000 })
    expect(first).toMatchObject({ type: 'schedule', process: pid, continues: true })
    const second = await scheduler.get({ target: pid, from: '1000' })
    expect(second['continues']).toBe(false)
    const all = {
      ...(first['assignments'] as Record<string, Message>),
      ...(second['assignments'] as Record<string, Message>),
    }
    expect(Object.keys(all)).toHaveLength(1001)
    let chain: Buffer = Buffer.alloc(0)
    for (let slot = 0; slot <= 1000; slot++) {
      const assignment = all[String(slot)] as Message
      expect(assignment['slot']).toBe(slot)
      const bodyId = id(assignment['body'] as Message)
      chain = link(chain, bodyId)
      expect(assignment['hash-chain']).toBe(chain.toString('base64url'))
      // The body's ID travels with the assignment, so execution devices need not hash it again.
      expect(assignment['message']).toBe(bodyId)
    }
    const seen = new Set(Object.values(all).map((a) => (a['body'] as Message)['i']))
    expect(seen.size).toBe(1001)

    expect(await scheduler.call('slot', {}, { process: pid })).toMatchObject({ current: 1000 })
    const status = await scheduler.call('status', {}, {})
    expect(status['processes']).toEqual([pid])
  })

  it('recovers the latest slot and chain after a restart', async () => {
    const pid = (await client().post(definition))['process'] as string
    const one = await client().post({ target: pid, n: 1 })
    const restarted = client()
    const two = await restarted.post({ target: pid, n: 2 })
    expect(one['slot']).toBe(1)
    expect(two['slot']).toBe(2)
    expect(two['hash-chain']).toBe(
      link(
        Buffer.from(one['hash-chain'] as string, 'base64url'),
        id({ target: pid, n: 2 }),
      ).toString('base64url'),
    )
  })

  it('recovers from the newest assignment and drops a head record an earlier version wrote', async () => {
    const pid = (await client().post(definition))['process'] as string
    const one = await client().post({ target: pid, n: 1 })
    // An earlier version kept `assignments/<pid>/latest`; a stale one must not be believed.
    await store.write(`assignments/${pid}/latest`, encodeMessage({ slot: 0, 'hash-chain': 'x' }))
    const two = await client().post({ target: pid, n: 2 })
    expect(two['slot']).toBe(2)
    expect(two['hash-chain']).toBe(
      link(
        Buffer.from(one['hash-chain'] as string, 'base64url'),
        id({ target: pid, n: 2 }),
      ).toString('base64url'),
    )
    expect(store.list(`assignments/${pid}`)).toEqual([
      '000000000000',
      '000000000001',
      '000000000002',
    ])
  })

  it('takes the process from the base and the message from the request keys', async () => {
    const scheduler = client()
    const pid = (await scheduler.post(definition))['process'] as string
    const answer = await scheduler.call(
      'schedule',
      { device: 'scheduler@1.0', process: definition },
      { path: 'schedule', method: 'POST', action: 'Increment' },
    )
    expect(answer).toMatchObject({ slot: 1, process: pid, body: { action: 'Increment' } })
    const listed = await scheduler.get({}, { process: definition })
    expect(Object.keys(listed['assignments'] as Message)).toEqual(['0', '1'])
  })

  it('answers 404 for an unknown process and 400 for malformed input, writing nothing', async () => {
    const scheduler = client()
    const unknown = 'x'.repeat(43)
    await expect(scheduler.post({ target: unknown, a: 1 })).rejects.toSatisfy(
      (error) => statusOf(error) === 404,
    )
    await expect(scheduler.post({ target: 'not-an-id', a: 1 })).rejects.toSatisfy(
      (error) => statusOf(error) === 400,
    )
    await expect(scheduler.post({})).rejects.toSatisfy((error) => statusOf(error) === 400)
    await expect(scheduler.post({ a: 1 })).rejects.toSatisfy((error) => statusOf(error) === 400)
    await expect(scheduler.get({ target: unknown })).rejects.toSatisfy(
      (error) => statusOf(error) === 404,
    )
    expect(store.list('assignments')).toEqual([])
    expect(store.list('processes')).toEqual([])
    const pid = (await scheduler.post(definition))['process'] as string
    await expect(scheduler.get({ target: pid, from: -1 })).rejects.toSatisfy(
      (error) => statusOf(error) === 400,
    )
    await expect(scheduler.get({ target: pid, to: 'ten' })).rejects.toSatisfy(
      (error) => statusOf(error) === 400,
    )
  })
})

describe('scheduler@1.0 schedule GET', () => {
  it('serves the application/aos-2 JSON form', async () => {
    const scheduler = client()
    const pid = (await scheduler.post(definition))['process'] as string
    for (let i = 0; i < 10; i++) await scheduler.post({ target: pid, action: 'Eval', data: `${i}` })
    const page = await scheduler.get({ target: pid, accept: 'application/aos-2' })
    const edges = page['edges'] as Message[]
    expect(edges).toHaveLength(11)
    expect(page['page_info']).toMatchObject({ process: pid, has_next_page: false })
    const third = edges[3] as Message
    expect(third['cursor']).toBe('3')
    expect(third['node']).toMatchObject({
      message: { data: '2', target: pid, tags: [{ name: 'Action', value: 'Eval' }] },
      assignment: { tags: expect.arrayContaining([{ name: 'Nonce', value: '3' }]) as unknown },
    })
    const messageId = id({ target: pid, action: 'Eval', data: '2' })
    expect((third['node'] as Message)['message']).toMatchObject({ id: messageId })
    expect((third['node'] as Message)['assignment']).toMatchObject({
      tags: expect.arrayContaining([{ name: 'Message', value: messageId }]) as unknown,
    })
  })

  it('serves recent assignments from memory exactly as the store has them', async () => {
    const scheduler = client(createSchedulerDevice({ recentAssignments: 3 }))
    const pid = (await scheduler.post(definition))['process'] as string
    for (let i = 0; i < 20; i++) await scheduler.post({ target: pid, i })
    const mixed = await scheduler.call('assignments', {}, { process: pid })
    const stored = await client().call('assignments', {}, { process: pid })
    expect((mixed['assignments'] as Message[]).map((a) => a['slot'])).toEqual(
      Array.from({ length: 21 }, (_, i) => i),
    )
    expect(mixed['assignments']).toEqual(stored['assignments'])
  })

  it('lists a page range and the assignments key in slot order', async () => {
    const scheduler = client()
    const pid = (await scheduler.post(definition))['process'] as string
    for (let i = 0; i < 5; i++) await scheduler.post({ target: pid, i })
    const range = await scheduler.get({ target: pid, from: 2, to: 4 })
    expect(Object.keys(range['assignments'] as Message)).toEqual(['2', '3', '4'])
    const batch = await scheduler.call('assignments', {}, { process: pid, from: 4, to: 99 })
    expect((batch['assignments'] as Message[]).map((a) => a['slot'])).toEqual([4, 5])
    expect(batch['continues']).toBe(false)
    expect(await scheduler.call('definition', {}, { process: pid })).toEqual(definition)
  })
})
