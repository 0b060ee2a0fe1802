import { describe, expect, it } from 'vitest'
import { DeviceError } from './errors.ts'
import { id } from './id.ts'
import type { Message } from './message.ts'
import { resolve } from './resolve.ts'

async function failure(promise: Promise<unknown>): Promise<DeviceError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!DeviceError.is(error)) throw new Error(`expected a DeviceError, got ${String(error)}`)
  return error
}

describe('message@1.0 (dev_message cases, §9.4)', () => {
  it('keys_from_device: keys lists the public keys', async () => {
    await expect(resolve({ a: 1 }, 'keys')).resolves.toEqual(['a'])
  })

  it('case_insensitive_get: all four case combinations', async () => {
    await expect(resolve({ key: 'v' }, 'key')).resolves.toBe('v')
    await expect(resolve({ key: 'v' }, 'KEY')).resolves.toBe('v')
    await expect(resolve({ KEY: 'v' }, 'key')).resolves.toBe('v')
    await expect(resolve({ KEY: 'v' }, 'KEY')).resolves.toBe('v')
  })

  it('private_keys_are_filtered: priv* keys are hidden from keys', async () => {
    await expect(
      resolve({ a: 1, private: 2, priv_foo: 3, privilege: 4, b: 5 }, 'keys'),
    ).resolves.toEqual(['a', 'b'])
  })

  it('cannot_get_private_keys: a 404, whatever the case', async () => {
    for (const key of ['priv', 'private', 'PRIV_foo']) {
      const error = await failure(resolve({ priv: 'x', private: 'y', priv_foo: 'z' }, key))
      expect([error.code, error.status]).toEqual(['NOT_FOUND', 404])
      expect(error.message).toContain('private')
    }
  })

  it('a missing key is a 404 naming the key', async () => {
    const error = await failure(resolve({ a: 1 }, 'missing'))
    expect([error.code, error.status, error.key]).toEqual(['NOT_FOUND', 404, 'missing'])
    expect(error.message).toContain('"missing"')
  })

  it('get reads the key named by `key` (also keys that share a handler name)', async () => {
    await expect(resolve({ set: 'data', a: 'b' }, { path: 'get', key: 'set' })).resolves.toBe(
      'data',
    )
    await expect(resolve({ get: 'g' }, 'get')).resolves.toBe('g')
  })

  it('remove_test: item and items', async () => {
    const base = { k1: '1', k2: '2', k3: '3' }
    await expect(resolve(base, { path: 'remove', item: 'k1' })).resolves.toEqual({
      k2: '2',
      k3: '3',
    })
    await expect(resolve(base, { path: 'remove', items: ['k1', 'k2'] })).resolves.toEqual({
      k3: '3',
    })
    expect(base).toEqual({ k1: '1', k2: '2', k3: '3' })
    const error = await failure(resolve(base, 'remove'))
    expect(error.status).toBe(400)
  })

  it('set_conflicting_keys: set overwrites', async () => {
    await expect(resolve({ a: 'old' }, { path: 'set', a: 'new', b: 'added' })).resolves.toEqual({
      a: 'new',
      b: 'added',
    })
  })

  it('unset_with_set: unset removes a key', async () => {
    await expect(
      resolve({ 'test-key': 'v' }, { path: 'set', 'test-key': 'unset' }),
    ).resolves.toEqual({})
  })

  it('deep_unset: nested unset, path-form unset, and removing a whole sub-message', async () => {
    const base = { deep: { 'test-key1': '1', 'test-key2': '2' }, other: '3' }
    await expect(resolve(base, { path: 'set', deep: { 'test-key2': 'unset' } })).resolves.toEqual({
      deep: { 'test-key1': '1' },
      other: '3',
    })
    await expect(resolve(base, { path: 'set', 'deep/test-key1': 'unset' })).resolves.toEqual({
      deep: { 'test-key2': '2' },
      other: '3',
    })
    await expect(resolve(base, { path: 'set', deep: 'unset' })).resolves.toEqual({ other: '3' })
  })

  it('set deep-merges nested messages, and set-mode explicit replaces them', async () => {
    const base = { n: { a: '1', b: '2' } }
    await expect(resolve(base, { path: 'set', n: { b: 'B', c: 'C' } })).resolves.toEqual({
      n: { a: '1', b: 'B', c: 'C' },
    })
    await expect(
      resolve(base, { path: 'set', 'set-mode': 'explicit', n: { c: 'C' } }),
    ).resolves.toEqual({ n: { c: 'C' } })
  })

  it('set refuses reserved keys, keeps the base’s private keys and ignores the request’s', async () => {
    const base = { a: '1', priv: { hashpath: 'h' } }
    const result = (await resolve(base, {
      path: 'set',
      id: 'x',
      keys: 'x',
      remove: 'x',
      commitments: 'x',
      priv_new: 'secret',
      b: '2',
    })) as Message
    expect(result).toEqual({ a: '1', priv: { hashpath: 'h' }, b: '2' })
  })

  it('set_path is the one way to set or unset path', async () => {
    await expect(resolve({ a: '1' }, { path: 'set', a: '2' })).resolves.toEqual({ a: '2' })
    await expect(resolve({ a: '1' }, { path: 'set_path', value: 'x/y' })).resolves.toEqual({
      a: '1',
      path: 'x/y',
    })
    await expect(resolve({ path: 'p' }, { path: 'set_path', value: 'unset' })).resolves.toEqual({})
    expect((await failure(resolve({}, 'set_path'))).status).toBe(400)
  })

  it('set drops commitments when it changes the message', async () => {
    const signed = { a: '1', commitments: { x: { signature: 's' } } }
    await expect(resolve(signed, { path: 'set', a: '2' })).resolves.toEqual({ a: '2' })
  })

  it('id is the message ID and ignores private keys', async () => {
    const message = { a: 'b' }
    await expect(resolve(message, 'id')).resolves.toBe(id(message))
    await expect(resolve({ a: 'b', privkey: 'z' }, 'id')).resolves.toBe(id(message))
  })

  it('never mutates its inputs', async () => {
    const base = Object.freeze({ a: '1', n: Object.freeze({ x: '1' }) })
    const req = Object.freeze({ path: 'set', n: Object.freeze({ y: '2' }), a: 'unset' })
    await expect(resolve(base, req)).resolves.toEqual({ n: { x: '1', y: '2' } })
  })
})
