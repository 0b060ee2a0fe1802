import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { DEFAULT_LIMITS, type Limits } from './app.ts'

/** One device package of the node: its npm name, an optional version range and its options. */
export interface DevicePackageSpec {
  readonly package: string
  /** Semver range the installed package must satisfy (e.g. `^0.1.0`). */
  readonly version?: string
  /** Passed to the package's `createDevices(options)`, and seen by its devices as `ctx.node.devices[name]`. */
  readonly options?: Readonly<Record<string, unknown>>
}

export interface StoreSettings {
  readonly kind: 'lmdb' | 'memory'
  /** LMDB only: `false` skips fsync (survives a process crash, not a power loss). Default true. */
  readonly durable?: boolean
}

export interface NodeConfig {
  readonly port: number
  /** Host to bind (default all interfaces). */
  readonly host?: string
  /** Where the store and the node wallet live (default `./data`). */
  readonly dataDir: string
  readonly devices: readonly DevicePackageSpec[]
  readonly limits: Limits
  /** The store backend: LMDB under `<dataDir>/store` (default), or memory (nothing persists). */
  readonly store: StoreSettings
  /** pino level: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. */
  readonly logLevel: string
  /** Milliseconds to wait for in-flight requests on shutdown before closing anyway. */
  readonly shutdownGraceMs: number
}

/**
 * Devices stop in reverse order: process@1.0 comes after the execution devices so that its
 * shutdown snapshots run while their instances are still open.
 */
export const DEFAULT_DEVICES: readonly DevicePackageSpec[] = [
  { package: '@aonode/device-cache' },
  { package: '@aonode/device-scheduler' },
  { package: '@aonode/device-wasm64' },
  { package: '@aonode/device-lua' },
  { package: '@aonode/device-process' },
]

export const DEFAULT_CONFIG: NodeConfig = {
  port: 10000,
  dataDir: './data',
  devices: DEFAULT_DEVICES,
  limits: DEFAULT_LIMITS,
  store: { kind: 'lmdb' },
  logLevel: 'info',
  shutdownGraceMs: 10_000,
}

export const CONFIG_FILE = 'aonode.config.json'
/** Looked for in this order; a `.ts`/`.js` config exports `config` (no default export). */
export const CONFIG_FILES = [CONFIG_FILE, 'aonode.config.ts', 'aonode.config.js'] as const

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

/**
 * The effective configuration: built-in defaults, then the config file (explicit path, or the first
 * of `CONFIG_FILES` in `cwd`), then the environment (`AONODE_PORT`, `AONODE_DATA`,
 * `AONODE_LOG_LEVEL`). Relative `dataDir` is taken from the config file's directory (else `cwd`).
 */
