/**
 * The host side of one process's live instance: the worker that owns it, the call channel, and the
 * rollback base. Memory is never copied per message. To undo a message (the module answered
 * `Error`, trapped, outgrew its memory cap or ran past the time limit) the instance is rebuilt from
 * the base (a sparse memory + globals snapshot) by replaying the journal of messages computed since
 * the base was taken; the base is refreshed once the journal holds `rollbackReplayMs` of compute
 * time, so an undo replays at most that long and the refresh costs the same share of any workload.
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads'
import {
  ANSWERED,
  ANSWER_HEADER,
  APPLIED,
  ELAPSED_US,
  CONTROL_BYTES,
  COUNT,
  DATA_BYTES,
  ENV_LENGTH,
  HALF_BYTES,
  MSG_HEADER,
  OFFSET,
  ON_PORT,
  OP,
  OP_COMPUTE,
  OP_SNAPSHOT,
  PROGRESS,
  READY,
  READY_FAILED,
  REQUEST,
  RESPONSE,
  STARTED_F64,
  STATUS,
  STATUS_MEMORY,
  STATUS_OK,
  STATUS_SEQUENCE,
  requestSlot,
} from './channel.ts'
import type { InstanceSnapshot, ModuleKind } from './runtime.ts'
import type { ImageInfo } from './wasm-binary.ts'
import type { PortBatch, WorkerInput } from './worker.ts'

/** The OS name of an instance's worker thread, as `top -H` shows it (Linux keeps 15 characters). */
export const WORKER_THREAD_NAME = 'wasm64@1.0'
const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js',
  import.meta.url,
)
/** Worker exited: written into RESPONSE/READY by the host so a waiting call wakes up. */
const DEAD = -1

export interface Compiled {
  readonly module: WebAssembly.Module
  readonly info: Omit<ImageInfo, 'bytes'>
  readonly kind: ModuleKind
}

export interface InstanceLimits {
  /** Memory cap in 64 KiB pages. */
  readonly maxPages: number
  /** Wall-clock limit per message, in ms. */
  readonly timeoutMs: number
  /** Compute time of the journal, in ms, after which the rollback base is refreshed. */
  readonly rollbackReplayMs: number
  /** Journal bytes that also force a new base. */
  readonly rollbackBytes: number
  /** How long a call may block the event loop waiting synchronously before it yields, in ms. */
  readonly syncWaitMs: number
}

/** The module trapped, outgrew its memory cap or ran past the time limit; the call was undone. */
export interface CallFailure {
  readonly status: 'trap' | 'memory' | 'timeout'
  readonly message: string
}

export type CallOutcome<T> = { readonly status: 'ok'; readonly value: T } | CallFailure

/** One message of a batch: its JSON and the clock the module sees. */
export interface BatchMessage {
  readonly msg: Uint8Array
  readonly timestamp: number
}

/** A batch's messages, each built when the batch first reaches it. */
export interface BatchSource {
  readonly length: number
  at(index: number): BatchMessage
}

/** A batch of `length` messages built by `build` on first use, and kept (a resend reuses them). */
export function batchOf(length: number, build: (index: number) => BatchMessage): BatchSource {
  const built: BatchMessage[] = []
  return { length, at: (index) => (built[index] ??= build(index)) }
}

/** Messages `from..to-1` of a batch, written into one half of the data block or kept for the port. */
interface Chunk {
  readonly from: number
  readonly to: number
  /** Byte offset of its half of the data block. */
  readonly offset: number
  readonly onPort?: PortBatch
}

interface Signalled {
  readonly sequence: number
  /** When it was signalled (epoch ms). */
  readonly requested: number
}

type Sent = Chunk & Signalled

/** A compute call waiting in `serial` behind the running one. */
interface QueuedCall {
  readonly batch: BatchSource
  readonly env: Uint8Array
}

/** A queued call's first chunk, posted to `channel` behind the running call's last one. */
interface EarlyChunk {
  readonly batch: BatchSource
  readonly channel: Channel
  readonly sent: Sent
}

