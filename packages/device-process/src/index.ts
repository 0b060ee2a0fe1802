import type { Device } from '@aonode/core'
import { createProcessDevice, type ProcessOptions } from './process.ts'
import { createPushDevice } from './push.ts'

export {
  createProcessDevice,
  DEFAULT_OPTIONS,
  resolveOptions,
  type ProcessOptions,
} from './process.ts'
export { createPushDevice, PUSH_DEVICE } from './push.ts'
export { PROCESS_DEVICE, definitionId } from './state.ts'

/** Loader contract: process@1.0 and push@1.0, sharing the package's options. */
export function createDevices(options: ProcessOptions = {}): Device[] {
  return [createProcessDevice(options), createPushDevice(options)]
}
