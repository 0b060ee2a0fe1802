import type { Device } from '@aonode/core'
import { createLuaDevice, type LuaDeviceOptions } from './device.ts'

export { createLuaDevice, DEFAULT_OPTIONS, type LuaDeviceOptions } from './device.ts'
export { SANDBOXED } from './process.ts'

/** The loader contract: `lua@5.3a` (alias `lua@5.4`). */
export function createDevices(options: LuaDeviceOptions = {}): Device[] {
  return [createLuaDevice(options)]
}
