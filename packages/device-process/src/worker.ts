import {
  COMPUTE_BATCH_KEY,
  DeviceError,
  RUN_AHEAD_KEY,
  getOwn,
  isMessage,
  toInteger,
  type Message,
  type ResolveContext,
  type Value,
} from '@aonode/core'
import {
  CACHE_DEVICE,
  DEFAULT_DEVICES,
  PROCESS_DEVICE,
  fromStored,
  initialState,
  roleDevice,
  toStored,
  type ProcessRef,
} from './state.ts'

export interface WorkerOptions {
  /** Store an execution snapshot every N slots (0: only on eviction and shutdown). */
  readonly snapshotEvery: number
  /** Periodic snapshots at most this often (ms; 0: every `snapshotEvery` slots regardless). */
  readonly snapshotMinIntervalMs: number
  /** Most slots in one run: one `compute-batch` and one `write-results` commit (0: no cap). */
  readonly maxRunSlots: number
  /** Assignments fetched from the scheduler per request. */
  readonly batchSize: number
  /** Slots whose result writes are in flight before the worker waits for them. */
  readonly maxPendingWrites: number
}

const cache = { device: CACHE_DEVICE } as const

/** Most slots one `write-results` call carries (cache@1.0 accepts up to 10,000). */
const WRITE_BATCH_SLOTS = 1000

const errorText = (error: unknown): string =>
  error instanceof Error ? error.message : `non-error thrown: ${String(error)}`

/** A resolver miss (the cache or scheduler answering 404) rather than a failure. */
const isNotFound = (error: unknown): boolean => DeviceError.is(error) && error.status === 404

/** Lets the event turn end: lmdb commits the writes an event turn issued as one transaction. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** A run handed to the execution device's `compute-batch` (or to be computed slot by slot). */
interface StartedRun {
  readonly run: Message[]
  /** The device's answer, or what it threw; undefined when the run is computed slot by slot. */
  readonly answer: Promise<{ readonly value: Value } | { readonly error: unknown }> | undefined
}

/** One `write-results` call in flight: slots `from..to` (ascending), settled when it is durable. */
interface ResultWrite {
  readonly from: number
  readonly done: Promise<void>
}

/**
 * One process's live state in memory: computes slots strictly in order, keeps the execution device's
 * live handles between calls, and caches each slot's result: one `write-results` per run of slots,
 * committed while the next run computes. A state is answered only once its result is durable.
 * Concurrent callers share one run: a caller waits for the run in progress, then continues it.
 */
export class ProcessWorker {
  readonly pid: string
  readonly definition: Message
  readonly execution: string
  readonly scheduler: string
  private readonly options: WorkerOptions
  /** The state after `atSlot` (live handles under `priv`); undefined until loaded. */
  private state: Message | undefined
  private atSlot = -1
  private lastSnapshot = -1
  /** When the last snapshot was stored (or the worker loaded), `performance.now()` time. */
  private lastSnapshotAt = 0
  /** The slot of the current run that takes a periodic snapshot (its last slot), else -1. */
  private snapshotSlot = -1
  private running: Promise<void> | undefined
  private queue: Message[] = []
  private queueAt = 0
  /** Results whose cache write is still in flight, so readers never miss a computed slot. */
  private readonly unwritten = new Map<number, Message>()
  private readonly writes = new Set<ResultWrite>()
  /**
   * Set when a result write failed: the cache lacks slots this worker computed, so the worker
   * refuses to go on (the pool replaces it; the new one resumes from what is durable).
   */
  failure: DeviceError | undefined
  /** The first slot of the failed write. */
  private failedFrom = Infinity
  /** Computed slots (`{slot, result, snapshot?}`) not yet handed to cache@1.0 `write-results`. */
  private toWrite: Message[] = []
  /** False once the execution device answered that it has no `compute-batch` key. */
  private batching = true
  /** True once the execution device answered `run-ahead`: the next run is handed over early. */
  private runAhead = false
  lastUsed = Date.now()

  constructor(process: ProcessRef, options: WorkerOptions) {
    this.pid = process.pid
    this.definition = process.definition
    this.execution = roleDevice(process.definition, 'execution')
    this.scheduler = roleDevice(process.definition, 'scheduler', DEFAULT_DEVICES.scheduler)
    this.options = options
  }

  get loaded(): boolean {
    return this.state !== undefined
  }

