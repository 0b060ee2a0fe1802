import { readFileSync } from 'node:fs'
import semver from 'semver'
import type { Device } from './device.ts'
import { DeviceError } from './errors.ts'
import { DEVICE_NAME } from './message.ts'
import { MESSAGE_DEVICE, messageDevice } from './message-device.ts'

/** The version of this `@aonode/core`, read once from its package.json. */
export const CORE_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
).version

export interface Registry {
  /** The device registered under `name` or one of its aliases (case-insensitive). */
  get(name: string): Device | undefined
  /** Like `get`, but an unknown name is a DEVICE_NOT_FOUND (404) error with a hint. */
  require(name: string): Device
  /** Every registered name and alias, as the devices spell them. */
  names(): readonly string[]
  /** The registered devices, each once, in registration order. */
  devices(): readonly Device[]
}

/** Checks `info` the way the registry does; returns the problem, or undefined when it is fine. */
export function deviceInfoProblem(device: Device): string | undefined {
  const info = (device as Partial<Device>).info
  if (info === undefined || typeof info !== 'object') return 'a device has no `info`'
  const { name, aliases = [], core } = info
  if (typeof name !== 'string' || !DEVICE_NAME.test(name)) {
    return `device name ${JSON.stringify(name)} is not of the form name@version`
  }
  for (const alias of aliases) {
    if (typeof alias !== 'string' || !DEVICE_NAME.test(alias)) {
      return `${name}: alias ${JSON.stringify(alias)} is not of the form name@version`
    }
  }
  if (typeof core !== 'string' || semver.validRange(core) === null) {
    return `${name}: info.core ${JSON.stringify(core)} is not a semver range`
  }
  if (typeof (device as Partial<Device>).keys !== 'object' || device.keys === null) {
    return `${name}: \`keys\` must be an object of key handlers`
  }
  return undefined
}

/**
 * The devices a resolver can reach, by `info.name` and `info.aliases` (case-insensitive).
 * `message@1.0` is always present (the built-in one unless the list brings its own).
 */
export function createRegistry(devices: readonly Device[]): Registry {
  const byName = new Map<string, Device>()
  const spelled: string[] = []
  const list: Device[] = []
  const all = devices.some((device) => device.info?.name.toLowerCase() === MESSAGE_DEVICE)
    ? devices
    : [messageDevice(), ...devices]
  for (const device of all) {
    const problem = deviceInfoProblem(device)
    if (problem !== undefined) throw new DeviceError('DEVICE_BAD_INFO', problem)
    const { name, aliases = [], core } = device.info
    if (!semver.satisfies(CORE_VERSION, core, { includePrerelease: true })) {
      throw new DeviceError(
        'DEVICE_CORE_MISMATCH',
        `${name}${packageLabel(device)} requires @aonode/core "${core}", but this core is ${CORE_VERSION}`,
        { device: name },
      )
    }
    for (const each of [name, ...aliases]) {
      const key = each.toLowerCase()
      const existing = byName.get(key)
      if (existing !== undefined) {
        throw new DeviceError(
          'DEVICE_DUPLICATE',
          `device "${each}" is registered twice: by ${existing.info.name}${packageLabel(existing)} and by ${name}${packageLabel(device)}`,
          { device: each },
        )
      }
      byName.set(key, device)
      spelled.push(each)
    }
    list.push(device)
  }
  return {
    get: (name) => byName.get(name.toLowerCase()),
    require(name) {
      const device = byName.get(name.toLowerCase())
      if (device !== undefined) return device
      const base = name.split('@')[0]?.toLowerCase() ?? ''
      const same = spelled.filter((each) => each.toLowerCase().startsWith(`${base}@`))
      const hint = same.length > 0 ? ` Registered: ${same.join(', ')}.` : ''
      throw new DeviceError('DEVICE_NOT_FOUND', `no device "${name}" is registered.${hint}`, {
        device: name,
      })
    },
    names: () => spelled,
    devices: () => list,
  }
}

function packageLabel(device: Device): string {
  const pkg = device.info.package
  return pkg === undefined ? '' : ` (${pkg.name}@${pkg.version})`
}
