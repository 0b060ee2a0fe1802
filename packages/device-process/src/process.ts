import {
  DeviceError,
  badRequest,
  defineDevice,
  getKey,
  getOwn,
  isMessage,
  toInteger,
  type Device,
  type Message,
  type ResolveContext,
  type Store,
  type Value,
} from '@aonode/core'
import { WorkerPool } from './pool.ts'
import {
  CACHE_DEVICE,
  DEFAULT_DEVICES,
  PROCESS_DEVICE,
  fromStored,
  processOf,
  requireProcess,
  roleDevice,
  type ProcessRef,
} from './state.ts'

/** A type (not an interface) so it fits node config's `Record<string, unknown>`. */
export type ProcessOptions = {
  /** Store an execution snapshot every N slots; 0 = only on eviction and shutdown (default 100). */
  readonly snapshotEvery?: number
  /**
   * Periodic snapshots at most this often, in ms (default 1,000): a backlog computed faster than
   * `snapshotEvery` slots per interval snapshots once per interval; 0 = every `snapshotEvery` slots.
   */
  readonly snapshotMinIntervalMs?: number
  /**
   * Most slots computed in one run (one `compute-batch`, one `write-results` commit; default 100);
   * the next run computes while this one's results are encoded and committed. 0 = up to `batchSize`.
   */
  readonly maxRunSlots?: number
  /** Live workers kept in memory (default 64). */
  readonly maxWorkers?: number
  /** Idle time before a worker is snapshotted and evicted, in ms (default 300,000). */
  readonly idleMs?: number
  /** Assignments fetched per scheduler request while computing (default 1,000). */
  readonly batchSize?: number
  /** Result writes in flight per worker before it waits for them (default 1,000). */
  readonly maxPendingWrites?: number
  /** How many hops `push` follows outbox messages into other local processes (default 8). */
  readonly pushDepth?: number
}

export const DEFAULT_OPTIONS: Required<ProcessOptions> = {
  snapshotEvery: 100,
  snapshotMinIntervalMs: 1000,
  maxRunSlots: 100,
  maxWorkers: 64,
  idleMs: 300_000,
  batchSize: 1000,
  maxPendingWrites: 1000,
  pushDepth: 8,
}

/** Options from the factory, overridden by the node config (`ctx.node.devices['process@1.0']`). */
export function resolveOptions(
  factory: ProcessOptions,
  node: Readonly<Record<string, unknown>> | undefined,
): Required<ProcessOptions> {
  const out: Record<string, number> = { ...DEFAULT_OPTIONS }
  for (const source of [factory, node ?? {}] as Readonly<Record<string, unknown>>[]) {
    for (const key of Object.keys(DEFAULT_OPTIONS)) {
      const value = source[key]
      if (value === undefined) continue
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
        throw new DeviceError(
          'DEVICE_BAD_INFO',
          `process@1.0 option "${key}" must be a non-negative integer`,
          { device: PROCESS_DEVICE },
        )
      }
      out[key] = value
    }
  }
  return out as unknown as Required<ProcessOptions>
}

const cache = { device: CACHE_DEVICE } as const

const isNotFound = (error: unknown): boolean => DeviceError.is(error) && error.status === 404

/** `slot` of a request as a slot number; 400 when present but not one. */
function requestedSlot(req: Message): number | undefined {
  const value = getKey(req, 'slot')
  if (value === undefined) return undefined
  const slot = toInteger(value)
  if (slot === undefined || slot < 0 || !Number.isSafeInteger(slot)) {
    throw badRequest('"slot" must be a non-negative integer', {
      device: PROCESS_DEVICE,
      key: 'slot',
    })
  }
  return slot
}