/** Quiet time after a call before the rollback base is refreshed in the background, in ms. */
const IDLE_REFRESH_MS = 50
/** An idle refresh waits for journal compute time of at least this many times its last cost, */
const IDLE_REFRESH_FACTOR = 10
/**
 * and of at least this many ms: an undo replays that little anyway, and a process that computed
 * almost nothing is not scanned (on a kernel without the shared zero page, reading never-touched
 * memory makes it resident).
 */
const IDLE_REFRESH_MIN_MS = 100

/** Most messages per hop: small enough that host and worker overlap, big enough to amortise a hop. */
const MAX_CHUNK = 128

/**
 * Half the run per hop (at most MAX_CHUNK): with two chunks in flight the worker never waits for
 * the host inside a run, and every hop costs both threads a wake-up.
 */
const chunkSize = (messages: number): number =>
  Math.min(MAX_CHUNK, Math.max(1, Math.ceil(messages / 2)))

/**
 * Messages in a run's first and last chunks. The worker waits while the first one is written and
 * while the last one's answers are judged (nothing is posted behind it), so both are short, unless
 * the next call's first chunk goes out early: then the worker has work behind either.
 */
const EDGE_CHUNK = 2

/** Where the chunk of a run `from..to-1` that starts at `start` ends. */
function chunkEnd(
  start: number,
  from: number,
  to: number,
  size: number,
  short: { readonly first: boolean; readonly last: boolean },
): number {
  if (start === from && short.first) return Math.min(to, start + EDGE_CHUNK)
  const end = Math.min(to, start + size)
  return short.last && end === to && end - start > 2 * EDGE_CHUNK ? to - EDGE_CHUNK : end
}

/**
 * Writes messages `from..` (up to `to`, as many as fit) after `env` into the half at `offset`. A
 * first message too big for a half goes alone, on the port.
 */
function prepare(
  channel: Channel,
  batch: BatchSource,
  from: number,
  to: number,
  env: Uint8Array,
  offset: number,
): Chunk {
  const { data, view } = channel
  const limit = offset + HALF_BYTES
  let at = offset + env.byteLength
  let end = from
  if (at <= limit) {
    data.set(env, offset)
    for (; end < to; end++) {
      const { msg, timestamp } = batch.at(end)
      if (at + MSG_HEADER + msg.byteLength > limit) break
      view.setUint32(at, msg.byteLength, true)
      view.setFloat64(at + 4, timestamp, true)
      data.set(msg, at + MSG_HEADER)
      at += MSG_HEADER + msg.byteLength
    }
  }
  if (end > from) return { from, to: end, offset }
  const { msg, timestamp } = batch.at(from)
  return { from, to: from + 1, offset, onPort: { env, msgs: [msg], timestamps: [timestamp] } }
}

/** Reads a module's answer: its value, and whether its effects must be undone. */
export type Judge<T> = (json: string) => { readonly value: T; readonly rollback: boolean }

/** What one hop answered: the answers of the messages that ran, then why the batch stopped early. */
interface BatchAnswer {
  readonly answers: readonly string[]
  /** How long the worker ran the chunk, in ms. */
  readonly elapsedMs: number
  readonly failure?: CallFailure
  /** On a timeout: the messages before the stopped one ran, but their answers were lost. */
  readonly ranBefore?: number
}

/** What the finalizer and the device's `stop` need: the current worker, replaced on rebuild. */
interface WorkerBox {
  worker: Worker | undefined
}

const boxes = new Set<WorkerBox>()
const finalizer = new FinalizationRegistry<WorkerBox>((box) => closeBox(box))

function closeBox(box: WorkerBox): void {
  boxes.delete(box)
  const worker = box.worker
  box.worker = undefined
  if (worker !== undefined) void worker.terminate()
}

