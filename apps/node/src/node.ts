import { readFileSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import {
  CORE_VERSION,
  createRegistry,
  createResolver,
  loadDevicePackages,
  MESSAGE_DEVICE,
  type Device,
  type Logger,
  type Resolver,
  type Store,
} from '@aonode/core'
import { createStore } from '@aonode/device-cache'
import { pino, type Logger as PinoLogger } from 'pino'
import { createApp, type App, type Limits } from './app.ts'
import { DEFAULT_CONFIG, loadConfig, type DevicePackageSpec, type NodeConfig } from './config.ts'
import { createMetaDevice, type NodeInfo } from './meta.ts'
import { createMetrics, type Metrics, type MetricsHook } from './metrics.ts'
import { createHttpServer, type HttpServer } from './server.ts'
import { loadOrCreateWallet } from './wallet.ts'

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
).version

export interface CreateNodeOptions {
  /** Devices to serve instead of loading `config.devices` (meta@1.0 is always added). */
  readonly devices?: readonly Device[]
  /** A store to use instead of the LMDB store under `dataDir`; the caller closes it. */
  readonly store?: Store
  readonly port?: number
  readonly host?: string
  readonly dataDir?: string
  /** A config file path, or config fields laid over the defaults. */
  readonly config?: string | (Partial<Omit<NodeConfig, 'limits'>> & { limits?: Partial<Limits> })
  /** A pino logger (default: pino at `config.logLevel` on stdout). */
  readonly logger?: PinoLogger
}

export interface AoNode {
  /** The socket-free HTTP app: `app.handle({method, url, headers, body})`. */
  readonly app: App
  readonly resolver: Resolver
  readonly store: Store
  readonly config: NodeConfig
  readonly info: NodeInfo
  readonly metrics: Metrics
  readonly log: PinoLogger
  /** `http://host:port` once listening, else undefined. */
  readonly url: string | undefined
  /** Starts serving HTTP; resolves with the URL. */
  listen(): Promise<string>
  /** Stops accepting, finishes in-flight requests, stops the devices, closes the store. */
  close(): Promise<void>
}

/**
 * Builds a node: config → wallet → store → devices (from the config's packages, or given) →
 * registry → resolver (devices started) → app. Nothing listens until `listen()`.
 */
export async function createNode(options: CreateNodeOptions = {}): Promise<AoNode> {
  const base =
    typeof options.config === 'string'
      ? await loadConfig({ file: options.config })
      : options.config === undefined
        ? await loadConfig()
        : DEFAULT_CONFIG
  const overrides = typeof options.config === 'object' ? options.config : {}
  const config: NodeConfig = {
    ...base,
    ...overrides,
    limits: { ...base.limits, ...overrides.limits },
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.host === undefined ? {} : { host: options.host }),
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
  }
  const log = options.logger ?? pino({ level: config.logLevel, base: { name: 'aonode' } })
  await mkdir(config.dataDir, { recursive: true })
  const { address } = await loadOrCreateWallet(config.dataDir)

  const loaded = options.devices ?? (await loadDevices(config.devices))
  const metrics = createMetrics()
  const deviceNames: Record<string, string> = {}
  const info = (): NodeInfo => ({
    address,
    version: VERSION,
    devices: deviceNames,
    store: store.kind,
  })
  const devices = [...loaded, createMetaDevice(VERSION, info, metrics)]
  const registry = createRegistry(devices)
  for (const device of registry.devices()) {
    const pkg = device.info.package
    deviceNames[device.info.name] =
      pkg !== undefined
        ? `${pkg.name}@${pkg.version}`
        : device.info.name === MESSAGE_DEVICE
          ? `@aonode/core@${CORE_VERSION}`
          : 'embedded'
  }

  const ownsStore = options.store === undefined
  const store =
    options.store ??
    (await createStore(
      config.store.kind === 'memory'
        ? { kind: 'memory' }
        : {
            kind: 'lmdb',
            path: join(config.dataDir, 'store'),
            ...(config.store.durable === undefined ? {} : { durable: config.store.durable }),
          },
    ))
  const resolver = createResolver({
    registry,
    store,
    node: {
      address,
      version: VERSION,
      devices: deviceOptions(config.devices, devices),
      metrics: {
        count: (name: string, by?: number) => metrics.count(name, by),
        gauge: (name: string, value: number) => metrics.gauge(name, value),
      } satisfies MetricsHook,
    },
    log: deviceLogger(log),
  })
  try {
    await resolver.start()
  } catch (error) {
    if (ownsStore) await store.close()
    throw error
  }
  const app = createApp({ resolver, log, metrics, limits: config.limits })

  let http: HttpServer | undefined
  let url: string | undefined
  let closing: Promise<void> | undefined

  return {
    app,
    resolver,
    store,
    config,
    info: info(),
    metrics,
    log,
    get url() {
      return url
    },
    async listen() {
      if (url !== undefined) return url
      const server = createHttpServer(app)
      http = server
      await new Promise<void>((resolve, reject) => {
        server.server.once('error', reject)
        server.server.listen(config.port, config.host, () => {
          server.server.off('error', reject)
          resolve()
        })
      })
      const bound = server.server.address() as AddressInfo
      const host = config.host ?? 'localhost'
      url = `http://${host.includes(':') ? `[${host}]` : host}:${bound.port}`
      return url
    },
    close() {
      closing ??= (async () => {
        if (http !== undefined) await http.drain(config.shutdownGraceMs)
        try {
          await resolver.stop()
        } finally {
          if (ownsStore) await store.close()
        }
      })()
      return closing
    },
  }
}

/** Imports the configured device packages through the core loader, from this app's location. */
async function loadDevices(specs: readonly DevicePackageSpec[]): Promise<Device[]> {
  const loaded = await loadDevicePackages(
    specs.map((spec) => ({
      package: spec.package,
      ...(spec.version === undefined ? {} : { version: spec.version }),
      ...(spec.options === undefined ? {} : { options: spec.options }),
    })),
    import.meta.url,
  )
  return loaded.map((entry) => entry.device)
}

/** `ctx.node.devices['<name@version>']`: each device sees its package's options. */
function deviceOptions(
  specs: readonly DevicePackageSpec[],
  devices: readonly Device[],
): Record<string, Readonly<Record<string, unknown>>> {
  const byPackage = new Map(specs.map((spec) => [spec.package, spec.options ?? {}]))
  const out: Record<string, Readonly<Record<string, unknown>>> = {}
  for (const device of devices) {
    const options = byPackage.get(device.info.package?.name ?? '') ?? {}
    out[device.info.name] = options
    for (const alias of device.info.aliases ?? []) out[alias] = options
  }
  return out
}

/** The core's `Logger` (message first) over pino (object first). */
function deviceLogger(log: PinoLogger): Logger {
  const child = log.child({ scope: 'device' })
  return {
    debug: (msg, data) => child.debug(data ?? {}, msg),
    info: (msg, data) => child.info(data ?? {}, msg),
    warn: (msg, data) => child.warn(data ?? {}, msg),
    error: (msg, data) => child.error(data ?? {}, msg),
  }
}
