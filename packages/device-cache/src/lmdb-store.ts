import { resolve } from 'node:path'
import { open, type Database, type RootDatabase } from 'lmdb'
import { DeviceError, type Store, type StoreOp } from '@aonode/core'
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
  /**
   * Values shorter than this many bytes stay inline under their key (default 256); longer ones go to
   * the `blobs` database, appended under a sequence number, with a 9-byte pointer under the key.
   */
  readonly inlineBelow?: number
}

// First byte of every entry in the main database: what kind of entry it is.
const VALUE = 0
const LINK = 1
const BLOB = 2

/** Bytes of a blob's sequence number: its key in `blobs` (big-endian, so key order is number order). */
const SEQUENCE_BYTES = 8
const POINTER_BYTES = 1 + SEQUENCE_BYTES

/**
 * Name of the blobs database. LMDB records a named database as a key of the main database, so the
 * name is one no store key can be (a leading '/'), and key scans skip it.
 */
export const BLOBS_DB = '/blobs'

/** `issue`'s per-op lookup: the key holds no blob; a put `ifAbsent` that is skipped. */
const NO_BLOB = -1
const SKIP = -2

/** Write buffers of batches kept for reuse (`takeSlab`): at most this many, of these sizes. */
const MAX_FREE_SLABS = 4
const MIN_POOLED_SLAB = 64 * 1024
const MAX_POOLED_SLAB = 4 * 1024 * 1024

const DEFAULT_INLINE_BELOW = 256
/**
 * Transactions handed to lmdb and not yet durable: one syncing and one queued behind it keep lmdb's
 * write thread busy; batches beyond that wait and go out together (group commit, below).
 */
const MAX_IN_FLIGHT = 2
/**
 * A batch this large is worth its own transaction: it goes to lmdb at once unless smaller ones wait
 * ahead of it (then it joins them, so batches still commit in call order). A producer of large
 * batches (process@1.0's result writes) keeps lmdb's write thread fed instead of waiting for a sync.
 */
const OWN_TRANSACTION_OPS = 64
const APPEND = { append: true } as const

/**
 * Directories with an open store in this process. Blob sequence numbers are handed out by the
 * store object, so two stores writing one directory would hand out the same numbers.
 */
const openPaths = new Set<string>()

/**
 * The default store: one LMDB environment, keys as UTF-8 bytes (never file-system paths). Writes go
 * through lmdb's write thread, which commits everything queued in an event turn as one transaction,
 * so concurrent writers share one disk sync (group commit).
 *
 * Split layout: a random key (a content address) dirties a whole B-tree page per insert, so the main
 * database keeps only small entries (links, tiny values, pointers) and every larger value is appended
 * to `blobs` under an increasing sequence number, where consecutive inserts fill the same page.
 */
