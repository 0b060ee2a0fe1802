import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { Device } from './device.ts'
import { DeviceError } from './errors.ts'
import { CORE_VERSION, createRegistry } from './registry.ts'

const device = (info: Omit<Partial<Device['info']>, 'name'> & { name: string }): Device =>
  ({ info: { core: '^0.1.0', ...info }, keys: {} }) as unknown as Device

function registryError(devices: Device[]): DeviceError {
  try {
    createRegistry(devices)
  } catch (error) {
    if (DeviceError.is(error)) return error
    throw error
  }
  throw new Error('expected the registry to refuse the devices')
}

describe('createRegistry', () => {
  it('reads CORE_VERSION from package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    expect(CORE_VERSION).toBe(pkg.version)
  })

  it('finds devices by name and alias, case-insensitively; message@1.0 is always there', () => {
    const wasm = device({ name: 'wasm64@1.0', aliases: ['wasm-64@1.0'] })
    const registry = createRegistry([wasm])
    expect(registry.get('WASM-64@1.0')).toBe(wasm)
    expect(registry.get('wasm64@1.0')).toBe(wasm)
    expect(registry.require('Wasm64@1.0')).toBe(wasm)
    expect(registry.get('message@1.0')?.info.name).toBe('message@1.0')
    expect(registry.names()).toEqual(['message@1.0', 'wasm64@1.0', 'wasm-64@1.0'])
    expect(registry.devices()).toHaveLength(2)
  })

  it('uses a supplied message@1.0 instead of the built-in one', () => {
    const own = device({ name: 'Message@1.0' })
    const registry = createRegistry([own])
    expect(registry.get('message@1.0')).toBe(own)
    expect(registry.devices()).toEqual([own])
  })

  it('unknown names are DEVICE_NOT_FOUND (404) with the registered versions as a hint', () => {
    const registry = createRegistry([device({ name: 'lua@5.3a', aliases: ['lua@5.4'] })])
    expect(registry.get('lua@9')).toBeUndefined()
    expect(() => registry.require('lua@9')).toThrow(
      expect.objectContaining({
        code: 'DEVICE_NOT_FOUND',
        status: 404,
        message: 'no device "lua@9" is registered. Registered: lua@5.3a, lua@5.4.',
      }),
    )
    expect(() => registry.require('nothing@1.0')).toThrow('no device "nothing@1.0" is registered.')
  })

  it('refuses invalid names and aliases (DEVICE_BAD_INFO)', () => {
    expect(registryError([device({ name: 'no-version' })]).code).toBe('DEVICE_BAD_INFO')
    const badAlias = registryError([device({ name: 'ok@1.0', aliases: ['bad alias@1'] })])
    expect(badAlias.message).toContain('ok@1.0')
    expect(badAlias.message).toContain('"bad alias@1"')
    expect(registryError([device({ name: 'ok@1.0', core: 'not a range!' })]).code).toBe(
      'DEVICE_BAD_INFO',
    )
    expect(
      registryError([{ info: { name: 'ok@1.0', core: '*' } } as unknown as Device]).message,
    ).toContain('`keys`')
  })

  it('refuses duplicates across names and aliases, naming both packages', () => {
    const first = device({
      name: 'proc@1.0',
      package: { name: '@x/one', version: '1.0.0' },
    })
    const second = device({
      name: 'other@1.0',
      aliases: ['PROC@1.0'],
      package: { name: '@x/two', version: '2.0.0' },
    })
    const error = registryError([first, second])
    expect([error.code, error.status]).toEqual(['DEVICE_DUPLICATE', 500])
    expect(error.message).toContain('@x/one@1.0.0')
    expect(error.message).toContain('@x/two@2.0.0')
  })

  it('refuses devices written for another core (DEVICE_CORE_MISMATCH)', () => {
    const error = registryError([device({ name: 'future@1.0', core: '^9.0.0' })])
    expect(error.code).toBe('DEVICE_CORE_MISMATCH')
    expect(error.message).toBe(
      `future@1.0 requires @aonode/core "^9.0.0", but this core is ${CORE_VERSION}`,
    )
  })
})