/** Terminates every live instance's worker (node shutdown). */
export async function closeAllInstances(): Promise<void> {
  const workers = [...boxes].flatMap((box) => (box.worker === undefined ? [] : [box.worker]))
  for (const box of boxes) box.worker = undefined
  boxes.clear()
  await Promise.all(workers.map((worker) => worker.terminate()))
}

/** The worker could not build the instance (bad image, missing exports, snapshot mismatch). */
export class BootError extends Error {
  override readonly name = 'BootError'
}

interface Channel {
  readonly worker: Worker
  readonly control: Int32Array
  readonly clock: Float64Array
  readonly data: Uint8Array
  readonly view: DataView
  readonly port: MessagePort
  sequence: number
  /**
   * Messages this worker will have applied once every chunk posted so far has run (the worker
   * checks it per chunk).
   */
  posted: number
}

const decoder = new TextDecoder()

/**
 * Calls answered within the synchronous wait resolve through microtasks only, so a long backlog
 * (process@1.0 computing thousands of slots) would never let the event loop serve I/O. After this
 * much continuous work the next call first yields a macrotask turn.
 */
const YIELD_EVERY_MS = 10
let lastYield = performance.now()

async function yieldToEventLoop(): Promise<void> {
  if (performance.now() - lastYield < YIELD_EVERY_MS) return
  await new Promise((resolve) => setImmediate(resolve))
  lastYield = performance.now()
}

export class WasmInstance {
  readonly compiled: Compiled
  readonly limits: InstanceLimits
  private channel: Channel | undefined
  private base: InstanceSnapshot | undefined
  private journal: (readonly [Uint8Array, Uint8Array, number])[] = []
  private journalBytes = 0
  /** How long the journal's messages took to compute (about what replaying them costs), in ms. */
  private journalMs = 0
  /** How long the last snapshot took, in ms. */
  private refreshMs = 0
  /** Calls completed: an idle refresh only runs if none came since it was due. */
  private calls = 0
  private idleTimer: NodeJS.Timeout | undefined
  private tail: Promise<unknown> = Promise.resolve()
  /** Calls and snapshots queued or running (`serial`). */
  private pending = 0
  /**
   * The compute call queued right behind the running one, with nothing between them: its first
   * chunk may be posted while the running call's last chunk computes.
   */
  private nextCall: QueuedCall | undefined
  /** That first chunk, once posted: the call adopts it if the worker that got it still runs. */
  private early: EarlyChunk | undefined
  /**
   * First chunks posted early, and those their call took up (an undo, a trap or a stopped message
   * in the running call's last chunk rebuilds the worker, and the chunk goes with the old one).
   */
  readonly earlyChunks = { posted: 0, adopted: 0 }
  private readonly box: WorkerBox = { worker: undefined }

  private constructor(
    compiled: Compiled,
    limits: InstanceLimits,
    base: InstanceSnapshot | undefined,
  ) {
    this.compiled = compiled
    this.limits = limits
    this.base = base
    boxes.add(this.box)
    finalizer.register(this, this.box, this.box)
  }

  /** Starts a worker with a fresh instance, or one restored from `base`. Rejects with the boot error. */
  static async start(
    compiled: Compiled,
    limits: InstanceLimits,
    base?: InstanceSnapshot,
  ): Promise<WasmInstance> {
    const instance = new WasmInstance(compiled, limits, base)
    try {
      await instance.spawn()
    } catch (error) {
      instance.close()
      throw error
    }
    return instance
  }

  get kind(): ModuleKind {
    return this.compiled.kind
  }

  /** Messages computed since the rollback base: what an undo would replay now. */
  get journalLength(): number {
    return this.journal.length
  }