  get busy(): boolean {
    return this.running !== undefined
  }

  /** The state after `slot` if this worker holds it without computing (live or not yet written). */
  held(slot: number): Message | undefined {
    if (this.state !== undefined && slot === this.atSlot) return this.state
    return this.unwritten.get(slot)
  }

  /** True when reaching `slot` means computing forward from the live state. */
  ahead(slot: number): boolean {
    return this.state !== undefined && slot > this.atSlot
  }

  /**
   * Computes up to `slot` and answers the state after it once its result is durable, or undefined
   * when a concurrent run went past it and its result already left memory (it is in the result
   * cache then). Throws the write failure if the result (or an earlier one) could not be stored.
   */
  async stateAt(slot: number, ctx: ResolveContext): Promise<Message | undefined> {
    this.lastUsed = Date.now()
    while (this.state === undefined || this.atSlot < slot) {
      if (this.failure !== undefined) throw this.failure
      this.running ??= this.run(slot, ctx).finally(() => {
        this.running = undefined
      })
      try {
        await this.running
      } catch (error) {
        // Another caller's run may fail past our slot; ours is fine if it got far enough.
        if (this.state === undefined || this.atSlot < slot) throw error
      }
    }
    return this.durableState(slot, ctx)
  }

  /** `held(slot)`, answered once that slot's result is durable. */
  async durableState(slot: number, ctx: ResolveContext): Promise<Message | undefined> {
    const state = this.held(slot)
    if (state !== undefined) await this.settled(slot, ctx)
    return state
  }

  /**
   * Waits until the results of every slot up to `slot` this worker computed are durable; throws
   * if one of those writes failed.
   */
  private async settled(slot: number, ctx: ResolveContext): Promise<void> {
    // A reader may arrive mid-run, before the run hands its results to the cache.
    const unsent = this.toWrite[0]?.['slot']
    if (typeof unsent === 'number' && unsent <= slot) await this.sendWrites(ctx)
    for (;;) {
      const waiting: Promise<void>[] = []
      for (const write of this.writes) if (write.from <= slot) waiting.push(write.done)
      if (waiting.length === 0) break
      await Promise.all(waiting)
    }
    if (this.failure !== undefined && this.failedFrom <= slot) throw this.failure
  }

  /**
   * Computes run after run up to `target`. A run's results are handed to the cache only once the
   * next run has started computing: with a device that computes on another thread (wasm64@1.0),
   * the main thread plans and encodes the result writes while the device computes. A device that
   * answers `run-ahead` gets the next run before it answers this one, so it goes from one run to
   * the next without waiting for this thread to record the results.
   */
  private async run(target: number, ctx: ResolveContext): Promise<void> {
    this.state ??= await this.load(target, ctx)
    // Handed to the device and not yet recorded, in order: the current run and the one ahead.
    const started: StartedRun[] = []
    let sending: Promise<void> = Promise.resolve()
    try {
      while (this.atSlot < target) {
        if (started.length === 0) started.push(this.startRun(await this.nextRun(target, ctx), ctx))
        const current = started[0] as StartedRun
        const last = this.atSlot + current.run.length
        // Not past a snapshot slot: the snapshot reads the live state after this run.
        if (this.runAhead && started.length === 1 && last < target && last !== this.snapshotSlot) {
          // A run that cannot be planned (not scheduled yet, a scheduler error) is not handed
          // over; planned again once this one is recorded, it fails then.
          const ahead = await this.nextRun(target, ctx, last).catch(() => undefined)
          if (ahead !== undefined) started.push(this.startRun(ahead, ctx))
        }
        await sending
        // The previous run's results go out once the device has had two event turns to hand this
        // run to its thread (wasm64@1.0 yields once before it sends), so the main thread encodes
        // them while the device computes; a device that computes on this thread has recorded this
        // run by then, and its results go along. Then the turn ends: LMDB commits on its thread.
        sending = nextTurn()
          .then(nextTurn)
          .then(() => this.sendWrites(ctx))
          .then(nextTurn)
        // Not waiting for the hand-over: the run after next goes to the device as soon as this
        // one is recorded.
        await this.finishRun(current, started.length > 1, ctx)
        started.shift()
        if (this.failure !== undefined) throw this.failure
      }
    } catch (error) {
      if (started.some((run) => run.answer !== undefined)) {
        // The device may have applied a run that is not recorded: its live state is past ours.
        // The next call reloads the newest snapshot and recomputes from there.
        await Promise.all(started.flatMap((run) => run.answer ?? []))
        this.dropLiveState()
      }
      throw error
    } finally {
      // One store commit for the last run's results, even when a slot's recording threw.
      await sending
      await this.sendWrites(ctx)
    }
    if (this.failure !== undefined) throw this.failure
  }

