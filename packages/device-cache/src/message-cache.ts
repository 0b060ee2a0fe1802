import { createHash } from 'node:crypto'
import {
  badRequest,
  DeviceError,
  decodeValue,
  encodeValue,
  isMessage,
  idTree,
  isPrivateKey,
  Link,
  type IdTree,
  type Message,
  type Store,
  type StoreOp,
  type Value,
} from '@aonode/core'
import { decodedCacheOf } from './decoded-cache.ts'
import { checkId } from './keys.ts'

/** Binaries at least this long are stored once under `data/<sha256>` and linked (dedup). */
export const INLINE_LIMIT = 4096

export interface ReadOptions {
  /** Leave nested messages and large binaries as `Link`s (read them with `readById`). */
  readonly lazy?: boolean
  /**
   * Read only a record of this message: a record stored outside `messages/` (`WritePlan#record`)
   * names its ID, and a different one reads as absent (its key was rewritten with another message).
   */
  readonly id?: string
}

export const messageKey = (messageId: string): string => `messages/${messageId}`
export const dataKey = (hash: string): string => `data/${hash}`
export const commitmentKey = (commitmentId: string): string => `commitments/${commitmentId}`

/** base64url SHA-256: the address of a binary under `data/`, 43 characters like an ID. */
export function dataHash(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64url')
}

/**
 * Plans the store operations that write messages and binaries; nothing is written until the caller
 * commits `ops` in one batch, so a message never lands without its children, and what a batch
 * already holds or the store already has is not written twice.
 *
 * A message is one record at `messages/<ID>`: `encodeValue([keys, nested, data])` where `keys` is the
 * message with each nested message replaced by `Link(<its ID>)` and each large binary by
 * `Link(<its sha256>)`, and `nested` / `data` name those keys.
 */
export class WritePlan {
  readonly ops: StoreOp[] = []
  /** Undefined for a plan that is only built here and committed elsewhere (`PlanThread`). */
  private readonly store: Store | undefined
  private readonly planned = new Set<string>()
  private readonly inlineSmall: boolean

  /**
   * `inlineSmall: true` keeps a small nested message (no large binaries, no private keys, at most
   * INLINE_KEYS keys in its whole tree) inside its parent's record instead of a record of its own:
   * reads of the parent are unchanged, but that nested message is not readable by its own ID. For
   * per-slot results, whose small nested messages are new each slot and only read with their state.
   */
  constructor(store: Store | undefined, options: { readonly inlineSmall?: boolean } = {}) {
    this.store = store
    this.inlineSmall = options.inlineSmall ?? false
  }

  /** Plans `message` and returns its unsigned ID. */
  message(message: Message): string {
    // One pass over the whole tree gives every nested message's ID: no level is hashed twice.
    const ids = idTree(message)
    return this.tree(message, ids.id, ids)
  }

  /**
   * Plans `message`'s nested messages and large binaries, and returns its ID and its record (which
   * names the ID: `[keys, nested, data, ID]`) for the caller to store under a key of its own
   * instead of `messages/<ID>`.
   */
  record(message: Message): { readonly id: string; readonly value: Uint8Array } {
    const ids = idTree(message)
    return { id: ids.id, value: this.encodeRecord(message, ids, ids.id) }
  }

  private tree(message: Message, messageId: string, ids: IdTree): string {
    const key = messageKey(messageId)
    if (this.planned.has(key)) return messageId
    this.planned.add(key)
    // `ifAbsent`: the store's own lookup at commit skips a message it already has.
    this.ops.push({ op: 'put', key, value: this.encodeRecord(message, ids), ifAbsent: true })
    return messageId
  }

  /** The record of `message` (its children planned); with `ownId` when stored outside `messages/`. */
  private encodeRecord(message: Message, ids: IdTree, ownId?: string): Uint8Array {
    // A plain object is cheaper to build and encode; only `__proto__` needs one without a prototype.
    const keys = Object.hasOwn(message, '__proto__')
      ? (Object.create(null) as Record<string, Value>)
      : ({} as Record<string, Value>)
    const nested: string[] = []
    const data: string[] = []
    for (const name of Object.keys(message)) {
      if (isPrivateKey(name)) continue
      const value = message[name] as Value
      if (isMessage(value) && this.inlineSmall && smallTree(value, INLINE_KEYS) >= 0) {
        keys[name] = value
      } else if (isMessage(value)) {
        keys[name] = new Link(this.tree(value, ids.idOf(value) as string, ids))
        nested.push(name)
      } else if (value instanceof Uint8Array && value.byteLength >= INLINE_LIMIT) {
        keys[name] = new Link(this.data(value))
        data.push(name)
      } else {
        keys[name] = value
      }
    }
    return encodeValue(ownId === undefined ? [keys, nested, data] : [keys, nested, data, ownId])
  }

  /** Plans a binary under `data/<sha256>` and returns the hash. */
  data(bytes: Uint8Array): string {
    const hash = dataHash(bytes)
    const key = dataKey(hash)
    if (!this.planned.has(key)) {
      this.planned.add(key)
      this.ops.push({ op: 'put', key, value: bytes, ifAbsent: true })
    }
    return hash
  }

  async commit(): Promise<void> {
    if (this.store === undefined) throw new Error('this write plan has no store to commit to')
    if (this.ops.length > 0) await this.store.batch(this.ops)
  }
}

/** Most keys (counted over the whole tree) of a nested message stored inline (`inlineSmall`). */
export const INLINE_KEYS = 32

