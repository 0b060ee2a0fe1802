import { describe, expect, it } from 'vitest'
import { codecDevices } from './codec-devices.ts'
import type { Device, ResolveContext } from './device.ts'
import { DeviceError } from './errors.ts'
import type { Message, Value } from './message.ts'

const ctx = {} as ResolveContext

function device(name: string): Device {
  const found = codecDevices().find((candidate) => candidate.info.name === name)
  if (found === undefined) throw new Error(`no ${name}`)
  return found
}

async function call(name: string, key: string, req: Message): Promise<Value> {
  const handler = device(name).keys[key]
  if (handler === undefined) throw new Error(`no key ${key}`)
  return handler({}, req, ctx)
}

describe('codecDevices', () => {
  it('registers structured@1.0 and json@1.0 with to and from', () => {
    for (const codec of codecDevices()) {
      expect(Object.keys(codec.keys).sort()).toEqual(['from', 'to'])
    }
    expect(codecDevices().map((codec) => codec.info.name)).toEqual(['structured@1.0', 'json@1.0'])
  })

  it('structured@1.0 from/to converts between a message and its TABM', async () => {
    const tabm = await call('structured@1.0', 'from', {
      body: { a: 1, c: { d: true } },
      bundle: true,
    })
    expect(tabm).toEqual({
      a: '1',
      'ao-types': 'a="integer"',
      c: { 'ao-types': 'd="atom"', d: 'true' },
    })
    expect(await call('structured@1.0', 'to', { body: tabm })).toEqual({ a: 1, c: { d: true } })
    const linked = (await call('structured@1.0', 'from', { body: { c: { d: true } } })) as Message
    expect(Object.keys(linked)).toEqual(['c+link'])
  })

  it('json@1.0 to/from converts between a message and JSON text', async () => {
    const text = await call('json@1.0', 'to', { body: { a: 1, b: [1.5] } })
    expect(text).toBe('{"a":1,"b":[1.5]}')
    expect(await call('json@1.0', 'from', { body: text })).toEqual({ a: 1, b: [1.5] })
    expect(await call('json@1.0', 'from', { body: new TextEncoder().encode('{"x":"y"}') })).toEqual(
      {
        x: 'y',
      },
    )
  })

  it('answers 400 when the body is missing or of the wrong kind', async () => {
    await expect(call('json@1.0', 'to', {})).rejects.toThrow(DeviceError)
    await expect(call('json@1.0', 'from', { body: 5 })).rejects.toMatchObject({ status: 400 })
    await expect(call('structured@1.0', 'to', { body: 'text' })).rejects.toMatchObject({
      status: 400,
    })
  })
})
