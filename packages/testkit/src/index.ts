import type { Device } from '@aonode/core'
import { createTestExecDevice } from './test-exec.ts'

export { createTestExecDevice, TEST_EXEC_DEVICE } from './test-exec.ts'
export { describeDevice } from './describe-device.ts'
export {
  PROTOTYPE_KEYS,
  checkInfo,
  checkKeys,
  checkPackageJson,
  checkPrototypeKeys,
  checkUnknownKey,
  createCheckResolver,
  deepFreeze,
  runCase,
  valueProblem,
} from './checks.ts'
export type { DeviceCase, DeviceCheckOptions } from './checks.ts'
export { createTestStore } from './memory-store.ts'

/** Loader contract: the devices testkit provides (test-exec@1.0). */
export function createDevices(): Device[] {
  return [createTestExecDevice()]
}
