import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ConfigError, DEFAULT_CONFIG, DEFAULT_DEVICES, loadConfig, mergeConfig } from './config.ts'

const dirs: string[] = []
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'aonode-config-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('loadConfig', () => {
  it('defaults to port 10000, ./data and the five device packages', async () => {
    const cwd = tempDir()
    const config = await loadConfig({ cwd, env: {} })
    expect(config.port).toBe(10000)
    expect(config.dataDir).toBe(join(cwd, 'data'))
    expect(config.devices.map((d) => d.package)).toEqual([
      '@aonode/device-cache',
      '@aonode/device-scheduler',
      '@aonode/device-wasm64',
      '@aonode/device-lua',
      '@aonode/device-process',
    ])
    expect(config.limits.bodyBytes).toBe(10 * 1024 * 1024)
    expect(config.file).toBeUndefined()
  })

  it('lets AONODE_PORT and AONODE_DATA override the config file', async () => {
    const cwd = tempDir()
    writeFileSync(join(cwd, 'aonode.config.json'), JSON.stringify({ port: 9000, dataDir: 'store' }))
    expect(await loadConfig({ cwd, env: {} })).toMatchObject({
      port: 9000,
      dataDir: join(cwd, 'store'),
    })
    const overridden = await loadConfig({
      cwd,
      env: { AONODE_PORT: '0', AONODE_DATA: '/tmp/elsewhere' },
    })
    expect(overridden).toMatchObject({ port: 0, dataDir: '/tmp/elsewhere' })
  })

  it('reads device packages with options and version ranges from the file', async () => {
    const cwd = tempDir()
    const file = join(cwd, 'node.json')
    writeFileSync(
      file,
      JSON.stringify({
        devices: [
          '@aonode/device-cache',
          { package: '@aonode/device-process', version: '^0.1.0', options: { snapshotEvery: 5 } },
        ],
        limits: { bodyBytes: 1024 },
      }),
    )
    const config = await loadConfig({ cwd, env: { AONODE_CONFIG: 'node.json' } })
    expect(config.devices).toEqual([
      { package: '@aonode/device-cache' },
      { package: '@aonode/device-process', version: '^0.1.0', options: { snapshotEvery: 5 } },
    ])
    expect(config.limits).toEqual({ ...DEFAULT_CONFIG.limits, bodyBytes: 1024 })
  })

  it('refuses malformed files and values with a message naming the problem', async () => {
    const cwd = tempDir()
    writeFileSync(join(cwd, 'aonode.config.json'), '{"port": ')
    await expect(loadConfig({ cwd, env: {} })).rejects.toThrow(/not valid JSON/)
    await expect(loadConfig({ cwd: tempDir(), env: { AONODE_PORT: 'ten' } })).rejects.toThrow(
      /AONODE_PORT/,
    )
  })
})

describe('aonode.config.ts', () => {
  it('is read when there is no JSON config, through its `config` export', async () => {
    const cwd = tempDir()
    writeFileSync(
      join(cwd, 'aonode.config.ts'),
      "const port: number = 9100\nexport const config = { port, devices: ['@aonode/device-cache'] }\n",
    )
    const config = await loadConfig({ cwd, env: {} })
    expect(config).toMatchObject({ port: 9100, devices: [{ package: '@aonode/device-cache' }] })
    expect(config.file).toBe(join(cwd, 'aonode.config.ts'))
  })

  it('names a module without a `config` export', async () => {
    const cwd = tempDir()
    writeFileSync(join(cwd, 'aonode.config.js'), 'export const port = 1\n')
    await expect(loadConfig({ cwd, env: {} })).rejects.toThrow(/does not export "config"/)
  })
})

describe('mergeConfig', () => {
  const merge = (input: unknown) => () => mergeConfig(DEFAULT_CONFIG, input, '/')

  it('refuses unknown fields, duplicate packages and bad limits', () => {
    expect(merge({ prot: 1 })).toThrow(new ConfigError('config: unknown field "prot"'))
    expect(merge({ devices: ['a', 'a'] })).toThrow(/"a" is listed twice/)
    expect(merge({ devices: [{ package: 'a', opts: {} }] })).toThrow(/unknown field "opts"/)
    expect(merge({ limits: { bodyBytes: -1 } })).toThrow(/limits.bodyBytes/)
    expect(merge({ limits: { nope: 1 } })).toThrow(/unknown limit "nope"/)
    expect(merge({ port: 70000 })).toThrow(/port/)
  })

  it('reads the store kind and durability', () => {
    expect(mergeConfig(DEFAULT_CONFIG, { store: { kind: 'memory' } }, '/').store).toEqual({
      kind: 'memory',
    })
    expect(mergeConfig(DEFAULT_CONFIG, { store: { durable: false } }, '/').store).toEqual({
      kind: 'lmdb',
      durable: false,
    })
    expect(merge({ store: { kind: 'redis' } })).toThrow(/store.kind must be "lmdb" or "memory"/)
    expect(merge({ store: { durable: 'no' } })).toThrow(/store.durable/)
  })

  it('keeps the defaults for fields the file leaves out', () => {
    const config = mergeConfig(DEFAULT_CONFIG, { logLevel: 'debug' }, '/srv')
    expect(config.devices).toBe(DEFAULT_DEVICES)
    expect(config.logLevel).toBe('debug')
  })
})
