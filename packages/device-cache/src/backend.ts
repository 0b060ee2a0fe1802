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
  peek(key: string): 'value' | { readonly target: string } | undefined
  /** The entry, with a value the caller may keep. */
  get(key: string): Entry | undefined
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

  const hop = (hops: { count: number }, from: string): void => {
    if (++hops.count > MAX_LINK_HOPS) {
      throw new DeviceError('UNPROCESSABLE', `too many links from ${JSON.stringify(from)}`)
    }
  }

  /**
   * Where `key` leads (hb_store `resolve`): links at the key are followed, and when the key itself
   * is absent, a link at any parent segment redirects it. Undefined when nothing is there.
   */
  const resolveKey = (key: string, hops: { count: number }): string | undefined => {
    const entry = backend.peek(key)
    if (entry === 'value') return key
    if (entry !== undefined) {
      hop(hops, key)
      return resolveKey(entry.target, hops)
    }
    const slash = key.lastIndexOf('/')
    if (slash > 0) {
      const parent = key.slice(0, slash)
      const resolvedParent = redirect(parent, hops)
      if (resolvedParent !== parent)
        return resolveKey(`${resolvedParent}/${key.slice(slash + 1)}`, hops)
    }
    return hasChildren(key) ? key : undefined
  }

  /** `path` with links at it or its parents followed; `path` itself when none is a link. */
  const redirect = (path: string, hops: { count: number }): string => {
    const entry = backend.peek(path)
    if (entry === 'value') return path
    if (entry !== undefined) {
      hop(hops, path)
      return resolveKey(entry.target, hops) ?? entry.target
    }
    const slash = path.lastIndexOf('/')
    if (slash <= 0) return path
    const parent = path.slice(0, slash)
    const resolvedParent = redirect(parent, hops)
    return resolvedParent === parent ? path : `${resolvedParent}/${path.slice(slash + 1)}`
  }

  const resolve = (key: string): string | undefined => {
    checkKey(key)
    return resolveKey(key, { count: 0 })
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

  const store: Store = {
    kind: backend.kind,
    read(key) {
      open()
      checkKey(key)
      // Fast path: a value right at the key costs one lookup.
      const entry = backend.get(key)
      if (entry?.type === 'value') return entry.value
      const resolved = resolveKey(key, { count: 0 })
      if (resolved === undefined || (entry === undefined && resolved === key)) return undefined
      const target = backend.get(resolved)
      return target?.type === 'value' ? target.value : undefined
    },
    resolve(key) {
      open()
      return resolve(key)
    },
    type(key): StoreEntryType | undefined {
      open()
      checkKey(key)
      const entry = backend.peek(key)
      if (entry !== undefined) return entry === 'value' ? 'value' : 'link'
      const slash = key.lastIndexOf('/')
      const hops = { count: 0 }
      const parent = slash > 0 ? redirect(key.slice(0, slash), hops) : undefined
      if (parent !== undefined && parent !== key.slice(0, slash)) {
        const redirected = `${parent}/${key.slice(slash + 1)}`
        const found = backend.peek(redirected)
        if (found !== undefined) return found === 'value' ? 'value' : 'link'
        return hasChildren(redirected) ? 'group' : undefined
      }
      return hasChildren(key) ? 'group' : undefined
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
  return store
}

/**
 * Direct children of `group` in byte order of their names, skipping over each child's subtree.
 *
 * Key order and name order differ in one case: a child `n` with descendants (`n/...`) and a name
 * `n` + a character below '/' (`n-x`): `n-x` < `n/...` as keys but `n` < `n-x` as names. The scan
 * collects names in key order, adds the children that case hides, then sorts.
 */
function childNames(backend: Backend, group: string, options: ListOptions): string[] {
  const base = group === '' ? '' : `${group}/`
  const limit = options.limit ?? Infinity
  const reverse = options.reverse === true
  const { start, end } = options
  const first = base + (start ?? '')
  let low = first
  let high: string | undefined =
    end !== undefined ? base + end : group === '' ? undefined : group + AFTER_SLASH
  const inBounds = (name: string): boolean =>
    (start === undefined || compareUtf8(name, start) >= 0) &&
    (end === undefined || compareUtf8(name, end) < 0)
  const any = (from: string, to: string | undefined): boolean => {
    for (const _ of backend.keys(from, to, false)) return true
    return false
  }
  const names: string[] = []
  const seen = new Set<string>()
  /** Children seen through their subtree: siblings `name` + a small character come after them. */
  const groups: string[] = []
  const add = (name: string, isGroup: boolean): void => {
    if (seen.has(name) || !inBounds(name)) return
    seen.add(name)
    names.push(name)
    if (isGroup) groups.push(name)
  }
  /** Adds the prefixes of `name` cut before a character below '/' that have descendants. */
  const addHiddenGroups = (name: string): void => {
    for (let i = 1; i < name.length; i++) {
      if (name.charCodeAt(i) >= 0x2f) continue
      const prefix = name.slice(0, i)
      if (!seen.has(prefix) && any(`${base}${prefix}/`, base + prefix + AFTER_SLASH)) {
        add(prefix, true)
      }
    }
  }
  // Reverse: siblings `name` + a small character below `high` are not scanned yet.
  const mustContinue = (): boolean =>
    reverse &&
    groups.some((name) => {
      const below = `${base}${name}/`
      const upper = high !== undefined && compareUtf8(high, below) < 0 ? high : below
      const from = `${base}${name}\u0000`
      return any(compareUtf8(from, first) < 0 ? first : from, upper)
    })
  const done = (): boolean => names.length >= limit && !mustContinue()

  if (reverse && end !== undefined) addHiddenGroups(end)
  let more = true
  while (more && (high === undefined || compareUtf8(low, high) < 0)) {
    more = false
    for (const key of backend.keys(low, high, reverse)) {
      const rest = key.slice(base.length)
      const slash = rest.indexOf('/')
      const name = slash < 0 ? rest : rest.slice(0, slash)
      add(name, slash >= 0)
      if (done()) break
      if (slash >= 0) {
        // Jump past the rest of this child's subtree instead of scanning it.
        if (reverse) high = `${base}${name}/`
        else low = base + name + AFTER_SLASH
        more = true
        break
      }
    }
    if (done()) break
  }
  if (!reverse) {
    for (const name of [...names]) addHiddenGroups(name)
    if (end !== undefined) addHiddenGroups(end)
  }
  names.sort(reverse ? (a, b) => compareUtf8(b, a) : compareUtf8)
  return names.length > limit ? names.slice(0, limit) : names
}
