export {
  LIVE_KEY,
  WASM64_ALIAS,
  WASM64_DEVICE,
  createDevices,
  createWasm64Device,
  memoryLimitPages,
  type LiveProcess,
  type Wasm64Options,
} from './device.ts'
export {
  envJson,
  headerCase,
  messageJson,
  parseResult,
  tagsOf,
  type AoContext,
  type Outcome,
} from './ao-json.ts'
export {
  WORKER_THREAD_NAME,
  type CallFailure,
  type CallOutcome,
  type InstanceLimits,
} from './instance.ts'
export type { InstanceSnapshot, ModuleKind } from './runtime.ts'
export { prepareImage, type ImageInfo, type PrepareOptions } from './wasm-binary.ts'