  /**
   * Runs the messages in order, as that many separate calls would, in as few worker hops as
   * possible (one per chunk, unless a message is undone): one outcome per message. `judge` reads
   * each answer and says whether to keep its effects (journal) or undo them (rebuild). Calls and
   * snapshots run one at a time.
   */
  computeBatch<T>(batch: BatchSource, env: Uint8Array, judge: Judge<T>): Promise<CallOutcome<T>[]> {
    // Right behind a running call, this one can start before that one has answered.
    const call = this.pending === 1 && batch.length > 0 ? { batch, env } : undefined
    if (call !== undefined) this.nextCall = call
    return this.serial(async () => {
      if (this.nextCall === call) this.nextCall = undefined
      const outcomes: CallOutcome<T>[] = []
      try {
        await this.runBatch(batch, 0, batch.length, env, judge, outcomes)
      } catch (error) {
        // The instance can no longer be trusted (a rebuild failed, the worker fell out of step):
        // the next call starts a new worker from the base + journal, which holds exactly the
        // messages answered so far, so the rest count as not applied.
        this.terminate()
        const message = error instanceof Error ? error.message : String(error)
        while (outcomes.length < batch.length) outcomes.push({ status: 'trap', message })
      }
      // Not while the next call's first chunk is posted: the base would hold messages that the
      // journal does not. That call's end refreshes it instead.
      if (this.refreshDue() && this.early === undefined) {
        // The messages are already kept: a failed refresh leaves the older base, whose journal
        // still covers everything since, so the answers stand.
        await this.takeSnapshot().catch(() => undefined)
      }
      this.calls += 1
      this.refreshWhenIdle()
      return outcomes
    })
  }

