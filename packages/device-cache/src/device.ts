import {
  badRequest,
  defineDevice,
  DeviceError,
  getKey,
  isMessage,
  notFound,
  toInteger,
  type Device,
  type KeyHandler,
  type Message,
  type Store,
  type Value,
} from '@aonode/core'
import { CACHE_DEVICE, checkId, describe } from './keys.ts'
import { commitmentKey, locate, readById, writeMessage } from './message-cache.ts'
import { PlanThread } from './plan-thread.ts'
import {
  checkSlot,
  latestResult,
  listSlots,
  readResult,
  writeResults,
  type ResultWrite,
} from './results.ts'

export interface CacheDeviceOptions {
  /** Most slots one `slots` call returns (default 10,000); ask again with a higher `from`. */
  readonly maxSlots?: number
  /** Most slots one `write-results` call stores (default 10,000); more is a 413. */
  readonly maxResultsPerWrite?: number
  /**
   * Plan result writes of 8 slots or more (state IDs, records) on a worker thread (default true),
   * off the thread that computes. Commits stay in call order either way.
   */
  readonly resultThread?: boolean
}

/** Request keys that steer the request rather than form the message `write` stores. */
const CONTROL_KEYS = new Set(['path', 'method'])

const where = (key: string) => ({ device: CACHE_DEVICE, key })

function required(req: Message, name: string, key: string): Value {
  const value = getKey(req, name)
  if (value === undefined) throw badRequest(`missing "${name}"`, where(key))
  return value
}

function id(req: Message, name: string, key: string): string {
  return checkId(getKey(req, name), name, where(key))
}

function message(req: Message, name: string, key: string): Message {
  const value = required(req, name, key)
  if (!isMessage(value)) throw badRequest(`"${name}" must be a message`, where(key))
  return value
}

/** One slot's write from `entry` (a `write-result` request or an item of `write-results`). */
function resultWrite(process: string, entry: Message, key: string): ResultWrite {
  const snapshot = getKey(entry, 'snapshot')
  if (snapshot !== undefined && !isMessage(snapshot)) {
    throw badRequest('"snapshot" must be a message', where(key))
  }
  return {
    process,
    slot: checkSlot(required(entry, 'slot', key)),
    result: message(entry, 'result', key),
    ...(snapshot !== undefined && { snapshot }),
  }
}

function optionalSlot(req: Message, name: string): number | undefined {
  const value = getKey(req, name)
  return value === undefined ? undefined : checkSlot(value, name)
}

/** What `write` stores: the body message, a binary or text body with its content type, or the request's own keys. */
function toStore(req: Message): Message {
  const body = getKey(req, 'body')
  if (isMessage(body)) return body
  if (body instanceof Uint8Array || typeof body === 'string') {
    const contentType = getKey(req, 'content-type')
    return typeof contentType === 'string' ? { body, 'content-type': contentType } : { body }
  }
  if (body !== undefined) {
    throw badRequest(
      `"body" must be a message, a binary or text: ${describe(body)}`,
      where('write'),
    )
  }
  const own: Record<string, Value> = {}
  for (const key of Object.keys(req)) {
    if (!CONTROL_KEYS.has(key.toLowerCase())) own[key] = req[key] as Value
  }
  return own
}

