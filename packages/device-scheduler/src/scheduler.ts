import { createHash } from 'node:crypto'
import {
  DeviceError,
  badRequest,
  decodeMessage,
  defineDevice,
  encodeMessage,
  getKey,
  getOwn,
  id,
  isId,
  isMessage,
  notFound,
  publicKeys,
  toInteger,
  type Device,
  type Message,
  type ResolveContext,
  type Store,
  type StoreOp,
  type Value,
} from '@aonode/core'
import { toAos2 } from './aos2.ts'
import { assignmentKey, assignmentsGroup, latestKey, processKey } from './keys.ts'

export const SCHEDULER_DEVICE = 'scheduler@1.0'
const CACHE_DEVICE = 'cache@1.0'
/** Most assignments one `GET schedule` (or `assignments`) answer carries. */
export const MAX_PAGE = 1000

export interface SchedulerOptions {
  /** Page size of `GET schedule` and `assignments` (default and maximum 1,000). */
  readonly maxPage?: number
  /** Newest assignments per process kept in memory for compute (1x to 2x this; default 1,000). */
  readonly recentAssignments?: number
}

/** The in-memory head of one process's schedule. Slots are assigned here, synchronously, in order. */
interface Timeline {
  /** The next slot to assign. */
  next: number
  /** The highest slot whose write is durable (-1 before the definition is). */
  durable: number
  /** Raw 32-byte hash-chain of the last assigned slot (empty before slot 0). */
  chain: Uint8Array
  /** Set when a write failed: later slots may be in flight, so the timeline refuses new work. */
  broken?: Error
  /** The newest assignments, from slot `tailStart` on, so compute reads them without decoding. */
  tail: Message[]
  tailStart: number
  /** A head record of an older version (`assignments/<PID>/latest`) to delete with the next write. */
  legacyHead?: true
}

/** Request keys that route the request rather than belong to the scheduled message. */
const ROUTING_KEYS = new Set(['path', 'method'])
const EMPTY = new Uint8Array(0)
const utf8 = new TextEncoder()

/** Per-store scheduler state, so one device instance can serve several stores (tests, tools). */
class Schedules {
  readonly store: Store
  readonly timelines = new Map<string, Timeline>()

  constructor(store: Store) {
    this.store = store
  }

  /** The timeline of an existing process, recovered from the store on first use; 404 if unknown. */
  timeline(pid: string): Timeline {
    let timeline = this.timelines.get(pid)
    if (timeline === undefined) {
      if (this.store.type(processKey(pid)) === undefined) {
        throw notFound(`process ${pid} is not scheduled on this node`, {
          device: SCHEDULER_DEVICE,
        })
      }
      timeline = this.recover(pid)
      this.timelines.set(pid, timeline)
    }
    if (timeline.broken !== undefined) {
      throw new DeviceError(
        'UNAVAILABLE',
        `process ${pid}: a schedule write failed (${timeline.broken.message}); restart the node`,
        { device: SCHEDULER_DEVICE, cause: timeline.broken },
      )
    }
    return timeline
  }

  /** The head of a stored schedule: its newest assignment (slot names sort in slot order). */
  private recover(pid: string): Timeline {
    const [newest] = this.store.list(assignmentsGroup(pid), SLOT_NAMES_REVERSED)
    const timeline = emptyTimeline()
    if (this.store.type(latestKey(pid)) !== undefined) timeline.legacyHead = true
    if (newest === undefined) return timeline
    const bytes = this.store.read(`${assignmentsGroup(pid)}/${newest}`)
    const head = bytes === undefined ? undefined : decodeMessage(bytes)
    const slot = head === undefined ? undefined : toInteger(getOwn(head, 'slot'))
    const chain = head === undefined ? undefined : getOwn(head, 'hash-chain')
    if (slot === undefined || slot !== Number(newest) || typeof chain !== 'string') {
      throw new DeviceError(
        'UNAVAILABLE',
        `process ${pid}: the stored assignment ${newest} is corrupt`,
        { device: SCHEDULER_DEVICE },
      )
    }
    return {
      ...timeline,
      next: slot + 1,
      durable: slot,
      chain: Buffer.from(chain, 'base64url'),
      tailStart: slot + 1,
    }
  }
}

/** The newest slot name of a process's assignments group (slot names are digits, < ':'). */
const SLOT_NAMES_REVERSED = { reverse: true, limit: 1, end: ':' } as const

const emptyTimeline = (): Timeline => ({
  next: 0,
  durable: -1,
  chain: EMPTY,
  tail: [],
  tailStart: 0,
})

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const hash = createHash('sha256')
  for (const part of parts) hash.update(part)
  return hash.digest()
}

/** IDs of process definitions, computed once per definition object. */
const definitionIds = new WeakMap<Message, string>()

/** The process a base message stands for: its `process` definition (or a process ID there). */
export function processIdOf(base: Message): string | undefined {
  const process = getOwn(base, 'process')
  if (isId(process)) return process
  if (!isMessage(process)) return undefined
  let pid = definitionIds.get(process)
  if (pid === undefined) {
    pid = id(process)
    definitionIds.set(process, pid)
  }
  return pid
}

