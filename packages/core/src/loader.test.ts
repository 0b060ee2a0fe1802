import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DeviceError } from './errors.ts'
import { loadDevicePackages } from './loader.ts'
import { createRegistry } from './registry.ts'
import { createResolver } from './resolve.ts'

const FIXTURES: Record<string, string> = {
  'good-device': 'aonode-fixture-good',
  'no-factory': 'aonode-fixture-no-factory',
  'no-devices': 'aonode-fixture-no-devices',
  throws: 'aonode-fixture-throws',
}

let appDir: string
let appUrl: URL

beforeAll(() => {
  // An "app" with the fixture packages installed in its node_modules.
  appDir = mkdtempSync(join(tmpdir(), 'aonode-loader-'))
  for (const [dir, name] of Object.entries(FIXTURES)) {
    cpSync(new URL(`./fixtures/${dir}`, import.meta.url), join(appDir, 'node_modules', name), {
      recursive: true,
    })
  }
  mkdirSync(join(appDir, 'src'))
  writeFileSync(join(appDir, 'src', 'app.js'), '')
  appUrl = pathToFileURL(join(appDir, 'src', 'app.js'))
})

afterAll(() => rmSync(appDir, { recursive: true, force: true }))

async function loadError(specs: Parameters<typeof loadDevicePackages>[0]): Promise<DeviceError> {
  const error: unknown = await loadDevicePackages(specs, appUrl).then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!DeviceError.is(error)) throw new Error(`expected a DeviceError, got ${String(error)}`)
  return error
}

describe('loadDevicePackages', () => {
  it('imports a package, passes its options and fills info.package', async () => {
    const loaded = await loadDevicePackages(
      [{ package: 'aonode-fixture-good', options: { greeting: 'hi there' } }],
      appUrl,
    )
    expect(loaded.map((entry) => [entry.package, entry.version])).toEqual([
      ['aonode-fixture-good', '1.2.3'],
    ])
    const device = loaded[0]?.device
    expect(device?.info.package).toEqual({ name: 'aonode-fixture-good', version: '1.2.3' })
    const resolver = createResolver({
      registry: createRegistry(loaded.map((entry) => entry.device)),
    })
    await expect(resolver.resolve({ device: 'FIXTURE-alias@1.0' }, 'greet')).resolves.toBe(
      'hi there',
    )
  })

  it('accepts a path as `from`', async () => {
    const loaded = await loadDevicePackages(
      [{ package: 'aonode-fixture-good' }],
      join(appDir, 'src', 'app.js'),
    )
    expect(loaded).toHaveLength(1)
  })

  it('checks the configured version range', async () => {
    const error = await loadError([{ package: 'aonode-fixture-good', version: '^2.0.0' }])
    expect(error.message).toContain('aonode-fixture-good@1.2.3')
    expect(error.message).toContain('^2.0.0')
  })

  it('explains a missing package', async () => {
    const error = await loadError([{ package: 'aonode-fixture-absent' }])
    expect(error.code).toBe('DEVICE_NOT_FOUND')
    expect(error.message).toContain('"aonode-fixture-absent"')
    expect(error.message).toContain("is it in the app's dependencies?")
  })

  it('refuses a package without createDevices', async () => {
    const error = await loadError([{ package: 'aonode-fixture-no-factory' }])
    expect(error.message).toContain('does not export createDevices(options)')
  })

  it('refuses a package whose createDevices returns nothing', async () => {
    const error = await loadError([{ package: 'aonode-fixture-no-devices' }])
    expect(error.message).toContain('returned no devices')
  })

  it('reports a package that throws while importing', async () => {
    const error = await loadError([{ package: 'aonode-fixture-throws' }])
    expect(error.message).toContain('aonode-fixture-throws failed to load: boom at import')
  })

  it('refuses a spec without a package name', async () => {
    const error = await loadError([{ package: '' }])
    expect(error.message).toContain('no "package" name')
  })
})
