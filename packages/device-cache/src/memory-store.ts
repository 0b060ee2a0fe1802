import type { Store, StoreOp } from '@aonode/core'
import { storeOn, type Backend, type Entry } from './backend.ts'
import { compareUtf8 } from './keys.ts'

/**
 * An in-memory store for tests and ephemeral nodes: same contract and key rules as the LMDB store,
 * nothing survives the process. Values are copied on write so later changes by the caller don't leak in.
 */
export function createMemoryStore(): Store {
  const entries = new Map<string, Entry>()
  /** Every key in UTF-8 byte order, for range scans. */
  const sorted: string[] = []

  /** Index of the first key >= `key`. */
  const lowerBound = (key: string): number => {
    let low = 0
    let high = sorted.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if (compareUtf8(sorted[mid] as string, key) < 0) low = mid + 1
      else high = mid
    }
    return low
  }

  const apply = (op: StoreOp): void => {
    if (op.op === 'delete') {
      if (entries.delete(op.key)) sorted.splice(lowerBound(op.key), 1)
      return
    }
    if (!entries.has(op.key)) sorted.splice(lowerBound(op.key), 0, op.key)
    else if (op.op === 'put' && op.ifAbsent === true) return
    entries.set(
      op.key,
      op.op === 'put'
        ? { type: 'value', value: op.value.slice() }
        : { type: 'link', target: op.target },
    )
  }

  const backend: Backend = {
    kind: 'memory',
    peek(key) {
      const entry = entries.get(key)
      if (entry === undefined) return undefined
      return entry.type === 'link' ? { target: entry.target } : 'value'
    },
    get(key) {
      const entry = entries.get(key)
      // A copy, like LMDB's: decoded binaries are views into it and must not alias the store.
      return entry?.type === 'value' ? { type: 'value', value: entry.value.slice() } : entry
    },
    *keys(low, high, reverse) {
      const from = lowerBound(low)
      const to = high === undefined ? sorted.length : lowerBound(high)
      if (reverse) {
        for (let i = to - 1; i >= from; i--) yield sorted[i] as string
      } else {
        for (let i = from; i < to; i++) yield sorted[i] as string
      }
    },
    commit(ops) {
      // Validated before this point, so applying cannot fail half-way: the batch is atomic.
      for (const op of ops) apply(op)
      return Promise.resolve()
    },
    close() {
      entries.clear()
      sorted.length = 0
      return Promise.resolve()
    },
  }
  return storeOn(backend)
}
