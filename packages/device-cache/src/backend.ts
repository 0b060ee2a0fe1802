import {
  DeviceError,
  type ListOptions,
  type Store,
  type StoreEntryType,
  type StoreOp,
} from '@aonode/core'
import { checkKey, compareUtf8 } from './keys.ts'

/** What a backend stores at one key. Groups are implicit: a key is a group when it has children. */
export type Entry =
  | { readonly type: 'value'; readonly value: Uint8Array }
  | { readonly type: 'link'; readonly target: string }

/** The little a backend implements; `storeOn` builds the whole `Store` contract on top of it. */
export interface Backend {
  readonly kind: string
  /** The entry's type and, for a link, its target, without copying a value. */
  peek(key: string): Entry['type'] | { readonly target: string } | undefined
  value(key: string): Uint8Array | undefined
  /** Keys in `[low, high)` (no upper bound when `high` is undefined), ascending or descending. */
  keys(low: string, high: string | undefined, reverse: boolean): Iterable<string>
  /** Applies every op in one atomic, durable commit (grouped with concurrent commits). */
  commit(ops: readonly StoreOp[]): Promise<void>
  close(): Promise<void>
}

/** Links followed by one resolution; more means a loop. */
export const MAX_LINK_HOPS = 32

/** '0' is the character after '/': `<key>0` bounds every key under `<key>/`. */
const AFTER_SLASH = '0'

/** The `Store` contract (links followed per segment, implicit groups, listing) over a backend. */
export function storeOn(backend: Backend): Store {
  let closed = false
  const open = (): void => {
    if (closed) throw new DeviceError('UNAVAILABLE', `the ${backend.kind} store is closed`)
  }

  const hasChildren = (key: string): boolean => {
    for (const _ of backend.keys(`${key}/`, key + AFTER_SLASH, false)) return true
    return false
  }

  /** Follows a chain of links at `key` itself; undefined when nothing is there. */
  const follow = (key: string, hops: { count: number }): string | undefined => {
    let current = key
    for (;;) {
      const entry = backend.peek(current)
      if (entry === undefined) return hasChildren(current) ? current : undefined
      if (typeof entry === 'string') return current
      if (++hops.count > MAX_LINK_HOPS) {
        throw new DeviceError('UNPROCESSABLE', `too many links from ${JSON.stringify(key)}`)
      }
      current = entry.target
    }
  }

  /** Follows links at the key and, if it is absent, at every segment (hb_store `resolve`). */
  const resolve = (key: string): string | undefined => {
    checkKey(key)
    const hops = { count: 0 }
    const direct = follow(key, hops)
    if (direct !== undefined) return direct
    const segments = key.split('/')
    if (segments.length === 1) return undefined
    let current = ''
    for (const segment of segments) {
      const next = current === '' ? segment : `${current}/${segment}`
      const resolved = follow(next, hops)
      if (resolved === undefined) return undefined
      current = resolved
    }
    return current
  }

  const check = (ops: readonly StoreOp[]): void => {
    for (const op of ops) {
      checkKey(op.key)
      if (op.op === 'put' && !(op.value instanceof Uint8Array)) {
        throw new DeviceError('BAD_REQUEST', `the value for ${JSON.stringify(op.key)} is not bytes`)
      }
      if (op.op === 'link') checkKey(op.target, 'link target')
    }
  }

  return {
    kind: backend.kind,
    read(key) {
      open()
      const resolved = resolve(key)
      return resolved === undefined ? undefined : backend.value(resolved)
    },
    resolve(key) {
      open()
      return resolve(key)
    },
    type(key): StoreEntryType | undefined {
      open()
      checkKey(key)
      const slash = key.lastIndexOf('/')
      const parent = slash < 0 ? undefined : resolve(key.slice(0, slash))
      const exact = parent === undefined ? key : `${parent}/${key.slice(slash + 1)}`
      const entry = backend.peek(exact)
      if (entry === undefined) return hasChildren(exact) ? 'group' : undefined
      return typeof entry === 'string' ? entry : 'link'
    },
    async write(key, value) {
      open()
      const ops: StoreOp[] = [{ op: 'put', key, value }]
      check(ops)
      await backend.commit(ops)
    },
    async link(key, target) {
      open()
      const ops: StoreOp[] = [{ op: 'link', key, target }]
      check(ops)
      await backend.commit(ops)
    },
    async batch(ops) {
      open()
      check(ops)
      if (ops.length > 0) await backend.commit(ops)
    },
    list(prefix, options: ListOptions = {}) {
      open()
      // '' is the root group: the top-level names.
      const group = prefix === '' ? '' : resolve(prefix)
      if (group === undefined) return []
      return childNames(backend, group, options)
    },
    async close() {
      if (closed) return
      closed = true
      await backend.close()
    },
  }
}

/**
 * Direct children of `group` in byte order of their names, skipping over each child's subtree.
 *
 * Key order and name order differ in one case: a child `n` with descendants (`n/...`) and a sibling
 * `n` + a character below '/' (`n-x`): `n-x` < `n/...` as keys but `n` < `n-x` as names. The scan
 * collects names in key order, fixes that case up, then sorts.
 */
function childNames(backend: Backend, group: string, options: ListOptions): string[] {
  const base = group === '' ? '' : `${group}/`
  const limit = options.limit ?? Infinity
  const reverse = options.reverse === true
  const first = base + (options.start ?? '')
  const last: string | undefined =
    options.end !== undefined ? base + options.end : group === '' ? undefined : group + AFTER_SLASH
  const inBounds = (key: string): boolean =>
    compareUtf8(key, first) >= 0 && (last === undefined || compareUtf8(key, last) < 0)
  let low = first
  let high = last
  const names: string[] = []
  const seen = new Set<string>()
  /** Children seen through their subtree, whose `name` + small-character siblings come later. */
  const groups: string[] = []
  const mustContinue = (): boolean =>
    reverse &&
    groups.some((name) => {
      for (const _ of backend.keys(`${base}${name}\u0000`, `${base}${name}/`, false)) return true
      return false
    })
  let more = true
  while (more && (high === undefined || compareUtf8(low, high) < 0)) {
    more = false
    for (const key of backend.keys(low, high, reverse)) {
      const rest = key.slice(base.length)
      const slash = rest.indexOf('/')
      const name = slash < 0 ? rest : rest.slice(0, slash)
      if (!seen.has(name)) {
        seen.add(name)
        names.push(name)
        if (slash >= 0) groups.push(name)
      }
      if (names.length >= limit && !mustContinue()) break
      if (slash >= 0) {
        // Jump past the rest of this child's subtree instead of scanning it.
        if (reverse) high = `${base}${name}/`
        else low = base + name + AFTER_SLASH
        more = true
        break
      }
    }
    if (names.length >= limit && !mustContinue()) break
  }
  if (!reverse) {
    // A child with only descendants sorts before its small-character siblings already listed.
    for (const name of [...names]) {
      for (let i = 1; i < name.length; i++) {
        if (name.charCodeAt(i) >= 0x2f) continue
        const prefix = name.slice(0, i)
        const key = base + prefix
        if (seen.has(prefix) || !inBounds(key)) continue
        for (const _ of backend.keys(`${key}/`, key + AFTER_SLASH, false)) {
          seen.add(prefix)
          names.push(prefix)
          break
        }
      }
    }
  }
  names.sort(reverse ? (a, b) => compareUtf8(b, a) : compareUtf8)
  return names.length > limit ? names.slice(0, limit) : names
}