export function createLmdbStore(options: LmdbStoreOptions): Store {
  const durable = options.durable ?? true
  const inlineBelow = options.inlineBelow ?? DEFAULT_INLINE_BELOW
  const where = resolve(options.path)
  if (openPaths.has(where)) {
    throw new DeviceError('CONFLICT', `a store is already open on ${where}: close it first`)
  }
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
  openPaths.add(where)
  const blobs: Database<Buffer, Buffer> = db.openDB(BLOBS_DB, {
    encoding: 'binary',
    keyEncoding: 'binary',
    compression: false,
    cache: false,
  })

  // lmdb's async put takes put options at run time (write.js); its typings list only the sync form.
  const appendBlob = blobs.put.bind(blobs) as unknown as (
    key: Buffer,
    value: Buffer,
    options: { readonly append: true },
  ) => Promise<boolean>

  // Next sequence number: one past the last blob (the last committed transaction after a crash).
  let nextSequence = 0
  for (const last of blobs.getKeys({ reverse: true, limit: 1, snapshot: false })) {
    nextSequence = readSequence(last, 0) + 1
  }

  /** lmdb copies a key into its write instructions at once, so one scratch buffer serves every call. */
  const scratchKey = Buffer.alloc(SEQUENCE_BYTES)
  const sequenceKey = (sequence: number): Buffer => {
    writeSequence(scratchKey, 0, sequence)
    return scratchKey
  }

  /**
   * Blob (or none: `undefined`) of every key whose write is issued but not yet committed, newest
   * write last: the committed state does not show it yet, and a later write to the key must free
   * the blob this one will leave, not the one committed before it.
   */
  const pending = new Map<string, number | undefined>()

  /** The value behind a main-database entry that is not a link; a view lmdb reuses, or undefined. */
  const valueOf = (bytes: Buffer): Buffer | undefined => {
    // Not `subarray(1)`: lmdb sets `length` on a larger shared buffer.
    if (bytes[0] !== BLOB) return bytes.subarray(1, bytes.length)
    return blobs.getBinaryFast(sequenceKey(readSequence(bytes, 1)))
  }

  /**
   * Issues `ops` (already validated) as lmdb writes in this event turn, so they share one
   * transaction, and returns the promises of the last write and of every blob appended. Every value
   * a put keeps is copied into one buffer for the whole batch: lmdb reads a value only when its
   * write thread gets to it.
   */
  const issue = (ops: readonly StoreOp[], issued: [string, number | undefined][]) => {
    // One lookup per op, before sizing the buffer: a put `ifAbsent` whose key holds an entry is
    // skipped (its value never copied), and every other op learns the blob it must free.
    const held = new Float64Array(ops.length)
    let bytes = 0
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as StoreOp
      let old = NO_BLOB
      if (pending.has(op.key)) {
        // Its earlier write may still fail: an `ifAbsent` put is written again rather than skipped.
        old = pending.get(op.key) ?? NO_BLOB
      } else {
        const entry = db.getBinaryFast(op.key)
        if (entry !== undefined) {
          if (op.op === 'put' && op.ifAbsent === true) old = SKIP
          else if (entry[0] === BLOB) old = readSequence(entry, 1)
        }
      }
      held[i] = old
      if (op.op === 'link') bytes += 1 + Buffer.byteLength(op.target)
      else if (op.op === 'put' && old !== SKIP) {
        const size = op.value.byteLength
        bytes += size < inlineBelow ? 1 + size : POINTER_BYTES + size
      }
    }
    const slab = takeSlab(bytes)
    let at = 0
    let last: Promise<boolean> | undefined
    const appended: Promise<boolean>[] = []
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as StoreOp
      const committed = held[i] as number
      if (committed === SKIP) continue
      // An earlier op of this batch on the same key left the blob to free now.
      const old = pending.has(op.key) ? (pending.get(op.key) ?? NO_BLOB) : committed
      // A failed transaction rejects every write in it; the caller hears it from `last`.
      if (old !== NO_BLOB) blobs.remove(sequenceKey(old)).catch(ignore)
      let blob: number | undefined
      if (op.op === 'delete') {
        last = db.remove(op.key)
      } else if (op.op === 'link') {
        const end = at + 1 + slab.write(op.target, at + 1, 'utf8')
        const entry = slab.subarray(at, end)
        entry[0] = LINK
        at = end
        last = db.put(op.key, entry)
      } else if (op.value.byteLength < inlineBelow) {
        const entry = slab.subarray(at, (at += 1 + op.value.byteLength))
        entry[0] = VALUE
        entry.set(op.value, 1)
        last = db.put(op.key, entry)
      } else {
        blob = nextSequence++
        const value = slab.subarray(at, (at += op.value.byteLength))
        value.set(op.value)
        // Sequence numbers only grow, so MDB_APPEND holds: pages fill up instead of splitting in half.
        appended.push(appendBlob(sequenceKey(blob), value, APPEND))
        const pointer = slab.subarray(at, (at += POINTER_BYTES))
        pointer[0] = BLOB
        writeSequence(pointer, 1, blob)
        last = db.put(op.key, pointer)
      }
      pending.set(op.key, blob)
      issued.push([op.key, blob])
    }
    return { last, appended, slab }
  }

  /**
   * Slabs whose commit has settled, for reuse: writing into a fresh large allocation page-faults on
   * every page (measured ~2 us per 1 KB message), a warm slab does not.
   */
  const freeSlabs: Buffer[] = []
  const takeSlab = (bytes: number): Buffer => {
    // Small ones come from node's own buffer pool; huge ones are not worth keeping.
    if (bytes < MIN_POOLED_SLAB) return Buffer.allocUnsafe(bytes)
    if (bytes > MAX_POOLED_SLAB) return Buffer.allocUnsafeSlow(bytes)
    const index = freeSlabs.findIndex((slab) => slab.length >= bytes)
    if (index >= 0) return freeSlabs.splice(index, 1)[0] as Buffer
    // Sizes rounded up to a power of two, so batches of similar size share slabs.
    return Buffer.allocUnsafeSlow(2 ** Math.ceil(Math.log2(bytes)))
  }
  const returnSlab = (slab: Buffer): void => {
    const pooled = slab.length >= MIN_POOLED_SLAB && slab.length <= MAX_POOLED_SLAB
    if (pooled && freeSlabs.length < MAX_FREE_SLABS) freeSlabs.push(slab)
  }

  /**
   * Issues `ops` as one transaction and settles once it is committed and synced. lmdb commits every
   * async write made in one event turn in one transaction (its documented rule; we never call
   * transactionSync, the one exception), so issuing the whole batch synchronously makes it atomic.
   * This is much faster than a transaction callback, which must round-trip to the main thread.
   */
  const commitNow = async (ops: readonly StoreOp[]): Promise<void> => {
    const issued: [string, number | undefined][] = []
    try {
      const { last, appended, slab } = issue(ops, issued)
      const [, ...stored] = await Promise.all([last, ...appended]).finally(() => {
        // The transaction is over (committed or failed): lmdb reads nothing from the slab any more.
        returnSlab(slab)
      })
      // An append refused as out of order: another store wrote this directory's blobs.
      if (stored.includes(false)) {
        throw new DeviceError(
          'DEVICE_FAILED',
          `blob sequence numbers of ${where} were taken by another writer: one store per data directory`,
        )
      }
    } finally {
      // Committed (or failed): the database answers for these keys again, unless a later write is pending.
      for (const [key, blob] of issued) {
        if (pending.get(key) === blob) pending.delete(key)
      }
    }
  }

  /**
   * Group commit. Left to itself, lmdb makes a transaction of each event turn's writes and syncs
   * each one in turn, so under concurrent load a write waits behind a queue of small syncs. Here at
   * most MAX_IN_FLIGHT transactions are in flight; batches that arrive meanwhile form the next one.
   */
  let inFlight = 0
  let next:
    { ops: StoreOp[]; waiters: { resolve(): void; reject(error: unknown): void }[] } | undefined
  const transact = (ops: readonly StoreOp[]): Promise<void> => {
    inFlight++
    const done = commitNow(ops)
    void done.then(ignore, ignore).then(() => {
      inFlight--
      const group = next
      next = undefined
      if (group === undefined) return
      transact(group.ops).then(
        () => {
          for (const waiter of group.waiters) waiter.resolve()
        },
        (error: unknown) => {
          for (const waiter of group.waiters) waiter.reject(error)
        },
      )
    })
    return done
  }

  const backend: Backend = {
    kind: 'lmdb',
    peek(key) {
      const bytes = db.getBinaryFast(key)
      if (bytes === undefined) return undefined
      return bytes[0] === LINK ? { target: bytes.toString('utf8', 1, bytes.length) } : 'value'
    },
    get(key) {
      const bytes = db.getBinaryFast(key)
      if (bytes === undefined) return undefined
      if (bytes[0] === LINK)
        return { type: 'link', target: bytes.toString('utf8', 1, bytes.length) }
      // getBinaryFast + one copy: lmdb's getBinary copies with Uint8Array#slice, several times slower.
      const found = valueOf(bytes)
      if (found === undefined) return undefined
      const value = Buffer.allocUnsafe(found.length)
      found.copy(value)
      return { type: 'value', value: new Uint8Array(value.buffer, value.byteOffset, value.length) }
    },
    keys(low, high, reverse) {
      const keys = reverse
        ? reverseKeys(db, low, high)
        : db.getKeys({ start: low, end: high, snapshot: false })
      return low <= BLOBS_DB ? withoutBlobsName(keys) : keys
    },
    commit(ops) {
      if (next === undefined && (inFlight < MAX_IN_FLIGHT || ops.length >= OWN_TRANSACTION_OPS))
        return transact(ops)
      // Enough is in flight: this batch waits and goes out with every other batch that arrives
      // meanwhile, as one transaction with one sync, as soon as one of those is durable.
      next ??= { ops: [], waiters: [] }
      const group = next
      for (const op of ops) group.ops.push(op)
      return new Promise<void>((resolve, reject) => group.waiters.push({ resolve, reject }))
    },
    async close() {
      // Batches waiting for a group commit are written before the database closes.
      while (next !== undefined || inFlight > 0)
        await new Promise((resolve) => setImmediate(resolve))
      await db.close()
      openPaths.delete(where)
    },
  }
  return storeOn(backend)
}

/** A sequence number as 8 big-endian bytes (two 32-bit halves: no BigInt per write). */
function writeSequence(target: Buffer, at: number, sequence: number): void {
  target.writeUInt32BE(Math.floor(sequence / 2 ** 32), at)
  target.writeUInt32BE(sequence >>> 0, at + 4)
}

function readSequence(source: Buffer, at: number): number {
  return source.readUInt32BE(at) * 2 ** 32 + source.readUInt32BE(at + 4)
}

function ignore(): void {}

function* withoutBlobsName(keys: Iterable<string>): Iterable<string> {
  for (const key of keys) if (key !== BLOBS_DB) yield key
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