  private dropLiveState(): void {
    this.state = undefined
    this.queue = []
    this.queueAt = 0
  }

  /** Restores the newest snapshot at or below `target`, else initialises the execution device. */
  private async load(target: number, ctx: ResolveContext): Promise<Message> {
    let latest: Value | undefined
    try {
      latest = await ctx.resolve(cache, {
        path: 'latest',
        process: this.pid,
        to: target,
        require: 'snapshot',
      })
    } catch (error) {
      if (!isNotFound(error)) throw error
    }
    const result = isMessage(latest) ? getOwn(latest, 'result') : undefined
    const snapshot = isMessage(latest) ? getOwn(latest, 'snapshot') : undefined
    const slot = isMessage(latest) ? toInteger(getOwn(latest, 'slot')) : undefined
    if (isMessage(result) && isMessage(snapshot) && slot !== undefined) {
      const stored = fromStored(result, this.definition)
      const restored = await this.execute({ ...stored, snapshot }, { path: 'normalize' }, ctx)
      const state: Record<string, Value> = { ...restored, device: PROCESS_DEVICE, 'at-slot': slot }
      delete state['snapshot']
      this.atSlot = slot
      this.lastSnapshot = slot
      this.lastSnapshotAt = performance.now()
      return state
    }
    const state = await this.execute(initialState(this.definition), { path: 'init' }, ctx)
    this.atSlot = -1
    this.lastSnapshotAt = performance.now()
    return { ...state, device: PROCESS_DEVICE, 'at-slot': -1 }
  }

  private async execute(state: Message, req: Message, ctx: ResolveContext): Promise<Message> {
    const out = await ctx.resolve({ ...state, device: this.execution }, req)
    if (!isMessage(out)) {
      throw new DeviceError(
        'DEVICE_FAILED',
        `${this.execution} answered ${req['path'] as string} with a ${typeof out}, not a state`,
        { device: PROCESS_DEVICE },
      )
    }
    return out
  }

  /**
   * The assignments from `atSlot + 1` on, fetched from the scheduler a batch at a time: a run of at
   * most `maxRunSlots` consecutive slots up to `target` that ends at the snapshot slot when a
   * periodic snapshot is due (a snapshot reads the live instance, which only holds the last state of
   * a batched run).
   */
  private async nextRun(
    target: number,
    ctx: ResolveContext,
    after = this.atSlot,
  ): Promise<Message[]> {
    const wanted = after + 1
    if (this.queueAt >= this.queue.length) {
      const to = Math.min(target, wanted + this.options.batchSize - 1)
      const page = await ctx.resolve(
        { device: this.scheduler, process: this.definition },
        { path: 'assignments', process: this.pid, from: wanted, to },
      )
      const list = isMessage(page) ? getOwn(page, 'assignments') : undefined
      this.queue = Array.isArray(list) ? (list as Message[]) : []
      this.queueAt = 0
      if (this.queue.length === 0) {
        throw new DeviceError(
          'NOT_FOUND',
          `process ${this.pid}: slot ${target} is not scheduled yet (the schedule ends at ${wanted - 1})`,
          { device: PROCESS_DEVICE, key: 'slot' },
        )
      }
    }
    this.snapshotSlot = this.dueSnapshotSlot(wanted)
    const cap = this.options.maxRunSlots
    const last = cap === 0 ? target : Math.min(target, wanted + cap - 1)
    const run: Message[] = []
    for (let slot = wanted; slot <= last && this.queueAt < this.queue.length; slot++) {
      const assignment = this.queue[this.queueAt] as Message
      const assigned = toInteger(getOwn(assignment, 'slot'))
      if (assigned !== slot) {
        if (run.length > 0) break
        this.queue = []
        throw new DeviceError(
          'UNAVAILABLE',
          `process ${this.pid}: the scheduler answered slot ${assigned ?? 'none'} for slot ${wanted}`,
          { device: PROCESS_DEVICE },
        )
      }
      run.push(assignment)
      this.queueAt++
      if (slot === this.snapshotSlot) break
    }
    return run
  }

