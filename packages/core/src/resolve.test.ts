import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Device, ResolveContext } from './device.ts'
import { DeviceError } from './errors.ts'
import { hashpath } from './hashpath.ts'
import { AsDevice } from './hyperpath.ts'
import { id } from './id.ts'
import type { Message, Value } from './message.ts'
import { createRegistry } from './registry.ts'
import { createResolver, resolve, type Resolver } from './resolve.ts'

/** HyperBEAM's `test-device@1.0` from hb_ao_test_vectors, as far as the suite uses it. */
const testDevice: Device = {
  info: { name: 'test-device@1.0', core: '^0.1.0' },
  keys: {
    test_func: () => 'GOOD_FUNCTION',
    // Arity cases of `key_from_id_device_with_args`: base only, base + req, base + req + ctx.
    state: (base) => base['state'] as Value,
    concat: (base, req) => `${base['state'] as string}${req['extra'] as string}`,
    trace: (_base, _req, ctx) => ctx.trace.join(','),
    echo: (_base, req) => req['x'] ?? null,
    set: (base) => ({ ...base, counter: `${(base['counter'] as string | undefined) ?? ''}.` }),
  },
}

/** A `cache@1.0` for tests: messages by ID in a Map (the real one is @aonode/device-cache). */
function mapCache(messages: readonly Message[]): Device {
  const byId = new Map(messages.map((message) => [id(message), message]))
  return {
    info: { name: 'cache@1.0', core: '^0.1.0' },
    keys: {
      read: (_base, req) => {
        const target = req['target'] as string
        const found = byId.get(target)
        if (found === undefined) throw new DeviceError('NOT_FOUND', `no message ${target}`)
        return found
      },
    },
  }
}

const resolverWith = (...devices: Device[]): Resolver =>
  createResolver({ registry: createRegistry([testDevice, ...devices]) })

async function failure(promise: Promise<unknown>): Promise<DeviceError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!DeviceError.is(error)) throw new Error(`expected a DeviceError, got ${String(error)}`)
  return error
}