/** `budget` minus the keys in `message`'s tree, or -1 when it is not small enough to inline. */
function smallTree(message: Message, budget: number): number {
  for (const name of Object.keys(message)) {
    if (--budget < 0 || isPrivateKey(name)) return -1
    const value = message[name] as Value
    if (isMessage(value)) budget = smallTree(value, budget)
    else if (value instanceof Uint8Array && value.byteLength >= INLINE_LIMIT) return -1
    if (budget < 0) return -1
  }
  return budget
}

/** Writes a message (nested messages and large binaries content-addressed) and returns its ID. */
export async function writeMessage(store: Store, message: Message): Promise<string> {
  const plan = new WritePlan(store)
  const messageId = plan.message(message)
  await plan.commit()
  return messageId
}

/**
 * Writes several messages in one commit (all or nothing; nested messages and binaries they share
 * are stored once) and returns their IDs in order. 400 when an entry is not a message.
 */
export async function writeMessages(store: Store, messages: readonly Message[]): Promise<string[]> {
  if (!Array.isArray(messages)) throw badRequest('writeMessages takes a list of messages')
  const plan = new WritePlan(store)
  const ids = messages.map((message, index) => {
    if (!isMessage(message)) throw badRequest(`entry ${index} to write is not a message`)
    return plan.message(message)
  })
  await plan.commit()
  return ids
}

/** Stores a binary once under `data/<sha256>` and returns the hash. */
export async function writeData(store: Store, bytes: Uint8Array): Promise<string> {
  const plan = new WritePlan(store)
  const hash = plan.data(bytes)
  await plan.commit()
  return hash
}

/** Makes `commitmentId` another name of the stored message `messageId`. */
export async function linkCommitment(
  store: Store,
  commitmentId: string,
  messageId: string,
): Promise<void> {
  checkId(commitmentId, 'commitment')
  checkId(messageId, 'message')
  await store.link(commitmentKey(commitmentId), messageKey(messageId))
}

/**
 * The store key an ID names, links followed: `messages/<ID>` (unsigned ID), else the target of
 * `commitments/<ID>`, else `data/<ID>` (a binary's hash); undefined when absent. 400 for a malformed ID.
 */
export function locate(store: Store, target: string): string | undefined {
  checkId(target, 'target')
  return (
    store.resolve(messageKey(target)) ??
    store.resolve(commitmentKey(target)) ??
    store.resolve(dataKey(target))
  )
}

/** A stored message by unsigned ID or commitment ID; undefined when absent. */
export function readMessage(
  store: Store,
  messageId: string,
  options: ReadOptions = {},
): Message | undefined {
  checkId(messageId, 'target')
  // Fast path: the unsigned ID is a record right at messages/<ID>.
  const message = readMessageAt(store, messageKey(messageId), options)
  if (message !== undefined) return message
  const found = locate(store, messageId)
  return found === undefined || isDataKey(found) ? undefined : readMessageAt(store, found, options)
}

/** Whatever an ID names: a message (by unsigned or commitment ID) or a stored binary. */
export function readById(
  store: Store,
  target: string,
  options: ReadOptions = {},
): Message | Uint8Array | undefined {
  const message = readMessage(store, target, options)
  if (message !== undefined) return message
  const key = locate(store, target)
  return key !== undefined && isDataKey(key) ? store.read(key) : undefined
}

/**
 * The message recorded at a store key (or a link to one); undefined when absent. Full reads of
 * `messages/<ID>` go through the store's decoded-message cache (see `setDecodedCacheSize`).
 */
export function readMessageAt(
  store: Store,
  key: string,
  options: ReadOptions = {},
): Message | undefined {
  const cacheable = options.lazy !== true && key.startsWith('messages/')
  const cache = cacheable ? decodedCacheOf(store) : undefined
  const cached = cache?.get(key)
  if (cached !== undefined) return { ...cached }
  const record = store.read(key)
  if (record === undefined) return undefined
  const message = fromRecord(store, record, key, options)
  if (message === undefined) return undefined
  return cache?.add(key, message, record.byteLength) === true ? { ...message } : message
}

const isDataKey = (key: string): boolean => key.startsWith('data/')

/** The message in `record`; undefined when it names another ID than `options.id`. */
function fromRecord(
  store: Store,
  record: Uint8Array,
  at: string,
  options: ReadOptions,
): Message | undefined {
  const decoded = decodeValue(record)
  if (
    !Array.isArray(decoded) ||
    (decoded.length !== 3 && (decoded.length !== 4 || typeof decoded[3] !== 'string')) ||
    !isMessage(decoded[0])
  ) {
    throw corrupt(at, 'not a message record')
  }
  const [keys, nested, data, ownId] = decoded as [Record<string, Value>, Value, Value, string?]
  if (options.id !== undefined && ownId !== undefined && ownId !== options.id) return undefined
  if (options.lazy === true) return keys
  for (const name of names(nested, at)) {
    const child = readMessageAt(store, messageKey(linkId(keys[name], at)))
    if (child === undefined) throw corrupt(at, `nested message "${name}" is missing`)
    keys[name] = child
  }
  for (const name of names(data, at)) {
    const bytes = store.read(dataKey(linkId(keys[name], at)))
    if (bytes === undefined) throw corrupt(at, `binary "${name}" is missing`)
    keys[name] = bytes
  }
  return keys
}

function names(list: Value, at: string): string[] {
  if (!Array.isArray(list) || !list.every((name) => typeof name === 'string')) {
    throw corrupt(at, 'bad key list')
  }
  return list
}

function linkId(value: Value | undefined, at: string): string {
  if (!(value instanceof Link)) throw corrupt(at, 'a stored reference is not a link')
  return value.id
}

function corrupt(at: string, problem: string): DeviceError {
  return new DeviceError('DEVICE_FAILED', `stored message ${at} is corrupt: ${problem}`)
}
