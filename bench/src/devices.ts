import { loadDevicePackages, type Device } from '@aonode/core'
import { DEFAULT_DEVICES, type DevicePackageSpec } from '@aonode/node'

/** The node's default device packages plus test-exec@1.0 from `@aonode/testkit`. */
export const BENCH_DEVICE_PACKAGES: readonly DevicePackageSpec[] = [
  ...DEFAULT_DEVICES,
  { package: '@aonode/testkit' },
]

/**
 * Loads each package on its own: one that does not load yet is left out (and named through
 * `skipped`) so the figures of the others can still be measured.
 */
export async function loadBenchDevices(
  skipped: (pkg: string, why: string) => void,
): Promise<Device[]> {
  const devices: Device[] = []
  for (const spec of BENCH_DEVICE_PACKAGES) {
    try {
      const loaded = await loadDevicePackages([spec], import.meta.url)
      devices.push(...loaded.map((entry) => entry.device))
    } catch (error) {
      skipped(spec.package, (error as Error).message)
    }
  }
  return devices
}
