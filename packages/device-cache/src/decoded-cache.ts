import { isMessage, type Message, type Store, type Value } from '@aonode/core'

/** Default budget of decoded messages kept per store, counted in bytes of their records. */
export const DEFAULT_DECODED_CACHE_BYTES = 64 * 1024 * 1024

/**
 * Decoded messages by their `messages/<ID>` key, least recently used first out. A record at a
 * message ID never changes (the ID is its content's hash), so an entry is never stale. Entries are
 * deep-frozen and readers get a fresh top-level copy: nested messages are shared and read-only.
 * Messages holding binaries are not cached (a binary cannot be frozen, and a reader may own it).
 */
export class DecodedCache {
  private readonly entries = new Map<string, { readonly message: Message; readonly size: number }>()
  private bytes = 0
  private limit: number

  constructor(limit: number) {
    this.limit = limit
  }

  resize(limit: number): void {
    this.limit = limit
    this.evict()
  }

  get(key: string): Message | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    this.entries.delete(key)
    this.entries.set(key, entry)
    return entry.message
  }

  /** Caches `message` if it has no binaries and fits; returns whether it did (then it is frozen). */
  add(key: string, message: Message, size: number): boolean {
    if (size > this.limit / 4 || !freezable(message)) return false
    deepFreeze(message)
    this.entries.set(key, { message, size })
    this.bytes += size
    this.evict()
    return true
  }

  private evict(): void {
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.limit) break
      this.entries.delete(oldest)
      this.bytes -= entry.size
    }
  }
}

const caches = new WeakMap<Store, DecodedCache>()

export function decodedCacheOf(store: Store): DecodedCache {
  let cache = caches.get(store)
  if (cache === undefined) {
    cache = new DecodedCache(DEFAULT_DECODED_CACHE_BYTES)
    caches.set(store, cache)
  }
  return cache
}

/** Sets how many bytes of decoded messages `readMessage` keeps for `store` (0 turns it off). */
export function setDecodedCacheSize(store: Store, bytes: number): void {
  decodedCacheOf(store).resize(bytes)
}

function freezable(value: Value): boolean {
  if (value instanceof Uint8Array) return false
  if (Array.isArray(value)) return (value as readonly Value[]).every(freezable)
  if (isMessage(value)) return Object.keys(value).every((key) => freezable(value[key] as Value))
  return true
}

function deepFreeze(value: Value): void {
  if (Array.isArray(value) || isMessage(value)) {
    for (const item of Object.values(value) as Value[]) deepFreeze(item)
    Object.freeze(value)
  }
}