  /**
   * The slot from `wanted` on that takes the next periodic snapshot, or -1 when none is due yet:
   * the first slot at or past the next multiple of `snapshotEvery` after the last snapshot, once
   * `snapshotMinIntervalMs` has passed since it (checked as each run is planned).
   */
  private dueSnapshotSlot(wanted: number): number {
    const { snapshotEvery: every, snapshotMinIntervalMs: interval } = this.options
    if (every === 0) return -1
    if (interval > 0 && performance.now() - this.lastSnapshotAt < interval) return -1
    return Math.max(wanted, (Math.floor(this.lastSnapshot / every) + 1) * every)
  }

  /**
   * Hands a run to the execution device's `compute-batch` (one call), unless the device has no
   * such key or the run is a single slot: `finishRun` then computes it slot by slot.
   */
  private startRun(run: Message[], ctx: ResolveContext): StartedRun {
    if (!this.batching || run.length < 2) return { run, answer: undefined }
    const answer = ctx
      .resolve(this.executionInput(), { path: COMPUTE_BATCH_KEY, assignments: run })
      .then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      )
    return { run, answer }
  }

  /**
   * Records a started run's outcomes as `computeSlot` would. When the device refused the run before
   * applying any of it, it is computed slot by slot, unless a later run was already handed over
   * (`ahead`): that one may have been applied, so the refusal is thrown.
   */
  private async finishRun(started: StartedRun, ahead: boolean, ctx: ResolveContext): Promise<void> {
    const { run, answer } = started
    if (answer === undefined) {
      for (const assignment of run) await this.computeSlot(assignment, ctx)
      return
    }
    const first = this.atSlot + 1
    const got = await answer
    let out: Value | undefined
    let outcomes: Value[] | undefined
    let refusal: unknown
    if ('error' in got) refusal = got.error
    else {
      out = got.value
      const list = isMessage(out) ? getOwn(out, 'outcomes') : undefined
      if (Array.isArray(list) && list.length === run.length && list.every(isMessage))
        outcomes = list
      else
        refusal = new Error(`${this.execution} ${COMPUTE_BATCH_KEY} answered no outcome per slot`)
    }
    if (outcomes === undefined) {
      if (ahead) throw refusal
      // The device has no such key (message@1.0 answers 404 for it); other 404s are the run's own.
      if (isNotFound(refusal) && (refusal as DeviceError).key === COMPUTE_BATCH_KEY)
        this.batching = false
      else {
        ctx.log.warn('process batch refused, computing slot by slot', {
          process: this.pid,
          from: first,
          error: errorText(refusal),
        })
      }
      for (const assignment of run) await this.computeSlot(assignment, ctx)
      return
    }
    if (isMessage(out) && getOwn(out, RUN_AHEAD_KEY) === true) this.runAhead = true
    for (const outcome of outcomes as Message[]) {
      const state = getOwn(outcome, 'state')
      if (isMessage(state)) await this.advance(state, ctx)
      else {
        const error = getOwn(outcome, 'error')
        const code = getOwn(outcome, 'code')
        await this.fail(typeof error === 'string' ? error : 'no state and no error', code, ctx)
      }
    }
  }

  /** The live state as the execution device's base: its device, without the last `results`. */
  private executionInput(): Message {
    // Not spread and `delete`: that leaves a dictionary-mode object, several times slower per slot.
    // eslint-disable-next-line @typescript-eslint/no-unused-vars
    const { results, ...input }: Record<string, Value> = this.state as Message
    input['device'] = this.execution
    return input
  }

  /**
   * Applies one assignment. An execution error becomes this slot's `results/error`; the state
   * (and the live handles) stay as they were, so later slots still compute.
   */
  private async computeSlot(assignment: Message, ctx: ResolveContext): Promise<void> {
    const input = this.executionInput()
    let out: Value
    try {
      out = await ctx.resolve(input, { ...assignment, path: 'compute' })
      if (!isMessage(out)) throw new Error(`${this.execution} compute answered a non-message`)
    } catch (error) {
      await this.fail(errorText(error), DeviceError.is(error) ? error.code : undefined, ctx)
      return
    }
    await this.advance(out, ctx)
  }

  /** The next slot's state is `out` (the execution device's answer). */
  private async advance(out: Message, ctx: ResolveContext): Promise<void> {
    await this.commit({ ...out, device: PROCESS_DEVICE, 'at-slot': this.atSlot + 1 }, ctx)
  }

  /** The next slot failed: its result is the error, its state the previous one. */
  private async fail(reason: string, code: Value | undefined, ctx: ResolveContext): Promise<void> {
    const slot = this.atSlot + 1
    const results: Record<string, Value> = { error: `slot ${slot}: ${reason}` }
    if (code !== undefined) results['code'] = code
    ctx.log.warn('process slot failed', { process: this.pid, slot, error: reason })
    await this.commit(
      { ...(this.state as Message), device: PROCESS_DEVICE, 'at-slot': slot, results },
      ctx,
    )
  }

  private async commit(next: Message, ctx: ResolveContext): Promise<void> {
    const slot = this.atSlot + 1
    this.state = next
    this.atSlot = slot
    ctx.node.metrics?.count('slots_computed_total')
    await this.record(slot, next, slot === this.snapshotSlot, ctx)
  }

  /**
   * Queues a slot's result (and a snapshot) for the cache; the queue goes out as one
   * `write-results` per run of slots (`sendWrites`). Readers find the slot in `unwritten` meanwhile.
   */
  private async record(
    slot: number,
    state: Message,
    withSnapshot: boolean,
    ctx: ResolveContext,
  ): Promise<Message | undefined> {
    const entry: Record<string, Value> = { slot, result: toStored(state, this.definition) }
    let snapshot: Message | undefined
    if (withSnapshot) {
      snapshot = await this.execute(state, { path: 'snapshot' }, ctx)
      entry['snapshot'] = snapshot
      this.lastSnapshot = slot
      this.lastSnapshotAt = performance.now()
    }
    this.unwritten.set(slot, state)
    this.toWrite.push(entry)
    if (this.toWrite.length >= WRITE_BATCH_SLOTS) await this.sendWrites(ctx)
    return snapshot
  }

  /**
   * Hands the queued results to the cache in one call (one commit), waiting only when too many are
   * in flight. A failed write is logged and recorded as the worker's `failure`.
   */
  private async sendWrites(ctx: ResolveContext): Promise<void> {
    const results = this.toWrite
    if (results.length === 0) return
    this.toWrite = []
    const slots = results.map((entry) => entry['slot'] as number)
    const from = Math.min(...slots)
    const to = Math.max(...slots)
    const done = ctx
      .resolve(cache, { path: 'write-results', process: this.pid, results })
      .then(
        () => undefined,
        (error: unknown) => {
          const reason = errorText(error)
          ctx.log.error('process result write failed', {
            process: this.pid,
            from,
            to,
            error: reason,
          })
          this.failedFrom = Math.min(this.failedFrom, from)
          this.failure ??= new DeviceError(
            'UNAVAILABLE',
            `process ${this.pid}: storing the results of slots ${from}..${to} failed: ${reason}`,
            { device: PROCESS_DEVICE, cause: error },
          )
        },
      )
      .finally(() => {
        for (const slot of slots) this.unwritten.delete(slot)
        this.writes.delete(write)
      })
    const write: ResultWrite = { from, done }
    this.writes.add(write)
    // Too many slots in flight: wait for the oldest writes (they settle in call order) until under
    // the cap, not for all of them, so the store always has the next batch queued.
    while (this.unwritten.size >= this.options.maxPendingWrites) {
      const [oldest] = this.writes
      if (oldest === undefined) break
      await oldest.done
    }
  }

  /** Waits for every result write in flight (failures stay in `failure`). */
  async flush(): Promise<void> {
    while (this.writes.size > 0) await Promise.all([...this.writes].map((write) => write.done))
  }

  /**
   * Stores a snapshot of the live state with its slot's result unless that slot already has one
   * (eviction, shutdown; `force` for the `snapshot` key), and waits until every write is durable.
   */
  async snapshotNow(
    ctx: ResolveContext,
    force = false,
  ): Promise<{ slot: number; snapshot?: Message }> {
    if (this.running !== undefined) await this.running.catch(() => undefined)
    const slot = this.atSlot
    let snapshot: Message | undefined
    if (this.state !== undefined && slot >= 0 && (force || this.lastSnapshot !== slot)) {
      snapshot = await this.record(slot, this.state, true, ctx)
    }
    await this.sendWrites(ctx)
    await this.flush()
    return snapshot === undefined ? { slot } : { slot, snapshot }
  }
}
