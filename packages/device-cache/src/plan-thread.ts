/**
 * Plans store writes on a worker thread: IDs (one HMAC per nested message) and records are most of
 * the cost of writing a message or caching a computed slot, and on the calling thread they compete
 * with whatever else it does (computing, serving requests). The calling thread keeps the store: it
 * commits each planned batch in the order the calls came, as soon as the thread answers.
 */
import { Worker } from 'node:worker_threads'
import {
  badRequest,
  DeviceError,
  encodeValue,
  isMessage,
  type Message,
  type Store,
  type StoreOp,
  type Value,
} from '@aonode/core'
import { writeMessages } from './message-cache.ts'
import { planResults, type ResultWrite } from './results.ts'

const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './plan-thread-worker.ts' : './plan-thread-worker.js',
  import.meta.url,
)

/** The thread's first message: it has loaded and takes batches. */
export const READY = 'ready'

/**
 * A batch as it crosses to the thread, encoded (Float, Link and bigint values would not survive a
 * structured clone): result writes as `[process, slot, result, snapshot?]` each, or messages.
 */
export interface PlanJob {
  readonly kind: 'results' | 'messages'
  readonly encoded: Uint8Array
}

/** The thread's answer: the planned puts, their values packed in one transferred buffer. */
export type PlanReply =
  | {
      readonly ids: string[]
      readonly keys: string[]
      /** 1 where the put is `ifAbsent`. */
      readonly ifAbsent: Uint8Array
      /** End offset of each value in `values`. */
      readonly ends: Uint32Array
      readonly values: Uint8Array
    }
  | { readonly error: { readonly code: string; readonly message: string; readonly status: number } }

interface Pending {
  readonly store: Store
  readonly resolve: (ids: string[]) => void
  readonly reject: (error: unknown) => void
}

/** Batches smaller than this are planned on the calling thread when nothing is queued. */
const MIN_OFFLOADED = 8

export class PlanThread {
  private worker: Worker | undefined
  /** Calls in the order they were sent; the thread answers in the same order. */
  private readonly pending: Pending[] = []
  /** The thread has loaded (it boots in about 0.1–0.6 s; until then batches are planned here). */
  private ready = false
  private onReady: (() => void)[] = []

  /**
   * `writeResults` with the planning on the thread. With nothing queued ahead, a small batch is
   * planned here (a thread round trip would cost it more than it saves), and so is any batch while
   * the thread boots: a restarted node's first `now` does not wait for it.
   */
  writeResults(store: Store, writes: readonly ResultWrite[]): Promise<string[]> {
    if (!this.offloads(writes.length)) {
      const { ids, ops } = planResults(writes)
      return store.batch(ops).then(() => ids)
    }
    const encoded = encodeValue(
      writes.map(({ process, slot, result, snapshot }): Value[] =>
        snapshot === undefined ? [process, slot, result] : [process, slot, result, snapshot],
      ),
    )
    return this.post(store, { kind: 'results', encoded })
  }

  /**
   * `writeMessages` with the planning on the thread (the same rules as `writeResults` for small
   * batches and while it boots): one commit, the messages' IDs in order.
   */
  writeMessages(store: Store, messages: readonly Message[]): Promise<string[]> {
    if (!Array.isArray(messages)) throw badRequest('writeMessages takes a list of messages')
    messages.forEach((message, index) => {
      if (!isMessage(message)) throw badRequest(`entry ${index} to write is not a message`)
    })
    if (!this.offloads(messages.length)) return writeMessages(store, messages)
    let encoded: Uint8Array
    try {
      encoded = encodeValue(messages)
    } catch {
      // Not encodable (a live value): planned here, which names the problem the same way.
      return writeMessages(store, messages)
    }
    return this.post(store, { kind: 'messages', encoded })
  }

  /**
   * Whether a batch of `size` goes to the thread: when it is booted and the batch is big enough,
   * and always when calls wait for it (so batches commit in call order).
   */
  private offloads(size: number): boolean {
    // A small batch does not start the thread.
    return this.pending.length > 0 || (size >= MIN_OFFLOADED && this.booted())
  }

  private post(store: Store, job: PlanJob): Promise<string[]> {
    const worker = this.worker as Worker
    return new Promise<string[]>((resolve, reject) => {
      this.pending.push({ store, resolve, reject })
      worker.ref()
      worker.postMessage(job, [job.encoded.buffer as ArrayBuffer])
    })
  }

  /** Stops the thread once its calls are answered (a later call starts a new one). */
  async close(): Promise<void> {
    while (this.pending.length > 0) await new Promise((resolve) => setImmediate(resolve))
    const worker = this.worker
    this.worker = undefined
    this.ready = false
    if (worker !== undefined) await worker.terminate()
  }

  /** Starts the thread if there is none and resolves once it takes batches (or has died). */
  async started(): Promise<void> {
    if (this.booted()) return
    await new Promise<void>((resolve) => this.onReady.push(resolve))
  }

  /** True once the thread is up; starts it when there is none. */
  private booted(): boolean {
    if (this.worker === undefined) this.start()
    return this.ready
  }

  private start(): void {
    // Running from TypeScript sources: the thread must resolve workspace packages to theirs too.
    const execArgv = WORKER_URL.pathname.endsWith('.ts')
      ? [...process.execArgv, '--conditions=source']
      : process.execArgv
    const worker = new Worker(WORKER_URL, { execArgv })
    worker.unref()
    worker.on('message', (reply: PlanReply | typeof READY) => {
      if (reply === READY) {
        if (this.worker === worker) this.ready = true
        for (const resolve of this.onReady.splice(0)) resolve()
        return
      }
      this.answer(reply)
      if (this.pending.length === 0) worker.unref()
    })
    worker.on('error', (error) => {
      this.fail(worker, error)
    })
    worker.on('exit', (code) => {
      this.fail(worker, new Error(`the plan thread exited with code ${code}`))
    })
    this.worker = worker
  }

  /** Commits the oldest call's batch; synchronously, so batches reach the store in call order. */
  private answer(reply: PlanReply): void {
    const call = this.pending.shift()
    if (call === undefined) return
    if ('error' in reply) {
      const { code, message, status } = reply.error
      call.reject(new DeviceError(code, message, { status }))
      return
    }
    const ops: StoreOp[] = reply.keys.map((key, i) => ({
      op: 'put',
      key,
      value: reply.values.subarray(i === 0 ? 0 : reply.ends[i - 1], reply.ends[i]),
      ...(reply.ifAbsent[i] === 1 && { ifAbsent: true }),
    }))
    call.store.batch(ops).then(() => {
      call.resolve(reply.ids)
    }, call.reject)
  }

  /** The thread died: every call it held fails (nothing of theirs was committed); the next starts a new one. */
  private fail(worker: Worker, cause: unknown): void {
    if (this.worker !== worker) return
    this.worker = undefined
    this.ready = false
    // Whoever waits for it to boot goes on: batches are planned on the calling thread meanwhile.
    for (const resolve of this.onReady.splice(0)) resolve()
    for (const call of this.pending.splice(0)) {
      call.reject(
        new DeviceError('UNAVAILABLE', 'the plan thread failed; nothing was written', {
          cause,
        }),
      )
    }
  }
}