export function createProcessDevice(options: ProcessOptions = {}): Device {
  resolveOptions(options, undefined) // bad factory options fail when the package loads
  const pools = new WeakMap<Store, WorkerPool>()
  const poolOf = (ctx: ResolveContext): WorkerPool => {
    let pool = pools.get(ctx.store)
    if (pool === undefined) {
      const resolved = resolveOptions(options, ctx.node.devices?.[PROCESS_DEVICE])
      pool = new WorkerPool(resolved)
      pools.set(ctx.store, pool)
    }
    return pool
  }

  /** HyperBEAM `run_as`: resolve `req` against the state with a role's device swapped in. */
  const runAs = (
    process: ProcessRef,
    role: keyof typeof DEFAULT_DEVICES,
    req: Message,
    ctx: ResolveContext,
  ): Promise<Value> =>
    ctx.resolve(
      { ...process.base, device: roleDevice(process.definition, role, DEFAULT_DEVICES[role]) },
      req,
    )

  async function cachedResult(process: ProcessRef, slot: number, ctx: ResolveContext) {
    try {
      const stored = await ctx.resolve(cache, { path: 'read-result', process: process.pid, slot })
      return isMessage(stored) ? fromStored(stored, process.definition) : undefined
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw error
    }
  }

  /** The state after `slot`: from the live worker, the result cache, or computed. */
  async function stateAt(process: ProcessRef, slot: number, ctx: ResolveContext): Promise<Message> {
    const pool = poolOf(ctx)
    const live = pool.peek(process.pid)
    if (live?.ahead(slot) !== true) {
      const held = (await live?.durableState(slot, ctx)) ?? (await cachedResult(process, slot, ctx))
      if (held !== undefined) return held
    }
    const worker = await pool.acquire(process, ctx)
    if (!worker.loaded || worker.ahead(slot) || worker.held(slot) !== undefined) {
      const state = (await worker.stateAt(slot, ctx)) ?? (await cachedResult(process, slot, ctx))
      if (state !== undefined) return state
    }
    // The live worker is past this slot and its result is not cached: recompute it apart.
    const scratch = pool.scratch(process)
    const state = await scratch.stateAt(slot, ctx)
    await scratch.flush()
    if (state === undefined) {
      throw new DeviceError(
        'UNAVAILABLE',
        `process ${process.pid}: slot ${slot} was not computed`,
        {
          device: PROCESS_DEVICE,
        },
      )
    }
    return state
  }

  async function currentSlot(process: ProcessRef, ctx: ResolveContext): Promise<number> {
    const info = await runAs(process, 'scheduler', { path: 'slot' }, ctx)
    const current = isMessage(info) ? toInteger(getOwn(info, 'current')) : undefined
    if (current === undefined || current < 0) {
      throw new DeviceError('NOT_FOUND', `process ${process.pid} has no scheduled slots`, {
        device: PROCESS_DEVICE,
      })
    }
    return current
  }

  async function now(base: Message, ctx: ResolveContext): Promise<Message> {
    const process = requireProcess(base)
    return stateAt(process, await currentSlot(process, ctx), ctx)
  }

  return defineDevice({
    info: {
      name: PROCESS_DEVICE,
      core: '^0.1.0',
      description: 'Persistent AO processes: schedule, compute, now, snapshot, push',
    },
    keys: {
      schedule(base, req, ctx) {
        const process = processOf(base)
        // Spawn (`/~process@1.0/schedule` with a definition): the scheduler registers it.
        if (process === undefined) return ctx.resolve({ device: DEFAULT_DEVICES.scheduler }, req)
        return runAs(process, 'scheduler', req, ctx)
      },
      slot(base, req, ctx) {
        return runAs(requireProcess(base), 'scheduler', req, ctx)
      },
      compute(base, req, ctx) {
        const slot = requestedSlot(req)
        if (slot === undefined) return now(base, ctx)
        return stateAt(requireProcess(base), slot, ctx)
      },
      now(base, _req, ctx) {
        return now(base, ctx)
      },
      async snapshot(base, _req, ctx) {
        const process = requireProcess(base)
        const slot = await currentSlot(process, ctx)
        const worker = await poolOf(ctx).acquire(process, ctx)
        await worker.stateAt(slot, ctx)
        const taken = await worker.snapshotNow(ctx, true)
        return { process: process.pid, slot: taken.slot, snapshot: taken.snapshot ?? {} }
      },
      push(base, req, ctx) {
        return runAs(requireProcess(base), 'push', req, ctx)
      },
      'process-id'(base) {
        return requireProcess(base).pid
      },
    },
    // Validates the node's options for this device before it serves.
    start(ctx) {
      poolOf(ctx)
    },
    stop(ctx) {
      return pools.get(ctx.store)?.stop(ctx)
    },
  })
}