export async function loadConfig(
  options: { file?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<NodeConfig & { readonly file?: string }> {
  const cwd = options.cwd ?? process.cwd()
  const env = options.env ?? process.env
  const explicit = options.file ?? env['AONODE_CONFIG']
  const file =
    explicit !== undefined && explicit !== ''
      ? resolve(cwd, explicit)
      : CONFIG_FILES.map((name) => resolve(cwd, name)).find((path) => existsSync(path))
  let config: NodeConfig = { ...DEFAULT_CONFIG, dataDir: resolve(cwd, DEFAULT_CONFIG.dataDir) }
  if (file !== undefined) config = mergeConfig(config, await readConfigFile(file), dirname(file))
  const port = env['AONODE_PORT']
  if (port !== undefined && port !== '')
    config = { ...config, port: parsePort(port, 'AONODE_PORT') }
  const data = env['AONODE_DATA']
  if (data !== undefined && data !== '') config = { ...config, dataDir: resolve(cwd, data) }
  const level = env['AONODE_LOG_LEVEL']
  if (level !== undefined && level !== '') config = { ...config, logLevel: level }
  return file === undefined ? config : { ...config, file }
}

async function readConfigFile(file: string): Promise<unknown> {
  if (/\.[cm]?[jt]s$/.test(file)) {
    let module: { config?: unknown }
    try {
      module = (await import(pathToFileURL(file).href)) as { config?: unknown }
    } catch (error) {
      throw new ConfigError(`cannot load config module ${file}: ${(error as Error).message}`)
    }
    if (module.config === undefined)
      throw new ConfigError(`config module ${file} does not export "config"`)
    return module.config
  }
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(error as Error).message}`)
  }
}

/** Checks a parsed config file and lays it over `base`; every problem names the offending field. */
export function mergeConfig(base: NodeConfig, input: unknown, dir: string): NodeConfig {
  if (!isRecord(input)) throw new ConfigError('config must be a JSON object')
  const known = new Set([
    '$schema',
    'store',
    'port',
    'host',
    'dataDir',
    'devices',
    'limits',
    'logLevel',
    'shutdownGraceMs',
  ])
  for (const key of Object.keys(input)) {
    if (!known.has(key)) throw new ConfigError(`config: unknown field "${key}"`)
  }
  let config = { ...base }
  if (input['port'] !== undefined) config = { ...config, port: parsePort(input['port'], 'port') }
  if (input['host'] !== undefined) config = { ...config, host: text(input['host'], 'host') }
  if (input['dataDir'] !== undefined) {
    config = { ...config, dataDir: resolve(dir, text(input['dataDir'], 'dataDir')) }
  }
  if (input['logLevel'] !== undefined)
    config = { ...config, logLevel: text(input['logLevel'], 'logLevel') }
  if (input['shutdownGraceMs'] !== undefined) {
    config = { ...config, shutdownGraceMs: positive(input['shutdownGraceMs'], 'shutdownGraceMs') }
  }
  if (input['devices'] !== undefined)
    config = { ...config, devices: parseDevices(input['devices']) }
  if (input['store'] !== undefined) config = { ...config, store: parseStore(input['store']) }
  if (input['limits'] !== undefined) {
    const limits = input['limits']
    if (!isRecord(limits)) throw new ConfigError('config: "limits" must be an object')
    const merged: Record<string, number> = { ...base.limits }
    for (const [key, value] of Object.entries(limits)) {
      if (!Object.hasOwn(DEFAULT_LIMITS, key))
        throw new ConfigError(`config: unknown limit "${key}"`)
      merged[key] = positive(value, `limits.${key}`)
    }
    config = { ...config, limits: merged as unknown as Limits }
  }
  return config
}

function parseDevices(input: unknown): DevicePackageSpec[] {
  if (!Array.isArray(input)) throw new ConfigError('config: "devices" must be an array')
  const seen = new Set<string>()
  return input.map((entry: unknown, i) => {
    const spec: unknown = typeof entry === 'string' ? { package: entry } : entry
    if (!isRecord(spec))
      throw new ConfigError(`config: devices[${i}] must be a package name or an object`)
    const name = text(spec['package'], `devices[${i}].package`)
    if (seen.has(name)) throw new ConfigError(`config: device package "${name}" is listed twice`)
    seen.add(name)
    for (const key of Object.keys(spec)) {
      if (!['package', 'version', 'options'].includes(key)) {
        throw new ConfigError(`config: devices[${i}] has unknown field "${key}"`)
      }
    }
    const options = spec['options']
    if (options !== undefined && !isRecord(options)) {
      throw new ConfigError(`config: devices[${i}].options must be an object`)
    }
    return {
      package: name,
      ...(spec['version'] === undefined
        ? {}
        : { version: text(spec['version'], `devices[${i}].version`) }),
      ...(options === undefined ? {} : { options }),
    }
  })
}

function parseStore(input: unknown): StoreSettings {
  if (!isRecord(input)) throw new ConfigError('config: "store" must be an object')
  for (const key of Object.keys(input)) {
    if (key !== 'kind' && key !== 'durable')
      throw new ConfigError(`config: store has unknown field "${key}"`)
  }
  const kind = input['kind'] ?? 'lmdb'
  if (kind !== 'lmdb' && kind !== 'memory') {
    throw new ConfigError(
      `config: store.kind must be "lmdb" or "memory", got ${JSON.stringify(kind)}`,
    )
  }
  const durable = input['durable']
  if (durable !== undefined && typeof durable !== 'boolean') {
    throw new ConfigError('config: store.durable must be true or false')
  }
  return durable === undefined ? { kind } : { kind, durable }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '')
    throw new ConfigError(`config: "${field}" must be a non-empty string`)
  return value
}

function positive(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new ConfigError(`config: "${field}" must be a positive integer`)
  }
  return value
}

function parsePort(value: unknown, field: string): number {
  const port = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`${field} must be a port number (0-65535), got ${JSON.stringify(value)}`)
  }
  return port
}