/**
 * Writes a process definition through cache@1.0. The spawn is already durable in the scheduler's own
 * keys, so a failure here is logged rather than failing the spawn.
 */
async function cacheDefinition(pid: string, definition: Message, ctx: ResolveContext) {
  try {
    const written = await ctx.resolve({ device: CACHE_DEVICE }, { path: 'write', body: definition })
    const cachedId = isMessage(written) ? getOwn(written, 'id') : undefined
    if (cachedId !== pid) {
      ctx.log.warn('cache@1.0 stored the definition under another ID', { process: pid, cachedId })
    }
  } catch (error) {
    ctx.log.error('caching the process definition failed', { process: pid, error: String(error) })
  }
}

/** `body` when it is a message (HyperBEAM §5.3), else the request's own keys without routing. */
function messageToSchedule(req: Message): Message {
  const body = getOwn(req, 'body')
  if (isMessage(body)) return body
  const out: Record<string, Value> = {}
  for (const key of publicKeys(req)) {
    if (!ROUTING_KEYS.has(key)) out[key] = req[key] as Value
  }
  return out
}

function isProcessDefinition(message: Message): boolean {
  const type = getKey(message, 'type')
  return typeof type === 'string' && type.toLowerCase() === 'process'
}

/** The process a request addresses: the first of `keys` present in `source`, else the base's. */
function requestedProcess(base: Message, source: Message, keys: readonly string[]): string {
  for (const key of keys) {
    const value = getKey(source, key)
    if (value === undefined) continue
    if (!isId(value)) {
      throw badRequest(`"${key}" must be a 43-character process ID`, {
        device: SCHEDULER_DEVICE,
        key,
      })
    }
    return value
  }
  const pid = processIdOf(base)
  if (pid === undefined) {
    throw badRequest('no process: give "target" or resolve against a process', {
      device: SCHEDULER_DEVICE,
    })
  }
  return pid
}

const TARGET = ['target'] as const
const TARGET_OR_PROCESS = ['target', 'process'] as const

function optionalSlot(req: Message, key: string): number | undefined {
  const value = getKey(req, key)
  if (value === undefined) return undefined
  const slot = toInteger(value)
  if (slot === undefined || slot < 0 || !Number.isSafeInteger(slot)) {
    throw badRequest(`"${key}" must be a non-negative integer slot`, {
      device: SCHEDULER_DEVICE,
      key,
    })
  }
  return slot
}

