import { open, type RootDatabase } from 'lmdb'
import type { Store, StoreOp } from '@aonode/core'
import { storeOn, type Backend } from './backend.ts'

export interface LmdbStoreOptions {
  /** Directory of the LMDB environment (created if missing). */
  readonly path: string
  /**
   * `true` (default): a write resolves once its commit is synced to disk. `false`: no fsync, which
   * survives a process crash but not a power loss or OS crash (for scratch nodes and tests).
   */
  readonly durable?: boolean
  /** Page size of a new environment in bytes (default 8,192: measured the least disk per 1 KB message). */
  readonly pageSize?: number
}

// First byte of every stored value: what kind of entry it is.
const VALUE = 0
const LINK = 1

/**
 * The default store: one LMDB environment, keys as UTF-8 bytes (never file-system paths), values
 * tagged as value or link. Writes go through lmdb's write thread, which commits everything queued
 * in an event turn as one transaction, so concurrent writers share one disk sync (group commit).
 */
export function createLmdbStore(options: LmdbStoreOptions): Store {
  const durable = options.durable ?? true
  const db: RootDatabase<Buffer, string> = open({
    path: options.path,
    encoding: 'binary',
    compression: false,
    cache: false,
    pageSize: options.pageSize ?? 8192,
    // A commit's promise resolves only after its fsync: with overlappingSync it would resolve before.
    overlappingSync: false,
    noSync: !durable,
  })

  const encode = (op: Exclude<StoreOp, { op: 'delete' }>): Buffer => {
    if (op.op === 'link') return Buffer.from(`\u0001${op.target}`, 'utf8')
    const tagged = Buffer.allocUnsafe(op.value.byteLength + 1)
    tagged[0] = VALUE
    tagged.set(op.value, 1)
    return tagged
  }

  const write = (op: StoreOp): Promise<boolean> =>
    op.op === 'delete' ? db.remove(op.key) : db.put(op.key, encode(op))

  const backend: Backend = {
    kind: 'lmdb',
    peek(key) {
      const bytes = db.getBinaryFast(key)
      if (bytes === undefined) return undefined
      return bytes[0] === LINK ? { target: bytes.toString('utf8', 1, bytes.length) } : 'value'
    },
    get(key) {
      // getBinaryFast + one copy: lmdb's getBinary copies with Uint8Array#slice, several times slower.
      const bytes = db.getBinaryFast(key)
      if (bytes === undefined) return undefined
      if (bytes[0] === LINK)
        return { type: 'link', target: bytes.toString('utf8', 1, bytes.length) }
      const value = Buffer.allocUnsafe(bytes.length - 1)
      bytes.copy(value, 0, 1, bytes.length)
      return { type: 'value', value: new Uint8Array(value.buffer, value.byteOffset, value.length) }
    },
    keys(low, high, reverse) {
      if (!reverse) return db.getKeys({ start: low, end: high, snapshot: false })
      return reverseKeys(db, low, high)
    },
    async commit(ops) {
      // lmdb commits every async write made in one event turn in one transaction (its documented
      // rule; we never call transactionSync, the one exception), so issuing the whole batch
      // synchronously here makes it atomic, and it shares its commit and sync with concurrent writers.
      // This is much faster than a transaction callback, which must round-trip to the main thread.
      let last: Promise<boolean> | undefined
      for (const op of ops) last = write(op)
      await last
    },
    async close() {
      await db.close()
    },
  }
  return storeOn(backend)
}

/** Keys in `[low, high)` descending: lmdb's reverse range includes its start and excludes its end. */
function* reverseKeys(db: RootDatabase<Buffer, string>, low: string, high: string | undefined) {
  const range = db.getKeys({
    reverse: true,
    snapshot: false,
    end: low,
    ...(high !== undefined && { start: high }),
  })
  for (const key of range) {
    if (key !== high) yield key
  }
  if (db.doesExist(low)) yield low
}
