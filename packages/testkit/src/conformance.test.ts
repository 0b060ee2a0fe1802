import { getOwn, isMessage, type Value } from '@aonode/core'
import { expect } from 'vitest'
import { describeDevice } from './describe-device.ts'
import { createTestExecDevice, TEST_EXEC_DEVICE } from './test-exec.ts'

const PROCESS = 'a3aXBKZ-2o7_IHk5GL7bT6RpKbULoaq-CmVQYZjDnjU'

describeDevice(
  createTestExecDevice(),
  [
    {
      name: 'init starts the counter at zero',
      base: { device: TEST_EXEC_DEVICE, type: 'Process' },
      req: 'init',
      expect: (state: Value) => {
        expect(isMessage(state) && getOwn(state, 'count')).toBe(0)
      },
    },
    {
      name: 'init/count reads the new state through message@1.0',
      base: { device: TEST_EXEC_DEVICE },
      req: 'init/count',
      expect: 0,
    },
    {
      name: 'compute before init is refused',
      base: { device: TEST_EXEC_DEVICE },
      req: { path: 'compute', slot: 0, body: { action: 'Increment' } },
      error: { code: 'UNPROCESSABLE', status: 422 },
    },
    {
      name: 'normalize without a snapshot is refused',
      base: { device: TEST_EXEC_DEVICE, process: PROCESS },
      req: 'normalize',
      error: { status: 422, message: 'snapshot' },
    },
  ],
  { packageJson: new URL('../package.json', import.meta.url) },
)
