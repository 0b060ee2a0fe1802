/**
 * The storage contract every store backend implements (HyperBEAM's `hb_store` shape): binary values
 * under `/`-separated string keys, links (a key that points at another key), groups (a key that has
 * children) and prefix listing, plus atomic batches. Backends live in `@aonode/device-cache`
 * (LMDB on disk, memory); devices receive the node's store as `ctx.store`.
 *
 * Writes resolve once durable. Concurrent writes are grouped into one commit by the backend,
 * so many awaiting writers cost one disk sync.
 */
export type StoreOp =
  | {
      readonly op: 'put'
      readonly key: string
      readonly value: Uint8Array
      /**
       * Put only if the key holds nothing (no value, no link): for content-addressed keys, whose
       * existing entry already holds these bytes, so the writer needs no lookup of its own. A backend
       * may write anyway when it cannot tell cheaply (e.g. the key's earlier write is still committing).
       */
      readonly ifAbsent?: boolean
    }
  | { readonly op: 'link'; readonly key: string; readonly target: string }
  | { readonly op: 'delete'; readonly key: string }

export type StoreEntryType = 'value' | 'link' | 'group'

export interface ListOptions {
  /** Only children whose name sorts at or after this. */
  readonly start?: string
  /** Only children whose name sorts before this. */
  readonly end?: string
  readonly limit?: number
  readonly reverse?: boolean
}

export interface Store {
  /** Short name of the backend, e.g. `lmdb` or `memory`. */
  readonly kind: string
  /** The value at `key`, following links; undefined when absent. */
  read(key: string): Uint8Array | undefined
  /** Where `key` points if it is a link (followed to the end), else `key` itself; undefined when absent. */
  resolve(key: string): string | undefined
  type(key: string): StoreEntryType | undefined
  write(key: string, value: Uint8Array): Promise<void>
  link(key: string, target: string): Promise<void>
  /** All operations commit together or not at all. */
  batch(ops: readonly StoreOp[]): Promise<void>
  /** Names of the direct children of the group `prefix` (without the prefix), in byte order. */
  list(prefix: string, options?: ListOptions): string[]
  close(): Promise<void>
}