export function createSchedulerDevice(options: SchedulerOptions = {}): Device {
  const maxPage = Math.max(1, Math.min(MAX_PAGE, options.maxPage ?? MAX_PAGE))
  const tailSize = Math.max(1, options.recentAssignments ?? 1000)
  const byStore = new WeakMap<Store, Schedules>()
  const schedulesOf = (ctx: ResolveContext): Schedules => {
    let schedules = byStore.get(ctx.store)
    if (schedules === undefined) {
      schedules = new Schedules(ctx.store)
      byStore.set(ctx.store, schedules)
    }
    return schedules
  }

  /**
   * Assigns the next slot synchronously (so concurrent requests are ordered by arrival), issues the
   * write without waiting for earlier ones (the store groups them into one commit), and answers once
   * this assignment is durable.
   */
  async function post(base: Message, req: Message, ctx: ResolveContext): Promise<Message> {
    const schedules = schedulesOf(ctx)
    const message = messageToSchedule(req)
    if (publicKeys(message).length === 0) {
      throw badRequest('nothing to schedule: the message has no keys', { device: SCHEDULER_DEVICE })
    }
    const spawn = isProcessDefinition(message)
    let messageId: string
    try {
      messageId = id(message)
    } catch (error) {
      throw badRequest(`malformed message: ${(error as Error).message}`, {
        device: SCHEDULER_DEVICE,
        cause: error,
      })
    }
    let pid: string
    let timeline: Timeline
    if (spawn) {
      pid = messageId
      if (schedules.timelines.has(pid) || schedules.store.type(processKey(pid)) !== undefined) {
        throw new DeviceError(
          'CONFLICT',
          `process ${pid} already exists (add a nonce key to spawn a twin)`,
          { device: SCHEDULER_DEVICE },
        )
      }
      timeline = emptyTimeline()
    } else {
      pid = requestedProcess(base, message, TARGET)
      timeline = schedules.timeline(pid)
    }

    const slot = timeline.next
    const chain = sha256(timeline.chain, utf8.encode(messageId))
    const assignment: Message = {
      'data-protocol': 'ao',
      variant: 'ao.N.1',
      process: pid,
      epoch: 0,
      slot,
      timestamp: Date.now(),
      'hash-chain': chain.toString('base64url'),
      // The body's ID (the legacy `Message` tag): execution devices read it instead of hashing again.
      message: messageId,
      body: message,
    }
    // The newest assignment is the schedule's head after a restart: no head record to rewrite.
    const put: StoreOp = {
      op: 'put',
      key: assignmentKey(pid, slot),
      value: encodeMessage(assignment),
    }
    const writes: StoreOp[] = spawn
      ? [{ op: 'put', key: processKey(pid), value: encodeMessage(message) }, put]
      : timeline.legacyHead === true
        ? [put, { op: 'delete', key: latestKey(pid) }]
        : [put]
    delete timeline.legacyHead
    // Everything above is synchronous: from here on the slot is taken.
    if (spawn) schedules.timelines.set(pid, timeline)
    timeline.next = slot + 1
    timeline.chain = chain
    timeline.tail.push(assignment)
    if (timeline.tail.length >= 2 * tailSize) {
      timeline.tail = timeline.tail.slice(tailSize)
      timeline.tailStart += tailSize
    }
    const durable = schedules.store.batch(writes)
    // A definition also goes to the message cache, so `/<process ID>~process@1.0/...` loads it.
    const cached = spawn ? cacheDefinition(pid, message, ctx) : undefined
    try {
      await durable
    } catch (error) {
      timeline.broken = error as Error
      ctx.log.error('schedule write failed', { process: pid, slot, error: String(error) })
      throw new DeviceError('UNAVAILABLE', `schedule write failed: ${(error as Error).message}`, {
        device: SCHEDULER_DEVICE,
        cause: error,
      })
    }
    await cached
    if (slot > timeline.durable) timeline.durable = slot
    return assignment
  }

  /** Durable assignments `from..to` of a process, at most one page, in slot order. */
  function page(
    schedules: Schedules,
    pid: string,
    req: Message,
  ): { assignments: Message[]; continues: boolean } {
    const timeline = schedules.timeline(pid)
    const from = optionalSlot(req, 'from') ?? 0
    const to = Math.min(optionalSlot(req, 'to') ?? timeline.durable, timeline.durable)
    const last = Math.min(to, from + maxPage - 1)
    const assignments: Message[] = []
    for (let slot = from; slot <= last; slot++) {
      const recent = timeline.tail[slot - timeline.tailStart]
      if (recent !== undefined && slot >= timeline.tailStart) {
        assignments.push(recent)
        continue
      }
      const bytes = schedules.store.read(assignmentKey(pid, slot))
      if (bytes === undefined) {
        throw new DeviceError('UNAVAILABLE', `process ${pid}: slot ${slot} is missing`, {
          device: SCHEDULER_DEVICE,
        })
      }
      assignments.push(decodeMessage(bytes))
    }
    return { assignments, continues: last < to }
  }

  function getSchedule(base: Message, req: Message, ctx: ResolveContext): Message {
    const schedules = schedulesOf(ctx)
    const pid = requestedProcess(base, req, TARGET_OR_PROCESS)
    const { assignments, continues } = page(schedules, pid, req)
    const accept = getKey(req, 'accept')
    if (typeof accept === 'string' && accept.toLowerCase().includes('application/aos-2')) {
      return toAos2(pid, assignments, continues)
    }
    const bySlot: Record<string, Value> = {}
    for (const assignment of assignments) bySlot[String(toInteger(assignment['slot']))] = assignment
    return {
      type: 'schedule',
      process: pid,
      continues,
      timestamp: Date.now(),
      assignments: bySlot,
    }
  }

  return defineDevice({
    info: {
      name: SCHEDULER_DEVICE,
      core: '^0.1.0',
      description: 'Durable, contiguous, hash-chained slots per process',
    },
    keys: {
      schedule(base, req, ctx) {
        const method = getKey(req, 'method')
        if (typeof method === 'string' && method.toUpperCase() === 'POST') {
          return post(base, req, ctx)
        }
        return getSchedule(base, req, ctx)
      },
      slot(base, req, ctx) {
        const pid = requestedProcess(base, req, TARGET_OR_PROCESS)
        const timeline = schedulesOf(ctx).timeline(pid)
        return {
          process: pid,
          current: timeline.durable,
          timestamp: Date.now(),
          'cache-control': 'no-store',
        }
      },
      assignments(base, req, ctx) {
        const schedules = schedulesOf(ctx)
        const pid = requestedProcess(base, req, TARGET_OR_PROCESS)
        const { assignments, continues } = page(schedules, pid, req)
        return { process: pid, continues, assignments }
      },
      definition(base, req, ctx) {
        const schedules = schedulesOf(ctx)
        const pid = requestedProcess(base, req, TARGET_OR_PROCESS)
        const bytes = schedules.store.read(processKey(pid))
        if (bytes === undefined) {
          throw notFound(`process ${pid} is not scheduled on this node`, {
            device: SCHEDULER_DEVICE,
          })
        }
        return decodeMessage(bytes)
      },
      status(_base, _req, ctx) {
        const processes = ctx.store.list('processes')
        return {
          ...(ctx.node.address === undefined ? {} : { address: ctx.node.address }),
          processes,
          'cache-control': 'no-store',
        }
      },
    },
  })
}
