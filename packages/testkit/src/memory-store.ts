import {
  DeviceError,
  type ListOptions,
  type Store,
  type StoreEntryType,
  type StoreOp,
} from '@aonode/core'

/** Links followed before a key counts as a cycle. */
const MAX_LINK_HOPS = 32

/**
 * A tiny Map-backed `Store` for device tests: values, links (followed in every path segment, as
 * the real stores do), groups and prefix listing. Nothing touches the disk; `@aonode/device-cache`
 * has the real LMDB and memory stores.
 */
export function createTestStore(): Store {
  const values = new Map<string, Uint8Array>()
  const links = new Map<string, string>()
  let closed = false

  const ensureOpen = (): void => {
    if (closed) throw new DeviceError('UNAVAILABLE', 'the test store is closed')
  }

  /** Follows links segment by segment: `a/b/c` where `a` links to `x` reads `x/b/c`. */
  function follow(key: string): string {
    let current = normalize(key)
    for (let hops = 0; ; hops++) {
      if (hops > MAX_LINK_HOPS) throw new DeviceError('CONFLICT', `link cycle at "${key}"`)
      const parts = current.split('/')
      let rewritten: string | undefined
      for (let i = 1; i <= parts.length; i++) {
        const prefix = parts.slice(0, i).join('/')
        const target = links.get(prefix)
        if (target !== undefined) {
          rewritten = [target, ...parts.slice(i)].join('/')
          break
        }
      }
      if (rewritten === undefined) return current
      current = normalize(rewritten)
    }
  }

  function hasChildren(prefix: string): boolean {
    const start = `${prefix}/`
    for (const key of values.keys()) if (key.startsWith(start)) return true
    for (const key of links.keys()) if (key.startsWith(start)) return true
    return false
  }

  function apply(op: StoreOp): void {
    const key = normalize(op.key)
    if (op.op === 'put') {
      links.delete(key)
      values.set(key, op.value.slice())
    } else if (op.op === 'link') {
      values.delete(key)
      links.set(key, normalize(op.target))
    } else {
      values.delete(key)
      links.delete(key)
    }
  }

  return {
    kind: 'test-memory',
    read(key) {
      ensureOpen()
      return values.get(follow(key))
    },
    resolve(key) {
      ensureOpen()
      const target = follow(key)
      return values.has(target) || hasChildren(target) ? target : undefined
    },
    type(key): StoreEntryType | undefined {
      ensureOpen()
      const target = follow(key)
      if (values.has(target)) return 'value'
      return hasChildren(target) ? 'group' : undefined
    },
    write(key, value) {
      return this.batch([{ op: 'put', key, value }])
    },
    link(key, target) {
      return this.batch([{ op: 'link', key, target }])
    },
    batch(ops) {
      try {
        ensureOpen()
        for (const op of ops) validate(op)
        for (const op of ops) apply(op)
        return Promise.resolve()
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)))
      }
    },
    list(prefix, options: ListOptions = {}) {
      ensureOpen()
      const base = follow(prefix)
      const start = base === '' ? '' : `${base}/`
      const names = new Set<string>()
      for (const key of [...values.keys(), ...links.keys()]) {
        if (!key.startsWith(start)) continue
        const name = key.slice(start.length).split('/')[0] as string
        if (name !== '') names.add(name)
      }
      let out = [...names].sort(byteOrder)
      if (options.start !== undefined)
        out = out.filter((n) => byteOrder(n, options.start as string) >= 0)
      if (options.end !== undefined)
        out = out.filter((n) => byteOrder(n, options.end as string) < 0)
      if (options.reverse === true) out.reverse()
      return options.limit === undefined ? out : out.slice(0, options.limit)
    },
    close() {
      closed = true
      return Promise.resolve()
    },
  }
}

const normalize = (key: string): string =>
  key
    .split('/')
    .filter((part) => part !== '')
    .join('/')

function validate(op: StoreOp): void {
  if (normalize(op.key) === '') throw new DeviceError('BAD_REQUEST', 'store keys cannot be empty')
  if (op.op === 'put' && !(op.value instanceof Uint8Array)) {
    throw new DeviceError('BAD_REQUEST', `store value for "${op.key}" must be a Uint8Array`)
  }
  if (op.op === 'link' && normalize(op.target) === '') {
    throw new DeviceError('BAD_REQUEST', `link "${op.key}" has an empty target`)
  }
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}
