import type { Device } from '@aonode/core'
import { createSchedulerDevice, type SchedulerOptions } from './scheduler.ts'

export {
  createSchedulerDevice,
  processIdOf,
  MAX_PAGE,
  SCHEDULER_DEVICE,
  type SchedulerOptions,
} from './scheduler.ts'
export { padSlot, SLOT_DIGITS } from './keys.ts'

/** Loader contract: the devices this package provides. */
export function createDevices(options: SchedulerOptions = {}): Device[] {
  return [createSchedulerDevice(options)]
}
