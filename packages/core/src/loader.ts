/**
 * Name-based loading of device packages (the config's `devices: [{package, options}]`). Packages are
 * resolved from the app's location, as Node would resolve the app's own imports, so only packages
 * the app depends on can be loaded.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import semver from 'semver'
import type { Device } from './device.ts'
import { DeviceError } from './errors.ts'
import { deviceInfoProblem } from './registry.ts'

export interface DevicePackageSpec {
  /** The npm package name, e.g. `@aonode/device-process`. */
  readonly package: string
  /** Passed to the package's `createDevices(options)`. */
  readonly options?: object
  /** A semver range the installed package's version must satisfy. */
  readonly version?: string
}

export interface LoadedDevice {
  readonly device: Device
  /** The npm package name. */
  readonly package: string
  /** The installed package version. */
  readonly version: string
}

interface PackageJson {
  readonly name?: string
  readonly version?: string
}

const loadFailed = (message: string, cause?: unknown): DeviceError =>
  new DeviceError('DEVICE_NOT_FOUND', message, {
    status: 500,
    ...(cause === undefined ? {} : { cause }),
  })

/**
 * Imports each package (resolved from `from`, the app's module URL or path), calls its
 * `createDevices(options)` and returns the devices with `info.package` filled in. Register the
 * result with `createRegistry`, which checks names, duplicates and core ranges.
 */
export async function loadDevicePackages(
  specs: readonly DevicePackageSpec[],
  from: string | URL,
): Promise<LoadedDevice[]> {
  const require = createRequire(from)
  const loaded: LoadedDevice[] = []
  for (const spec of specs) {
    const name = spec.package
    if (typeof name !== 'string' || name === '') {
      throw loadFailed(`a device package spec has no "package" name: ${JSON.stringify(spec)}`)
    }
    let entry: string
    try {
      entry = require.resolve(name)
    } catch (error) {
      const code = (error as { code?: unknown }).code
      throw loadFailed(
        code === 'ERR_PACKAGE_PATH_NOT_EXPORTED'
          ? `device package "${name}" has no main export for Node (its package.json "exports" needs a "default" entry)`
          : `cannot find device package "${name}" from ${String(from)}: is it in the app's dependencies? ` +
              '(pnpm links only declared dependencies)',
        error,
      )
    }
    const pkg = readPackageJson(entry, name)
    if (spec.version !== undefined && !semver.satisfies(pkg.version, spec.version)) {
      throw loadFailed(
        `device package ${name}@${pkg.version} does not satisfy the configured version "${spec.version}"`,
      )
    }
    let module: { createDevices?: unknown }
    try {
      module = (await import(pathToFileURL(entry).href)) as { createDevices?: unknown }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      throw loadFailed(`device package ${name} failed to load: ${reason}`, error)
    }
    if (typeof module.createDevices !== 'function') {
      throw loadFailed(
        `device package ${name} does not export createDevices(options): it is not an aonode device package`,
      )
    }
    let devices: unknown
    try {
      devices = await (module.createDevices as (options: object) => unknown)(spec.options ?? {})
    } catch (error) {
      if (DeviceError.is(error)) throw error
      const reason = error instanceof Error ? error.message : String(error)
      throw loadFailed(`${name}: createDevices(options) failed: ${reason}`, error)
    }
    if (!Array.isArray(devices) || devices.length === 0) {
      throw loadFailed(`${name}: createDevices(options) returned no devices (expected Device[])`)
    }
    for (const device of devices as Device[]) {
      const problem = deviceInfoProblem(device)
      if (problem !== undefined) throw new DeviceError('DEVICE_BAD_INFO', `${name}: ${problem}`)
      const withPackage: Device =
        device.info.package === undefined
          ? withInfo(device, { ...device.info, package: { name, version: pkg.version } })
          : device
      loaded.push({ device: withPackage, package: name, version: pkg.version })
    }
  }
  return loaded
}

/** A copy of `device` with new `info`, keeping its prototype (class-based devices keep their hooks). */
function withInfo(device: Device, info: Device['info']): Device {
  return Object.assign(
    Object.create(Object.getPrototypeOf(device) as object | null) as Device,
    device,
    {
      info,
    },
  )
}

/** The package.json of `name` that contains its resolved entry file. */
function readPackageJson(entry: string, name: string): { version: string } {
  let dir = dirname(entry)
  for (;;) {
    let pkg: PackageJson | undefined
    try {
      pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson
    } catch {
      pkg = undefined
    }
    if (pkg?.name === name) {
      if (typeof pkg.version !== 'string') throw loadFailed(`${name}: package.json has no version`)
      return { version: pkg.version }
    }
    const parent = dirname(dir)
    if (parent === dir) throw loadFailed(`${name}: cannot find its package.json above ${entry}`)
    dir = parent
  }
}
