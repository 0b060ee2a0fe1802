import type { Device } from '@aonode/core'
import { createTestExecDevice } from './test-exec.ts'

export { createTestExecDevice, TEST_EXEC_DEVICE } from './test-exec.ts'

/** Loader contract: the devices testkit provides (test-exec@1.0). */
export function createDevices(): Device[] {
  return [createTestExecDevice()]
}
