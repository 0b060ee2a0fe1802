import { defineDevice, type Device, type Message } from '@aonode/core'
import type { Metrics } from './metrics.ts'

export interface NodeInfo {
  /** The node's address: base64url(sha256(RSA modulus)) of its wallet. */
  readonly address: string
  /** Version of @aonode/node. */
  readonly version: string
  /** `name@version` → `package@version` for every registered device. */
  readonly devices: Readonly<Record<string, string>>
  /** The store backend, e.g. `lmdb`. */
  readonly store: string
}

/**
 * `meta@1.0`: the node describing itself. `info` answers with address, version, loaded devices and
 * store kind (so `/~meta@1.0/info/address` is the address as text); `metrics` is the Prometheus text.
 */
export function createMetaDevice(version: string, info: () => NodeInfo, metrics: Metrics): Device {
  return defineDevice({
    info: {
      name: 'meta@1.0',
      core: '^0.1.0',
      description: 'Node information and metrics',
      package: { name: '@aonode/node', version },
    },
    keys: {
      info: (): Message => {
        const { address, version, devices, store } = info()
        return { address, version, devices: { ...devices }, store }
      },
      metrics: (): string => metrics.render(),
    },
  })
}