  /**
   * Arms (or pushes back) a refresh of the rollback base for when no call has come for
   * IDLE_REFRESH_MS: the memory scan then costs no call any time, and an undo after a pause
   * replays little.
   */
  private refreshWhenIdle(): void {
    if (this.journal.length === 0 || this.channel === undefined) return
    if (this.idleTimer !== undefined) {
      this.idleTimer.refresh()
      return
    }
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined
      const calls = this.calls
      void this.serial(async () => {
        // Not if a call came meanwhile (it re-armed the timer) or the node stopped every worker,
        // nor if the scan would cost more than a tenth of the compute it saves replaying, or the
        // journal is short.
        if (this.calls !== calls || this.box.worker === undefined) return
        if (this.journalMs < Math.max(IDLE_REFRESH_MIN_MS, IDLE_REFRESH_FACTOR * this.refreshMs))
          return
        await this.takeSnapshot().catch(() => undefined)
      })
    }, IDLE_REFRESH_MS)
    this.idleTimer.unref()
  }

  /** Memory + globals now; also becomes the rollback base. */
  snapshot(): Promise<InstanceSnapshot> {
    return this.serial(() => this.takeSnapshot())
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    this.pending += 1
    const result = this.tail.then(task).finally(() => {
      this.pending -= 1
    })
    this.tail = result.catch(() => undefined)
    return result
  }

  private refreshDue(): boolean {
    const { rollbackReplayMs, rollbackBytes } = this.limits
    return this.journalMs >= rollbackReplayMs || this.journalBytes >= rollbackBytes
  }

  /**
   * Posts the queued call's first chunk into the free half at `offset`, so that the worker goes
   * on with it after the running call's last chunk instead of waiting for this thread to answer
   * that call and start the next.
   */
  private postEarly(channel: Channel, offset: number): void {
    const call = this.nextCall
    if (call === undefined || this.early !== undefined || this.refreshDue()) return
    this.nextCall = undefined
    const { batch, env } = call
    const first = prepare(channel, batch, 0, chunkSize(batch.length), env, offset)
    this.early = { batch, channel, sent: this.send(channel, first, env) }
    this.earlyChunks.posted += 1
  }

  /** Appends one outcome per message `from..to-1` of `batch` to `outcomes`. */
  private async runBatch<T>(
    batch: BatchSource,
    from: number,
    to: number,
    env: Uint8Array,
    judge: Judge<T>,
    outcomes: CallOutcome<T>[],
  ): Promise<void> {
    let next = from
    while (next < to) next = await this.pipeline(batch, next, to, env, judge, outcomes)
  }

  /**
   * Sends messages `from..to-1` in chunks: the next chunk is written while the worker runs the
   * current one, and the current one's answers are judged while it runs the next. Returns where to
   * continue: `to`, or the message after one that was undone (the instance is rebuilt by then).
   */
  private async pipeline<T>(
    batch: BatchSource,
    from: number,
    to: number,
    env: Uint8Array,
    judge: Judge<T>,
    outcomes: CallOutcome<T>[],
  ): Promise<number> {
    // A worker that exited between calls (node stop, crash) is replaced before the call, not after.
    if (this.channel !== undefined && Atomics.load(this.channel.control, RESPONSE) === DEAD) {
      await this.rebuild()
    }
    const channel = this.channel ?? (await this.spawn())
    const size = chunkSize(to - from)
    const early = this.early
    this.early = undefined
    // The first chunk went out during the previous call, unless that call rebuilt the worker.
    const adopted = early?.batch === batch && early.channel === channel && from === 0
    const chunk = (start: number, offset: number): Chunk | undefined =>
      start < to
        ? prepare(
            channel,
            batch,
            start,
            chunkEnd(start, from, to, size, {
              first: !adopted,
              last: to < batch.length || this.nextCall === undefined,
            }),
            env,
            offset,
          )
        : undefined
    // Two chunks are posted at once: the worker goes from one to the next without waiting for
    // this thread, which judges a chunk's answers and writes the one after while the next runs.
    if (adopted) this.earlyChunks.adopted += 1
    let running = adopted ? early.sent : this.send(channel, chunk(from, 0) as Chunk, env)
    const second = chunk(running.to, HALF_BYTES - running.offset)
    let queued = second === undefined ? undefined : this.send(channel, second, env)
    // The event loop's turn (see yieldToEventLoop) is taken while the worker computes.
    await yieldToEventLoop()
    let next = from
    for (;;) {
      const hop = await this.receive(channel, running)
      this.journalMs += hop.elapsedMs
      if (hop.ranBefore !== undefined) {
        // Timed out: the worker is gone with the chunk's answers before it; recompute those on
        // the rebuilt instance (the journal does not hold them yet), then record the timeout.
        await this.rebuild()
        await this.runBatch(batch, running.from, running.from + hop.ranBefore, env, judge, outcomes)
        outcomes.push(hop.failure as CallFailure)
        return running.from + hop.ranBefore + 1
      }
      for (const json of hop.answers) {
        const message = batch.at(next++)
        const judged = judge(json)
        outcomes.push({ status: 'ok', value: judged.value })
        if (judged.rollback) {
          // Undo this message; the worker ran (or runs) the ones after it on its effects: they run
          // again on the rebuilt instance.
          await this.rebuild()
          return next
        }
        this.journal.push([message.msg, env, message.timestamp])
        this.journalBytes += message.msg.byteLength + env.byteLength
      }
      if (hop.failure !== undefined) {
        // A chunk posted behind this one finds the worker short of it and does not run.
        await this.rebuild()
        outcomes.push(hop.failure)
        return next + 1
      }
      if (queued === undefined) return next
      // The half the answered chunk used is free again: for this call's next chunk, else (the
      // worker now runs this call's last one) for the next call's first.
      const ahead = chunk(queued.to, running.offset)
      if (ahead === undefined && to === batch.length) this.postEarly(channel, running.offset)
      running = queued
      queued = ahead === undefined ? undefined : this.send(channel, ahead, env)
      await yieldToEventLoop()
    }
  }

  /** Posts a prepared chunk to the worker (behind the one it may be running). */
  private send(channel: Channel, chunk: Chunk, env: Uint8Array): Sent {
    const { control } = channel
    const slot = requestSlot(channel.sequence + 1)
    if (chunk.onPort !== undefined) channel.port.postMessage(chunk.onPort)
    control[slot + ON_PORT] = chunk.onPort === undefined ? 0 : 1
    control[slot + OFFSET] = chunk.offset
    control[slot + COUNT] = chunk.to - chunk.from
    control[slot + ENV_LENGTH] = env.byteLength
    control[slot + APPLIED] = channel.posted
    control[slot + OP] = OP_COMPUTE
    channel.posted += chunk.to - chunk.from
    return { ...chunk, ...this.signal(channel) }
  }

  /** Waits for a sent chunk's answers (decoded, so its half of the data block is free again). */
  private async receive(channel: Channel, sent: Sent): Promise<BatchAnswer> {
    const { control, data, view } = channel
    if (!(await this.wait(channel, sent, this.limits.timeoutMs, true))) {
      return {
        answers: [],
        elapsedMs: 0,
        ranBefore: control[PROGRESS],
        failure: {
          status: 'timeout',
          message: `the message ran longer than the ${this.limits.timeoutMs} ms limit and was stopped`,
        },
      }
    }
    const slot = requestSlot(sent.sequence)
    const status = control[slot + STATUS]
    if (status === STATUS_SEQUENCE) {
      const reason = String(receiveMessageOnPort(channel.port)?.message ?? '')
      this.terminate()
      throw new Error(`the worker was out of step, nothing ran: ${reason}`)
    }
    const count = status === DEAD ? 0 : (control[slot + ANSWERED] as number)
    const elapsedMs = status === DEAD ? 0 : (control[slot + ELAPSED_US] as number) / 1000
    const answers: string[] = []
    if (control[slot + ON_PORT] === 1 && count > 0) {
      const list = receiveMessageOnPort(channel.port)?.message as Uint8Array[]
      for (const answer of list) answers.push(decoder.decode(answer))
    } else {
      let at = sent.offset
      for (let i = 0; i < count; i++) {
        const length = view.getUint32(at, true)
        answers.push(Buffer.from(data.buffer, at + ANSWER_HEADER, length).toString('utf8'))
        at += ANSWER_HEADER + length
      }
    }
    if (status === STATUS_OK && count === sent.to - sent.from) return { answers, elapsedMs }
    const message =
      status === STATUS_MEMORY
        ? `the module's memory grew past the cap of ${this.limits.maxPages} pages`
        : status === DEAD
          ? 'the worker running the module exited'
          : String(receiveMessageOnPort(channel.port)?.message ?? 'the module trapped')
    return {
      answers,
      elapsedMs,
      failure: { status: status === STATUS_MEMORY ? 'memory' : 'trap', message },
    }
  }

  private async takeSnapshot(): Promise<InstanceSnapshot> {
    const channel = this.channel ?? (await this.spawn())
    const started = performance.now()
    const slot = requestSlot(channel.sequence + 1)
    channel.control[slot + OP] = OP_SNAPSHOT
    // A snapshot is a memory scan and copy: allow it far more than one message's time.
    const timeoutMs = Math.max(60_000, this.limits.timeoutMs)
    if (!(await this.wait(channel, this.signal(channel), timeoutMs))) {
      await this.rebuild()
      throw new Error('wasm64: taking the snapshot timed out')
    }
    const received = receiveMessageOnPort(channel.port)?.message as
      InstanceSnapshot | string | undefined
    if (channel.control[slot + STATUS] !== STATUS_OK || typeof received !== 'object') {
      throw new Error(
        `wasm64: snapshot failed: ${typeof received === 'string' ? received : 'no snapshot'}`,
      )
    }
    this.base = received
    this.journal = []
    this.journalBytes = 0
    this.journalMs = 0
    this.refreshMs = performance.now() - started
    return received
  }

  close(): void {
    clearTimeout(this.idleTimer)
    finalizer.unregister(this.box)
    closeBox(this.box)
    this.channel = undefined
  }

  /** Bumps `REQUEST` for the request written into the control block. */
  private signal(channel: Channel): Signalled {
    const { control } = channel
    const sequence = ++channel.sequence
    Atomics.store(control, REQUEST, sequence)
    Atomics.notify(control, REQUEST)
    return { sequence, requested: Date.now() }
  }

  /**
   * Waits for a signalled request's response; false on timeout (the worker is then gone). With
   * `perMessage`, the limit counts from the start of the batch message running now.
   */
  private async wait(
    channel: Channel,
    { sequence, requested }: Signalled,
    timeoutMs: number,
    perMessage = false,
  ): Promise<boolean> {
    const { control, clock } = channel
    // Short calls answer within the synchronous wait; longer ones free the event loop.
    if (this.limits.syncWaitMs > 0)
      Atomics.wait(control, RESPONSE, sequence - 1, this.limits.syncWaitMs)
    while (Atomics.load(control, RESPONSE) === sequence - 1) {
      const started = perMessage ? Math.max(requested, clock[STARTED_F64] as number) : requested
      const left = started + timeoutMs - Date.now()
      const wait = left > 0 ? Atomics.waitAsync(control, RESPONSE, sequence - 1, left) : undefined
      // waitAsync does not keep the event loop alive; a referenced worker does, while we wait.
      channel.worker.ref()
      const outcome = wait === undefined ? 'timed-out' : wait.async ? await wait.value : wait.value
      channel.worker.unref()
      if (outcome === 'timed-out') {
        if (Atomics.load(control, RESPONSE) !== sequence - 1) break
        // A later batch message started since: its own limit counts from its start.
        if (perMessage && (clock[STARTED_F64] as number) + timeoutMs > Date.now()) continue
        this.terminate()
        return false
      }
    }
    const response = Atomics.load(control, RESPONSE)
    if (response === DEAD) control[requestSlot(sequence) + STATUS] = DEAD
    else if (response < sequence) {
      this.terminate()
      throw new Error(`the worker answered request ${response}, not ${sequence}`)
    }
    return true
  }

  private terminate(): void {
    const channel = this.channel
    this.channel = undefined
    this.box.worker = undefined
    if (channel !== undefined) void channel.worker.terminate()
  }

  private async rebuild(): Promise<void> {
    this.terminate()
    await this.spawn()
  }

  private async spawn(): Promise<Channel> {
    const { port1, port2 } = new MessageChannel()
    const controlBuffer = new SharedArrayBuffer(CONTROL_BYTES)
    const dataBuffer = new SharedArrayBuffer(DATA_BYTES)
    const control = new Int32Array(controlBuffer)
    const input: WorkerInput = {
      module: this.compiled.module,
      info: this.compiled.info,
      maxPages: this.limits.maxPages,
      control: controlBuffer,
      data: dataBuffer,
      port: port2,
      base: this.base,
      journal: this.journal,
    }
    const worker = new Worker(WORKER_URL, {
      name: WORKER_THREAD_NAME,
      workerData: input,
      transferList: [port2],
    })
    worker.unref()
    worker.on('error', () => {
      // Reported through the channel as DEAD; the worker is rebuilt on the next call.
    })
    worker.on('exit', () => {
      Atomics.store(control, READY, DEAD)
      Atomics.notify(control, READY)
      Atomics.store(control, RESPONSE, DEAD)
      Atomics.notify(control, RESPONSE)
    })
    this.box.worker = worker
    // Tracked again after a `closeAllInstances`, so that the next one ends this worker too.
    boxes.add(this.box)
    // Booting replays the journal: allow each message the per-message limit, plus compile time.
    const bootMs = 60_000 + this.limits.timeoutMs * this.journal.length
    const ready = Atomics.waitAsync(control, READY, 0, bootMs)
    if (ready.async) {
      worker.ref()
      await ready.value
      worker.unref()
    }
    const state = Atomics.load(control, READY)
    if (state === READY_FAILED || state === DEAD || state === 0) {
      const reason: unknown = receiveMessageOnPort(port1)?.message
      void worker.terminate()
      this.box.worker = undefined
      throw new BootError(typeof reason === 'string' ? reason : 'the worker did not start')
    }
    const channel: Channel = {
      worker,
      control,
      clock: new Float64Array(controlBuffer),
      data: new Uint8Array(dataBuffer),
      view: new DataView(dataBuffer),
      port: port1,
      sequence: 0,
      posted: 0,
    }
    this.channel = channel
    return channel
  }
}
