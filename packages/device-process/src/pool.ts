import type { ResolveContext } from '@aonode/core'
import type { ProcessRef } from './state.ts'
import { ProcessWorker, type WorkerOptions } from './worker.ts'

export interface PoolOptions extends WorkerOptions {
  /** Live workers kept in memory; the least recently used idle one is evicted beyond this. */
  readonly maxWorkers: number
  /** A worker unused this long is snapshotted and evicted. */
  readonly idleMs: number
}

/**
 * The live workers of one node (one store), least recently used first. Evicting a worker stores a
 * snapshot of its live state first, so the next worker for that process restores instead of replaying.
 */
export class WorkerPool {
  readonly options: PoolOptions
  private readonly workers = new Map<string, ProcessWorker>()
  /** Evictions in progress: a new worker for that process waits for the snapshot to land. */
  private readonly evicting = new Map<string, Promise<void>>()
  private timer: NodeJS.Timeout | undefined
  private ctx: ResolveContext | undefined

  constructor(options: PoolOptions) {
    this.options = options
  }

  /** The live worker of a process, if there is a sound one (does not count as a use). */
  peek(pid: string): ProcessWorker | undefined {
    const worker = this.workers.get(pid)
    return worker?.failure === undefined ? worker : undefined
  }

  /** The worker of a process, created on first use; marks it most recently used. */
  async acquire(process: ProcessRef, ctx: ResolveContext): Promise<ProcessWorker> {
    this.ctx = ctx
    const eviction = this.evicting.get(process.pid)
    if (eviction !== undefined) await eviction
    let worker = this.workers.get(process.pid)
    if (worker?.failure !== undefined) {
      // Its results did not all reach the cache: a new worker resumes from what is durable.
      this.workers.delete(process.pid)
      worker = undefined
    }
    if (worker === undefined) {
      worker = new ProcessWorker(process, this.options)
      this.startTimer()
    } else {
      this.workers.delete(process.pid)
    }
    this.workers.set(process.pid, worker)
    if (this.workers.size > this.options.maxWorkers) this.evictOverflow()
    ctx.node.metrics?.gauge('active_workers', this.workers.size)
    return worker
  }

  /** A worker outside the pool, for recomputing a past slot without disturbing the live one. */
  scratch(process: ProcessRef): ProcessWorker {
    return new ProcessWorker(process, this.options)
  }

  private evictOverflow(): void {
    for (const [pid, worker] of this.workers) {
      if (this.workers.size <= this.options.maxWorkers) return
      if (!worker.busy) this.evict(pid, worker)
    }
  }

  private evict(pid: string, worker: ProcessWorker): void {
    const ctx = this.ctx
    this.workers.delete(pid)
    if (ctx === undefined) return
    ctx.node.metrics?.gauge('active_workers', this.workers.size)
    const done = worker
      .snapshotNow(ctx)
      .then(
        () => undefined,
        (error: unknown) => {
          ctx.log.error('process snapshot on eviction failed', {
            process: pid,
            error: String(error),
          })
        },
      )
      .finally(() => this.evicting.delete(pid))
    this.evicting.set(pid, done)
  }

  private startTimer(): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(
      () => this.sweep(),
      Math.max(10, Math.min(this.options.idleMs, 30_000)),
    )
    this.timer.unref()
  }

  /** Evicts workers idle longer than `idleMs`. */
  sweep(now = Date.now()): void {
    for (const [pid, worker] of this.workers) {
      if (!worker.busy && now - worker.lastUsed >= this.options.idleMs) this.evict(pid, worker)
    }
  }

  get size(): number {
    return this.workers.size
  }

  /** Shutdown: snapshot every live worker and wait for every write. */
  async stop(ctx: ResolveContext): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
    const workers = [...this.workers.values()]
    this.workers.clear()
    await Promise.all([
      ...this.evicting.values(),
      ...workers.map((worker) => worker.snapshotNow(ctx)),
    ])
  }
}
