import type { Device } from '@aonode/core'
import { describe, it } from 'vitest'
import {
  checkInfo,
  checkKeys,
  checkPackageJson,
  checkPrototypeKeys,
  checkUnknownKey,
  runCase,
  type DeviceCase,
  type DeviceCheckOptions,
} from './checks.ts'

/**
 * Registers a vitest suite for `device`: the conformance checks every device must pass, then
 * each case run through a real resolver (with `options.devices` registered alongside and an
 * in-memory store).
 */
export function describeDevice(
  device: Device,
  cases: readonly DeviceCase[] = [],
  options: DeviceCheckOptions = {},
): void {
  describe(`${device.info.name} conformance`, () => {
    it('has well-formed info that this @aonode/core satisfies', () => checkInfo(device))
    it('has function keys, lower-case, none named __proto__/constructor/prototype', () =>
      checkKeys(device))
    it('lets unknown keys fall through or fail with a 4xx DeviceError', () =>
      checkUnknownKey(device, options))
    it('never lets prototype keys reach a handler (clean 404s)', () =>
      checkPrototypeKeys(device, options))
    if (options.packageJson !== undefined) {
      const packageJson = options.packageJson
      it('is listed in package.json aonode.devices', () => checkPackageJson(device, packageJson))
    }
    for (const vector of cases) {
      it(`case: ${vector.name}`, async () => {
        await runCase(device, vector, options)
      })
    }
  })
}
