import { createRegistry, createResolver, DeviceError } from '@aonode/core'
import { describe, expect, it } from 'vitest'
import { createDevices } from './index.ts'

const resolver = createResolver({ registry: createRegistry(createDevices({ greeting: 'Hi' })) })

describe('echo@1.0', () => {
  it('greets through a HyperPATH', async () => {
    await expect(resolver.resolvePath('/~echo@1.0/greet&name=ao')).resolves.toBe('Hi, ao')
  })

  it('echoes the request keys, typed', async () => {
    await expect(resolver.resolvePath('/~echo@1.0/echo&n+integer=3&a=b')).resolves.toEqual({
      n: 3,
      a: 'b',
    })
  })

  it('answers 400 naming the missing key', async () => {
    const error: unknown = await resolver.resolvePath('/~echo@1.0/greet').catch((e: unknown) => e)
    expect(DeviceError.is(error) && error.status).toBe(400)
    expect((error as Error).message).toMatch(/name/)
  })

  it('falls through to message@1.0 for other keys', async () => {
    await expect(resolver.resolve({ device: 'echo@1.0', name: 'x' }, 'name')).resolves.toBe('x')
  })
})
