import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defineDevice, type Device, type Message, type ResolveContext } from '@aonode/core'
import { createMemoryStore } from '@aonode/device-cache'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createNode, type CreateNodeOptions } from './node.ts'

const WALLET = new URL('../../../tests/integration/fixtures/wallet.json', import.meta.url)
const dirs: string[] = []
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'aonode-node-'))
  copyFileSync(WALLET, join(dir, 'wallet.json'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const quiet = pino({ level: 'silent' })
const node = (options: CreateNodeOptions) =>
  createNode({ dataDir: dataDir(), store: createMemoryStore(), logger: quiet, ...options })

let released: (() => void) | undefined
const probe = defineDevice({
  info: { name: 'probe@1.0', core: '^0.1.0', package: { name: 'probe-pkg', version: '1.2.3' } },
  keys: {
    options: (_base, _req, ctx: ResolveContext) =>
      ({ ...ctx.node.devices?.['probe@1.0'] }) as Message,
    computed: (_base, _req, ctx: ResolveContext) => {
      const metrics = ctx.node['metrics'] as { count(name: string, by?: number): void }
      metrics.count('slots_computed_total', 2)
      return 'ok'
    },
    wait: () =>
      new Promise<string>((resolve) => {
        released = () => resolve('finished')
      }),
  },
})

describe('createNode', () => {
  it('composes the given devices with message@1.0 and meta@1.0 and answers without a socket', async () => {
    const aonode = await node({ devices: [probe] })
    expect(aonode.info.devices).toEqual({
      'message@1.0': '@aonode/core@0.1.0',
      'probe@1.0': 'probe-pkg@1.2.3',
      'meta@1.0': '@aonode/node@0.1.0',
    })
    expect(aonode.info.address).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(aonode.info.store).toBe('memory')
    const response = await aonode.app.handle({
      method: 'GET',
      url: '/~meta@1.0/info/address',
      headers: {},
    })
    expect(response.body).toBe(aonode.info.address)
    expect(aonode.url).toBeUndefined()
    await aonode.close()
  })

  it('gives devices their options and the metrics hook through ctx.node', async () => {
    const aonode = await node({
      devices: [probe],
      config: { devices: [{ package: 'probe-pkg', options: { every: 5 } }] },
    })
    const options = await aonode.app.handle({
      method: 'GET',
      url: '/~probe@1.0/options',
      headers: {},
    })
    expect(JSON.parse(options.body as string)).toEqual({ every: 5 })
    await aonode.app.handle({ method: 'GET', url: '/~probe@1.0/computed', headers: {} })
    expect(aonode.metrics.render()).toContain('aonode_slots_computed_total 2')
    await aonode.close()
  })

  it('refuses to start with a duplicated device, naming it and both packages', async () => {
    const twin: Device = {
      ...probe,
      info: { ...probe.info, package: { name: 'other-pkg', version: '2.0.0' } },
    }
    await expect(node({ devices: [probe, twin] })).rejects.toThrow(
      /"probe@1.0" is registered twice: by probe@1.0 \(probe-pkg@1.2.3\) and by probe@1.0 \(other-pkg@2.0.0\)/,
    )
  })

  it('refuses to start with a device written for another core', async () => {
    const old = defineDevice({ info: { name: 'old@1.0', core: '^9.0.0' }, keys: {} })
    await expect(node({ devices: [old] })).rejects.toThrow(
      /old@1.0 requires @aonode\/core "\^9.0.0"/,
    )
  })

  it('refuses to start when a configured package is missing or the wrong version', async () => {
    await expect(
      node({ config: { devices: [{ package: '@aonode/device-nope' }] } }),
    ).rejects.toThrow(/cannot find device package "@aonode\/device-nope"/)
    await expect(
      node({ config: { devices: [{ package: '@aonode/device-cache', version: '^9.0.0' }] } }),
    ).rejects.toThrow(/does not satisfy the configured version "\^9.0.0"/)
  })

  it('loads device packages named in the config', async () => {
    const aonode = await node({ config: { devices: [{ package: '@aonode/device-cache' }] } })
    expect(aonode.info.devices['cache@1.0']).toBe('@aonode/device-cache@0.1.0')
    await aonode.close()
  })

  it('listens, and on close finishes the in-flight request before stopping', async () => {
    const aonode = await node({ devices: [probe], port: 0, host: '127.0.0.1' })
    const url = await aonode.listen()
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const inFlight = fetch(`${url}/~probe@1.0/wait`).then((r) => r.text())
    while (released === undefined) await new Promise((resolve) => setTimeout(resolve, 5))
    const closing = aonode.close()
    released()
    expect(await inFlight).toBe('finished')
    await closing
    await expect(fetch(`${url}/~meta@1.0/info`)).rejects.toThrow()
  })

  it('answers with a declared length (not chunked), and none on a 204', async () => {
    const aonode = await node({ devices: [probe], port: 0, host: '127.0.0.1' })
    const url = await aonode.listen()
    try {
      for (const path of ['/~meta@1.0/info', '/~probe@1.0/computed', '/~nothing@1.0/x']) {
        const response = await fetch(`${url}${path}`)
        const bytes = new Uint8Array(await response.arrayBuffer())
        expect(response.headers.get('transfer-encoding')).toBeNull()
        expect(Number(response.headers.get('content-length'))).toBe(bytes.byteLength)
        expect(bytes.byteLength).toBeGreaterThan(0)
      }
      const preflight = await fetch(`${url}/~meta@1.0/info`, { method: 'OPTIONS' })
      expect(preflight.status).toBe(204)
      expect(preflight.headers.get('content-length')).toBeNull()
    } finally {
      await aonode.close()
    }
  })
})
