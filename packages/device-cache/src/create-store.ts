import { badRequest, type Store } from '@aonode/core'
import { createLmdbStore, type LmdbStoreOptions } from './lmdb-store.ts'
import { createMemoryStore } from './memory-store.ts'

/** A store chosen by configuration; `kind` defaults to `lmdb`. New backends add a case here. */
export type StoreConfig =
  ({ readonly kind?: 'lmdb' } & LmdbStoreOptions) | { readonly kind: 'memory' }

/** Opens the store a node's configuration names (async, so remote backends can connect first). */
export function createStore(config: StoreConfig): Promise<Store> {
  const kind = config.kind ?? 'lmdb'
  switch (config.kind) {
    case undefined:
    case 'lmdb':
      if (typeof config.path !== 'string' || config.path === '') {
        throw badRequest('an lmdb store needs a "path"')
      }
      return Promise.resolve(createLmdbStore(config))
    case 'memory':
      return Promise.resolve(createMemoryStore())
    default:
      throw badRequest(`unknown store kind ${JSON.stringify(kind)} (lmdb or memory)`)
  }
}
