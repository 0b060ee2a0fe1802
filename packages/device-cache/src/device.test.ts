import {
  createRegistry,
  createResolver,
  id,
  loadDevicePackages,
  type Message,
  type Resolver,
  type Store,
} from '@aonode/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createCacheDevice } from './device.ts'
import { backends } from './fixtures/backends.ts'

const cache = { device: 'cache@1.0' }
const PID = 'p'.repeat(43)
const MISSING = 'm'.repeat(43)

describe.each(backends)('cache@1.0 on the $name store', (backend) => {
  let store: Store
  let resolver: Resolver
  const call = (req: Message) => resolver.resolve(cache, req)
  beforeEach(() => {
    store = backend.open()
    resolver = createResolver({ registry: createRegistry([createCacheDevice()]), store })
  })
  afterEach(async () => {
    await store.close()
    backend.cleanup()
  })

  it('writes a binary body with its content type and reads it back by ID', async () => {
    const image = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7) & 0xff)
    const written = (await call({
      path: 'write',
      method: 'POST',
      body: image,
      'content-type': 'application/wasm',
    })) as Message
    expect(written['status']).toBe(200)
    expect(written['id']).toBe(id({ body: image, 'content-type': 'application/wasm' }))
    const read = (await call({ path: 'read', target: written['id'] as string })) as Message
    expect(read['content-type']).toBe('application/wasm')
    expect(Buffer.compare(read['body'] as Uint8Array, image)).toBe(0)
  })

  it('writes a text body, a message body, or the request keys', async () => {
    const text = (await call({ path: 'write', body: 'print("hi")' })) as Message
    expect(await call({ path: 'read', target: text['id'] as string })).toEqual({
      body: 'print("hi")',
    })
    const message = { type: 'Process', nested: { a: 1 } }
    const body = (await call({ path: 'write', body: message })) as Message
    expect(body['id']).toBe(id(message))
    expect(await call({ path: 'read', target: body['id'] as string })).toEqual(message)
    const own = (await call({ path: 'write', method: 'POST', a: 'x', b: 2 })) as Message
    expect(await call({ path: 'read', target: own['id'] as string })).toEqual({ a: 'x', b: 2 })
  })

  it('reads over a HyperPATH', async () => {
    const written = (await call({ path: 'write', body: 'over http' })) as Message
    const read = await resolver.resolvePath(`/~cache@1.0/read?target=${written['id'] as string}`)
    expect(read).toEqual({ body: 'over http' })
  })

  it('answers 400 for a malformed ID and 404 for a missing one', async () => {
    await expect(call({ path: 'read', target: '../../etc/passwd' })).rejects.toMatchObject({
      status: 400,
    })
    await expect(call({ path: 'read' })).rejects.toMatchObject({ status: 400 })
    await expect(call({ path: 'read', target: MISSING })).rejects.toMatchObject({ status: 404 })
  })

  it('links a new ID to a stored message, refusing to move an existing one', async () => {
    const first = (await call({ path: 'write', body: 'one' })) as Message
    const second = (await call({ path: 'write', body: 'two' })) as Message
    const alias = 'a'.repeat(43)
    expect(await call({ path: 'link', source: first['id'] as string, destination: alias })).toEqual(
      {
        status: 200,
      },
    )
    expect(await call({ path: 'read', target: alias })).toEqual({ body: 'one' })
    // Linking again to the same is fine; to something else is a conflict.
    await call({ path: 'link', source: first['id'] as string, destination: alias })
    await expect(
      call({ path: 'link', source: second['id'] as string, destination: alias }),
    ).rejects.toMatchObject({ status: 409 })
    await expect(
      call({ path: 'link', source: second['id'] as string, destination: first['id'] as string }),
    ).rejects.toMatchObject({ status: 409 })
    await expect(call({ path: 'link', source: MISSING, destination: alias })).rejects.toMatchObject(
      { status: 404 },
    )
  })

  it('writes and reads process results through the result keys', async () => {
    for (let slot = 0; slot < 4; slot++) {
      const written = (await call({
        path: 'write-result',
        process: PID,
        slot,
        result: { n: slot },
        ...(slot === 2 && { snapshot: { memory: Uint8Array.of(slot) } }),
      })) as Message
      expect(written['id']).toBe(id({ n: slot }))
    }
    expect(await call({ path: 'read-result', process: PID, slot: '1' })).toEqual({ n: 1 })
    expect(await call({ path: 'read-result', process: PID, id: id({ n: 3 }) })).toEqual({ n: 3 })
    expect(await call({ path: 'latest', process: PID })).toEqual({ slot: 3, result: { n: 3 } })
    expect(await call({ path: 'latest', process: PID, to: 3, require: 'snapshot' })).toEqual({
      slot: 2,
      result: { n: 2 },
      snapshot: { memory: Uint8Array.of(2) },
    })
    expect(await call({ path: 'slots', process: PID, from: 1, to: 2 })).toEqual({ slots: [1, 2] })
    expect(await call({ path: 'slots', process: PID, limit: 2 })).toEqual({ slots: [0, 1] })
    await expect(call({ path: 'read-result', process: PID, slot: 9 })).rejects.toMatchObject({
      status: 404,
    })
    await expect(
      call({ path: 'latest', process: PID, to: 1, require: 'snapshot' }),
    ).rejects.toMatchObject({
      status: 404,
    })
  })

  it('writes many slots in one write-results call, read back like single writes', async () => {
    const shared = { code: 'x'.repeat(100) }
    const written = (await call({
      path: 'write-results',
      process: PID,
      results: [0, 1, 2].map((slot) => ({
        slot,
        result: { n: slot, shared },
        ...(slot === 1 && { snapshot: { memory: Uint8Array.of(slot) } }),
      })),
    })) as Message
    expect(written['ids']).toEqual([0, 1, 2].map((slot) => id({ n: slot, shared })))
    expect(await call({ path: 'read-result', process: PID, slot: 2 })).toEqual({ n: 2, shared })
    expect(await call({ path: 'read-result', process: PID, id: id({ n: 0, shared }) })).toEqual({
      n: 0,
      shared,
    })
    expect(await call({ path: 'latest', process: PID, require: 'snapshot' })).toEqual({
      slot: 1,
      result: { n: 1, shared },
      snapshot: { memory: Uint8Array.of(1) },
    })
    expect(await call({ path: 'slots', process: PID })).toEqual({ slots: [0, 1, 2] })
  })

  it('refuses a bad write-results request as a whole (400, 413) and writes nothing', async () => {
    const small = createResolver({
      registry: createRegistry([createCacheDevice({ maxResultsPerWrite: 2 })]),
      store,
    })
    const good = { slot: 0, result: { n: 0 } }
    const bad: Message[] = [
      { path: 'write-results', process: PID },
      { path: 'write-results', process: PID, results: [] },
      { path: 'write-results', process: PID, results: [good, 'not a message'] },
      { path: 'write-results', process: PID, results: [good, { slot: 1 }] },
      { path: 'write-results', process: PID, results: [good, { slot: -1, result: {} }] },
      { path: 'write-results', process: 'short', results: [good] },
    ]
    for (const req of bad) await expect(call(req)).rejects.toMatchObject({ status: 400 })
    await expect(
      small.resolve(cache, { path: 'write-results', process: PID, results: [good, good, good] }),
    ).rejects.toMatchObject({ status: 413 })
    expect(store.list('')).toEqual([])
  })

  it('refuses bad result requests with 400 and writes nothing', async () => {
    const bad: Message[] = [
      { path: 'write-result', process: PID, slot: 1 },
      { path: 'write-result', process: PID, slot: 1, result: 'not a message' },
      { path: 'write-result', process: PID, slot: 'x', result: {} },
      { path: 'write-result', process: 'short', slot: 1, result: {} },
      { path: 'write-result', process: PID, slot: 1, result: {}, snapshot: 5 },
      { path: 'latest', process: PID, require: 'other' },
      { path: 'slots', process: PID, limit: 0 },
      { path: 'read-result', process: PID },
    ]
    for (const req of bad) await expect(call(req)).rejects.toMatchObject({ status: 400 })
    expect(store.list('')).toEqual([])
  })
})

describe('loader contract', () => {
  it('loads cache@1.0 from the package by name', async () => {
    const loaded = await loadDevicePackages([{ package: '@aonode/device-cache' }], import.meta.url)
    expect(loaded.map((entry) => entry.device.info.name)).toEqual(['cache@1.0'])
  })
})