describe('resolve (hb_ao_test_vectors)', () => {
  const resolver = resolverWith()

  it('resolve_simple: reads a key', async () => {
    await expect(resolve({ a: 'RESULT' }, 'a')).resolves.toBe('RESULT')
  })

  it('resolve_id: the id key is a 43-character ID', async () => {
    const result = await resolve({ test_key: '1' }, 'id')
    expect(result).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('start_as: a device swap as the base', async () => {
    const steps = [new AsDevice('test-device@1.0', { path: '' }), { path: 'test_func' }]
    await expect(resolver.resolveMany(steps)).resolves.toBe('GOOD_FUNCTION')
    await expect(resolver.resolvePath('/~test-device@1.0/test_func')).resolves.toBe('GOOD_FUNCTION')
  })

  it('start_as_with_parameters: the swapped base keeps its keys', async () => {
    await expect(resolver.resolvePath('/~test-device@1.0&state=7/state')).resolves.toBe('7')
  })

  it('as_path / get_as_with_device: a step run as message@1.0 reads data, not handlers', async () => {
    const message = { device: 'test-device@1.0', test_func: { test_key: 'MESSAGE' } }
    await expect(resolver.resolve(message, 'test_func')).resolves.toBe('GOOD_FUNCTION')
    const asMessage = [message, new AsDevice('message@1.0', { path: 'test_func' })]
    await expect(resolver.resolveMany(asMessage)).resolves.toEqual({ test_key: 'MESSAGE' })
  })

  it('continue_as: a mid-chain device switch holds for the following steps', async () => {
    const message = { device: 'test-device@1.0', test_func: { test_key: 'MESSAGE' } }
    const steps = [
      message,
      new AsDevice('message@1.0', { path: '' }),
      { path: 'test_func' },
      { path: 'test_key' },
    ]
    await expect(resolver.resolveMany(steps)).resolves.toBe('MESSAGE')
  })

  it('load_as: an ID base loaded through cache@1.0 and run as message@1.0', async () => {
    const stored = { device: 'test-device@1.0', test_func: { test_key: 'MESSAGE' } }
    const withCache = resolverWith(mapCache([stored]))
    const steps = [new AsDevice('message@1.0', { path: id(stored) }), 'test_func', 'test_key']
    await expect(withCache.resolveMany(steps)).resolves.toBe('MESSAGE')
    await expect(
      withCache.resolvePath(`/${id(stored)}~message@1.0/test_func/test_key`),
    ).resolves.toBe('MESSAGE')
    await expect(withCache.resolvePath(`/${id(stored)}/test_func`)).resolves.toBe('GOOD_FUNCTION')
  })

  it('resolve_key_twice: the same resolution twice gives the same result', async () => {
    const message = { a: { b: 'c' } }
    const first = await resolver.resolve(message, 'a')
    expect(await resolver.resolve(message, 'a')).toEqual(first)
  })

  it('resolve_from_multiple_keys: keys hides private keys', async () => {
    await expect(resolve({ a: '1', priv_a: '2' }, 'keys')).resolves.toEqual(['a'])
  })

  it('resolve_path_element: path itself is a readable key', async () => {
    await expect(resolve({ path: ['test_path'] }, 'path')).resolves.toEqual(['test_path'])
    await expect(resolve({ path: ['test_path'] }, 'Path')).resolves.toEqual(['test_path'])
  })

  it('resolve_binary_key: mixed-case keys are reachable', async () => {
    await expect(resolve({ 'Test-Header': 'x' }, 'Test-Header')).resolves.toBe('x')
    await expect(resolve({ 'Test-Header': 'x' }, 'test-header')).resolves.toBe('x')
  })

  it('key_from_id_device_with_args: handlers get base, request and context', async () => {
    const base = { device: 'test-device@1.0', state: '1' }
    await expect(resolver.resolve(base, 'state')).resolves.toBe('1')
    await expect(resolver.resolve(base, { path: 'concat', extra: '3' })).resolves.toBe('13')
    await expect(resolver.resolve(base, 'trace')).resolves.toBe('test-device@1.0')
  })

  it('device_with_default_handler_function: own keys win, others go to fallback', async () => {
    const withDefault: Device = {
      info: { name: 'default-device@1.0', core: '^0.1.0' },
      keys: { state: () => 'STATE' },
      fallback: (key) => `DEFAULT ${key}`,
    }
    const r = resolverWith(withDefault)
    await expect(r.resolve({ device: 'default-device@1.0' }, 'state')).resolves.toBe('STATE')
    await expect(r.resolve({ device: 'default-device@1.0' }, 'Other')).resolves.toBe(
      'DEFAULT other',
    )
  })

  it('basic_get / recursive_get / deep_recursive_get', async () => {
    const message = {
      key1: 'value1',
      key2: { key3: 'value3', key4: { key5: 'v5', key6: { key7: 'value7' } } },
    }
    await expect(resolve(message, 'key1')).resolves.toBe('value1')
    await expect(resolve(message, { path: ['key2', 'key3'] })).resolves.toBe('value3')
    await expect(resolve(message, 'key2/key3')).resolves.toBe('value3')
    await expect(resolve(message, '/key2/key4/key6/key7')).resolves.toBe('value7')
  })

  it('every step of a multi-part path gets the request’s other keys', async () => {
    const base = { device: 'test-device@1.0', next: { device: 'test-device@1.0' } }
    // `next` is not a handler key, so it falls to message@1.0; `echo` then reads req.x.
    await expect(resolver.resolve(base, { path: 'next/echo', x: 'carried' })).resolves.toBe(
      'carried',
    )
  })

  it('basic_set and set_with_device', async () => {
    await expect(
      resolve({ key1: 'old', key2: 'kept' }, { path: 'set', key1: 'new' }),
    ).resolves.toEqual({
      key1: 'new',
      key2: 'kept',
    })
    const counted = await resolver.resolve({ device: 'test-device@1.0' }, 'set')
    await expect(resolver.resolve(counted as Message, 'set')).resolves.toMatchObject({
      counter: '..',
    })
  })

  it('device_excludes: excluded keys go to message@1.0', async () => {
    const excluding: Device = {
      info: { name: 'excluding@1.0', core: '^0.1.0' },
      keys: {},
      fallback: () => 'HANDLER',
      excludes: ['set'],
    }
    const r = resolverWith(excluding)
    await expect(r.resolve({ device: 'excluding@1.0' }, 'anything')).resolves.toBe('HANDLER')
    await expect(r.resolve({ device: 'excluding@1.0' }, { path: 'set', a: '1' })).resolves.toEqual({
      device: 'excluding@1.0',
      a: '1',
    })
  })

  it('denormalized_device_key: a capitalised Device key selects the device', async () => {
    await expect(resolver.resolve({ Device: 'Test-Device@1.0' }, 'test_func')).resolves.toBe(
      'GOOD_FUNCTION',
    )
  })

  it('list_transform: lists index 1-based', async () => {
    const list = ['A', 'B', 'C', 'D', 'E']
    await expect(resolve(list, '1')).resolves.toBe('A')
    await expect(resolve(list, '5')).resolves.toBe('E')
    await expect(resolve({ l: list }, 'l/2')).resolves.toBe('B')
  })
})

describe('resolver behaviour', () => {
  it('an empty path returns the base', async () => {
    await expect(resolve({ a: '1' }, '/')).resolves.toEqual({ a: '1' })
  })

  it('unknown devices are a 404 that names them, with registered versions as a hint', async () => {
    const error = await failure(resolverWith().resolve({ device: 'test-device@2.0' }, 'x'))
    expect(error.code).toBe('DEVICE_NOT_FOUND')
    expect(error.status).toBe(404)
    expect(error.message).toContain('"test-device@2.0"')
    expect(error.message).toContain('Registered: test-device@1.0')
  })

  it('a non-text device key is a 400', async () => {
    const error = await failure(resolve({ device: 5 }, 'x'))
    expect(error.status).toBe(400)
  })

  it('prototype keys never reach handlers: clean 404s', async () => {
    const r = resolverWith()
    for (const key of ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty']) {
      const onMessage = await failure(resolve({}, key))
      expect(onMessage.status).toBe(404)
      const onDevice = await failure(r.resolve({ device: 'test-device@1.0' }, key))
      expect(onDevice.status).toBe(404)
    }
  })

  it('prototype keys never reach a fallback', async () => {
    const seen: string[] = []
    const catchAll: Device = {
      info: { name: 'catch-all@1.0', core: '^0.1.0' },
      keys: {},
      fallback: (key) => {
        seen.push(key)
        return 'handled'
      },
    }
    const r = resolverWith(catchAll)
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      expect((await failure(r.resolve({ device: 'catch-all@1.0' }, key))).status).toBe(404)
    }
    await expect(
      r.resolve({ device: 'catch-all@1.0', constructor: 'own' }, 'constructor'),
    ).resolves.toBe('own')
    expect(seen).toEqual([])
  })

  it('reading a key of a literal is a 404', async () => {
    const error = await failure(resolve({ a: 'text' }, 'a/b'))
    expect(error.status).toBe(404)
    expect(error.message).toContain('"b"')
  })

  it('wraps handler crashes as DEVICE_FAILED naming device and key, with the cause', async () => {
    const crashing: Device = {
      info: { name: 'crashing@1.0', core: '^0.1.0' },
      keys: {
        boom: () => {
          throw new TypeError('kaboom')
        },
        nothing: () => undefined as unknown as Value,
        refuse: () => {
          throw new DeviceError('CONFLICT', 'refused')
        },
      },
    }
    const r = resolverWith(crashing)
    const error = await failure(r.resolve({ device: 'crashing@1.0' }, 'boom'))
    expect(error.code).toBe('DEVICE_FAILED')
    expect(error.status).toBe(500)
    expect(error.message).toBe('crashing@1.0 failed on key "boom": kaboom')
    expect(error.cause).toBeInstanceOf(TypeError)
    expect((await failure(r.resolve({ device: 'crashing@1.0' }, 'nothing'))).code).toBe(
      'DEVICE_FAILED',
    )
    // Device errors pass through untouched.
    const refused = await failure(r.resolve({ device: 'crashing@1.0' }, 'refuse'))
    expect([refused.code, refused.status]).toEqual(['CONFLICT', 409])
  })

  it('stops runaway recursion with DEPTH_EXCEEDED (508)', async () => {
    const looping: Device = {
      info: { name: 'loop@1.0', core: '^0.1.0' },
      keys: { again: (base, _req, ctx) => ctx.resolve(base, 'again') },
    }
    const error = await failure(resolverWith(looping).resolve({ device: 'loop@1.0' }, 'again'))
    expect([error.code, error.status]).toEqual(['DEPTH_EXCEEDED', 508])
    const shallow = createResolver({ registry: createRegistry([looping]), maxDepth: 3 })
    expect((await failure(shallow.resolve({ device: 'loop@1.0' }, 'again'))).code).toBe(
      'DEPTH_EXCEEDED',
    )
  })

  it('gives handlers store, node options, log and the device trace', async () => {
    let seen: ResolveContext | undefined
    const inner: Device = {
      info: { name: 'inner@1.0', core: '^0.1.0' },
      keys: {
        look: (_base, _req, ctx) => {
          seen = ctx
          return ctx.trace.join(' > ')
        },
      },
    }
    const outer: Device = {
      info: { name: 'outer@1.0', core: '^0.1.0' },
      keys: { call: (_base, _req, ctx) => ctx.resolve({ device: 'inner@1.0' }, 'look') },
    }
    const node = { address: 'me', devices: { 'inner@1.0': { answer: 42 } } }
    const r = createResolver({ registry: createRegistry([inner, outer]), node })
    await expect(r.resolve({ device: 'outer@1.0' }, 'call')).resolves.toBe('outer@1.0 > inner@1.0')
    expect(seen?.node.devices?.['inner@1.0']).toEqual({ answer: 42 })
    expect(seen?.store.kind).toBe('none')
    expect(r.context.trace).toEqual([])
  })

  it('attaches priv.hashpath to message results only when asked', async () => {
    const base = { a: { b: { c: 'leaf' } } }
    const plain = (await resolve(base, 'a')) as Message
    expect(plain).toEqual({ b: { c: 'leaf' } })
    const r = createResolver({ registry: createRegistry([]), hashpaths: true })
    const first = (await r.resolve(base, 'a')) as Message
    expect(first['priv']).toEqual({ hashpath: hashpath(base, { path: 'a' }) })
    const second = (await r.resolve(base, 'a/b')) as Message
    expect(second['priv']).toEqual({ hashpath: hashpath(first, { path: 'b' }) })
    await expect(r.resolve(base, 'a/b/c')).resolves.toBe('leaf')
  })

  it('an ID base without cache@1.0 is a 404 naming the ID', async () => {
    const missing = 'a'.repeat(43)
    const error = await failure(resolverWith().resolvePath(`/${missing}/x`))
    expect(error.status).toBe(404)
    expect(error.message).toContain(missing)
  })

  it('evaluates nested (subpath) steps first and uses their results', async () => {
    const keyHolder = { name: 'field' }
    const target = { field: 'value' }
    const r = resolverWith(mapCache([keyHolder, target]))
    await expect(r.resolvePath(`/${id(target)}/(/${id(keyHolder)}/name)`)).resolves.toBe('value')
    await expect(r.resolvePath(`/~test-device@1.0/echo&x=(/${id(keyHolder)}/name)`)).resolves.toBe(
      'field',
    )
  })

  it('resolvePath merges query and extra keys into every step', async () => {
    const r = resolverWith()
    await expect(r.resolvePath('/~test-device@1.0/echo?x=5')).resolves.toBe('5')
    await expect(r.resolvePath('/~test-device@1.0/echo', { x: 'from-body' })).resolves.toBe(
      'from-body',
    )
    await expect(r.resolvePath('/~test-device@1.0/echo?x+integer=5')).resolves.toBe(5)
  })

  it('start calls hooks in order; stop runs them all in reverse and reports the first failure', async () => {
    const calls: string[] = []
    const hooked = (name: `${string}@${string}`, failStop = false): Device => ({
      info: { name, core: '^0.1.0' },
      keys: {},
      start: (ctx) => {
        calls.push(`start ${name} ${ctx.trace.length}`)
      },
      stop: () => {
        calls.push(`stop ${name}`)
        if (failStop) throw new Error(`${name} cannot stop`)
      },
    })
    const r = createResolver({
      registry: createRegistry([hooked('one@1.0', true), hooked('two@1.0')]),
    })
    await r.start()
    await expect(r.stop()).rejects.toThrow('one@1.0 cannot stop')
    expect(calls).toEqual(['start one@1.0 0', 'start two@1.0 0', 'stop two@1.0', 'stop one@1.0'])
  })

  it('fuzz: resolving random paths yields a value or a DeviceError, never a crash', async () => {
    const r = resolverWith()
    const base = { a: { b: ['x', { c: 'y' }] }, device: 'test-device@1.0' }
    const segment = fc.constantFrom(
      'a',
      'b',
      '1',
      '2',
      'c',
      'keys',
      'set',
      'id',
      'remove',
      'echo',
      'test_func',
      '__proto__',
      'constructor',
      '~message@1.0',
      '~test-device@1.0',
      '~nope@1.0',
      '(/a)',
      '(a/b)',
      'x&k=v',
      'x+integer=1',
      '%',
      '(',
      ')',
      '',
    )
    const path = fc.array(segment, { maxLength: 6 }).map((parts) => `/${parts.join('/')}`)
    await fc.assert(
      fc.asyncProperty(path, async (p) => {
        for (const attempt of [r.resolvePath(p), r.resolve(base, p)]) {
          await attempt.catch((error: unknown) => {
            if (!DeviceError.is(error)) throw error
            if (error.status >= 500) throw error
          })
        }
      }),
      { numRuns: 1_000 },
    )
  })
})