/** cache@1.0: the message cache and the process-result cache over the node's store (`ctx.store`). */
export function createCacheDevice(options: CacheDeviceOptions = {}): Device {
  const maxSlots = options.maxSlots ?? 10_000
  const maxResultsPerWrite = options.maxResultsPerWrite ?? 10_000
  const planThread = options.resultThread === false ? undefined : new PlanThread()
  const storeResults = (store: Store, writes: readonly ResultWrite[]): Promise<string[]> =>
    planThread === undefined ? writeResults(store, writes) : planThread.writeResults(store, writes)

  const keys: Record<string, KeyHandler> = {
    read(_base, req, ctx) {
      const target = id(req, 'target', 'read')
      const found = readById(ctx.store, target)
      if (found === undefined) throw notFound(`nothing is stored under ${target}`, where('read'))
      return found
    },

    async write(_base, req, ctx) {
      return { id: await writeMessage(ctx.store, toStore(req)), status: 200 }
    },

    /** `destination` becomes another name of what `source` names (HyperBEAM `hb_cache:link`). */
    async link(_base, req, ctx) {
      const source = id(req, 'source', 'link')
      const destination = id(req, 'destination', 'link')
      const target = locate(ctx.store, source)
      if (target === undefined) throw notFound(`nothing is stored under ${source}`, where('link'))
      const existing = locate(ctx.store, destination)
      if (existing !== undefined && existing !== target) {
        throw new DeviceError(
          'CONFLICT',
          `${destination} already names something else`,
          where('link'),
        )
      }
      if (existing === undefined) await ctx.store.link(commitmentKey(destination), target)
      return { status: 200 }
    },

    async 'write-result'(_base, req, ctx) {
      const write = resultWrite(id(req, 'process', 'write-result'), req, 'write-result')
      const [stateId] = await storeResults(ctx.store, [write])
      return { id: stateId as string }
    },

    /** Many slots of one process in one atomic commit: `results` lists `{slot, result, snapshot?}`. */
    async 'write-results'(_base, req, ctx) {
      const pid = id(req, 'process', 'write-results')
      const list = required(req, 'results', 'write-results')
      if (!Array.isArray(list) || list.length === 0 || !list.every(isMessage)) {
        throw badRequest(
          '"results" must be a non-empty list of {slot, result, snapshot?} messages',
          where('write-results'),
        )
      }
      if (list.length > maxResultsPerWrite) {
        throw new DeviceError(
          'TOO_LARGE',
          `"results" lists ${list.length} slots; at most ${maxResultsPerWrite} per write`,
          where('write-results'),
        )
      }
      const writes = list.map((entry) => resultWrite(pid, entry, 'write-results'))
      return { ids: await storeResults(ctx.store, writes) }
    },

    'read-result'(_base, req, ctx) {
      const pid = id(req, 'process', 'read-result')
      const at =
        getKey(req, 'slot') !== undefined
          ? { slot: checkSlot(getKey(req, 'slot')) }
          : { id: id(req, 'id', 'read-result') }
      const result = readResult(ctx.store, pid, at)
      if (result === undefined) {
        const which = 'slot' in at ? `slot ${at.slot}` : `state ${at.id}`
        throw notFound(`no result for ${which} of process ${pid}`, where('read-result'))
      }
      return result
    },

    latest(_base, req, ctx) {
      const pid = id(req, 'process', 'latest')
      const require = getKey(req, 'require')
      if (require !== undefined && require !== 'snapshot') {
        throw badRequest(`"require" can only be "snapshot": ${describe(require)}`, where('latest'))
      }
      const to = optionalSlot(req, 'to')
      const found = latestResult(ctx.store, pid, {
        ...(to !== undefined && { to }),
        withSnapshot: require === 'snapshot',
      })
      if (found === undefined) {
        const what = require === 'snapshot' ? 'snapshot' : 'result'
        const bound = to === undefined ? '' : ` at or below slot ${to}`
        throw notFound(`process ${pid} has no ${what}${bound}`, where('latest'))
      }
      return { ...found }
    },

    slots(_base, req, ctx) {
      const requested = getKey(req, 'limit')
      const limit = requested === undefined ? maxSlots : toInteger(requested)
      if (limit === undefined || limit < 1)
        throw badRequest('"limit" must be a positive integer', where('slots'))
      const from = optionalSlot(req, 'from')
      const to = optionalSlot(req, 'to')
      const slots = listSlots(ctx.store, id(req, 'process', 'slots'), {
        ...(from !== undefined && { from }),
        ...(to !== undefined && { to }),
        limit: Math.min(limit, maxSlots),
      })
      return { slots }
    },
  }

  return defineDevice({
    info: {
      name: CACHE_DEVICE,
      core: '^0.1.0',
      description: 'Content-addressed message cache and process-result cache over the node store',
    },
    keys,
    async stop() {
      await planThread?.close()
    },
  })
}

/** The loader contract: this package provides `cache@1.0`. */
export function createDevices(options: CacheDeviceOptions = {}): Device[] {
  return [createCacheDevice(options)]
}
