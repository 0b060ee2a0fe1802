/**
 * The host side of one process's live instance: the worker that owns it, the call channel, and the
 * rollback base. Memory is never copied per message. To undo a message (the module answered
 * `Error`, trapped, outgrew its memory cap or ran past the time limit) the instance is rebuilt from
 * the base (a sparse memory + globals snapshot) by replaying the journal of messages computed since
 * the base was taken; the base is refreshed every `rollbackWindow` messages.
 */
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads'
import {
  CONTROL_BYTES,
  ENV_LENGTH,
  MSG_LENGTH,
  ON_PORT,
  OP,
  OP_COMPUTE,
  OP_SNAPSHOT,
  READY,
  READY_FAILED,
  REQUEST,
  RESPONSE,
  RESULT_LENGTH,
  STATUS,
  STATUS_MEMORY,
  STATUS_OK,
  TIMESTAMP_F64,
} from './channel.ts'
import type { InstanceSnapshot, ModuleKind } from './runtime.ts'
import type { ImageInfo } from './wasm-binary.ts'
import type { WorkerInput } from './worker.ts'

const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js',
  import.meta.url,
)
const DATA_BYTES = 1 << 20
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
  /** Messages between two rollback bases (a sparse memory copy each). */
  readonly rollbackWindow: number
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
  readonly port: MessagePort
  sequence: number
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
  private tail: Promise<unknown> = Promise.resolve()
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

  /**
   * Calls `handle(msg, env)` with the clock at `timestamp`; `judge` reads the answer and says whether
   * to keep its effects (journal) or undo them (rebuild). Calls and snapshots run one at a time.
   */
  compute<T>(
    msg: Uint8Array,
    env: Uint8Array,
    timestamp: number,
    judge: (json: string) => { readonly value: T; readonly rollback: boolean },
  ): Promise<CallOutcome<T>> {
    return this.serial(async () => {
      const outcome = await this.call(msg, env, timestamp)
      if (outcome.status !== 'ok') return outcome
      const judged = judge(outcome.json)
      if (judged.rollback) await this.rebuild()
      else {
        this.journal.push([msg, env, timestamp])
        this.journalBytes += msg.byteLength + env.byteLength
        const { rollbackWindow, rollbackBytes } = this.limits
        if (this.journal.length >= rollbackWindow || this.journalBytes >= rollbackBytes) {
          // The message is already kept: a failed refresh leaves the older base, whose journal
          // still covers everything since, so the call's answer stands.
          await this.takeSnapshot().catch(() => undefined)
        }
      }
      return { status: 'ok', value: judged.value }
    })
  }

  /** Memory + globals now; also becomes the rollback base. */
  snapshot(): Promise<InstanceSnapshot> {
    return this.serial(() => this.takeSnapshot())
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task)
    this.tail = result.catch(() => undefined)
    return result
  }

  private async call(
    msg: Uint8Array,
    env: Uint8Array,
    timestamp: number,
  ): Promise<{ readonly status: 'ok'; readonly json: string } | CallFailure> {
    await yieldToEventLoop()
    // A worker that exited between calls (node stop, crash) is replaced before the call, not after.
    if (this.channel !== undefined && Atomics.load(this.channel.control, RESPONSE) === DEAD) {
      await this.rebuild()
    }
    const channel = this.channel ?? (await this.spawn())
    const { control, data } = channel
    if (msg.byteLength + env.byteLength <= data.byteLength) {
      data.set(msg)
      data.set(env, msg.byteLength)
      control[ON_PORT] = 0
    } else {
      channel.port.postMessage([msg, env])
      control[ON_PORT] = 1
    }
    control[MSG_LENGTH] = msg.byteLength
    control[ENV_LENGTH] = env.byteLength
    control[OP] = OP_COMPUTE
    channel.clock[TIMESTAMP_F64] = timestamp
    if (!(await this.request(channel, this.limits.timeoutMs))) {
      await this.rebuild()
      return {
        status: 'timeout',
        message: `the message ran longer than the ${this.limits.timeoutMs} ms limit and was stopped`,
      }
    }
    const status = control[STATUS]
    if (status === STATUS_OK) {
      const length = control[RESULT_LENGTH] as number
      const json =
        control[ON_PORT] === 1
          ? decoder.decode(receiveMessageOnPort(channel.port)?.message as Uint8Array)
          : Buffer.from(data.buffer, 0, length).toString('utf8')
      return { status: 'ok', json }
    }
    const message =
      status === STATUS_MEMORY
        ? `the module's memory grew past the cap of ${this.limits.maxPages} pages`
        : status === DEAD
          ? 'the worker running the module exited'
          : String(receiveMessageOnPort(channel.port)?.message ?? 'the module trapped')
    await this.rebuild()
    return { status: status === STATUS_MEMORY ? 'memory' : 'trap', message }
  }

  private async takeSnapshot(): Promise<InstanceSnapshot> {
    const channel = this.channel ?? (await this.spawn())
    channel.control[OP] = OP_SNAPSHOT
    // A snapshot is a memory scan and copy: allow it far more than one message's time.
    if (!(await this.request(channel, Math.max(60_000, this.limits.timeoutMs)))) {
      await this.rebuild()
      throw new Error('wasm64: taking the snapshot timed out')
    }
    const received = receiveMessageOnPort(channel.port)?.message as
      InstanceSnapshot | string | undefined
    if (channel.control[STATUS] !== STATUS_OK || typeof received !== 'object') {
      throw new Error(
        `wasm64: snapshot failed: ${typeof received === 'string' ? received : 'no snapshot'}`,
      )
    }
    this.base = received
    this.journal = []
    this.journalBytes = 0
    return received
  }

  close(): void {
    finalizer.unregister(this.box)
    closeBox(this.box)
    this.channel = undefined
  }

  /** Signals a request and waits for its response; false on timeout (the worker is then gone). */
  private async request(channel: Channel, timeoutMs: number): Promise<boolean> {
    const { control } = channel
    const sequence = ++channel.sequence
    Atomics.store(control, REQUEST, sequence)
    Atomics.notify(control, REQUEST)
    const started = performance.now()
    // Short calls answer within the synchronous wait; longer ones free the event loop.
    if (this.limits.syncWaitMs > 0)
      Atomics.wait(control, RESPONSE, sequence - 1, this.limits.syncWaitMs)
    while (Atomics.load(control, RESPONSE) === sequence - 1) {
      const left = timeoutMs - (performance.now() - started)
      const wait = left > 0 ? Atomics.waitAsync(control, RESPONSE, sequence - 1, left) : undefined
      // waitAsync does not keep the event loop alive; a referenced worker does, while we wait.
      channel.worker.ref()
      const outcome = wait === undefined ? 'timed-out' : wait.async ? await wait.value : wait.value
      channel.worker.unref()
      if (outcome === 'timed-out') {
        if (Atomics.load(control, RESPONSE) !== sequence - 1) break
        this.terminate()
        return false
      }
    }
    if (Atomics.load(control, RESPONSE) === DEAD) control[STATUS] = DEAD
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
    const worker = new Worker(WORKER_URL, { workerData: input, transferList: [port2] })
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
      port: port1,
      sequence: 0,
    }
    this.channel = channel
    return channel
  }
}
