export { createCacheDevice, createDevices, type CacheDeviceOptions } from './device.ts'
export { createStore, type StoreConfig } from './create-store.ts'
export { createLmdbStore, type LmdbStoreOptions } from './lmdb-store.ts'
export { createMemoryStore } from './memory-store.ts'
export { DEFAULT_DECODED_CACHE_BYTES, setDecodedCacheSize } from './decoded-cache.ts'
export {
  commitmentKey,
  dataHash,
  dataKey,
  INLINE_LIMIT,
  linkCommitment,
  locate,
  messageKey,
  readById,
  readMessage,
  readMessageAt,
  writeData,
  writeMessage,
  writeMessages,
  WritePlan,
  type ReadOptions,
} from './message-cache.ts'
export {
  checkSlot,
  latestResult,
  listSlots,
  planResults,
  readResult,
  writeResult,
  writeResults,
  type LatestResult,
  type PlannedResults,
  type ResultWrite,
  type SlotRange,
} from './results.ts'
export { PlanThread } from './plan-thread.ts'
export { CACHE_DEVICE, checkId, checkKey, MAX_KEY_BYTES, MAX_SLOT, slotKey } from './keys.ts'
