/* eslint-disable no-restricted-imports -- the bench composes a node from several device packages */
/**
 * An in-process node for the benchmark: cache@1.0 on a real LMDB store (temp directory),
 * scheduler@1.0, process@1.0 with its default options, and lua@5.3a.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRegistry, createResolver, type Message, type Resolver } from '@aonode/core'
import { createDevices as createCacheDevices, createLmdbStore } from '@aonode/device-cache'
import { createDevices as createProcessDevices } from '@aonode/device-process'
import { createDevices as createSchedulerDevices } from '@aonode/device-scheduler'
import { createDevices } from '../index.ts'

/** Concurrent clients scheduling a backlog (as an HTTP front end would). */
const CLIENTS = 64

export interface BenchNode {
  readonly resolver: Resolver
  /** Registers a process; answers its ID. */
  spawn(definition: Message): Promise<string>
  /** Schedules `bodies` on `pid` (durably, before returning). */
  schedule(pid: string, bodies: readonly Message[]): Promise<void>
  /** ms for one `now` to compute the backlog until the last slot's result is durable. */
  timeNow(pid: string): Promise<{ ms: number; state: Message }>
  close(): Promise<void>
}

export async function openBenchNode(): Promise<BenchNode> {
  const dir = mkdtempSync(join(tmpdir(), 'aonode-lua-bench-'))
  const store = createLmdbStore({ path: dir })
  const resolver = createResolver({
    registry: createRegistry([
      ...createCacheDevices(),
      ...createSchedulerDevices(),
      ...createProcessDevices(),
      ...createDevices(),
    ]),
    store,
  })
  await resolver.start()
  let nonce = 0
  return {
    resolver,
    async spawn(definition) {
      const answer = (await resolver.resolvePath('/~process@1.0/schedule', {
        method: 'POST',
        ...definition,
        device: 'process@1.0',
        'bench-nonce': nonce++,
      })) as Message
      return answer['process'] as string
    },
    async schedule(pid, bodies) {
      let next = 0
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (next < bodies.length) {
            const body = bodies[next++] as Message
            await resolver.resolve(
              { device: 'scheduler@1.0' },
              { path: 'schedule', method: 'POST', body: { ...body, target: pid } },
            )
          }
        }),
      )
    },
    async timeNow(pid) {
      const started = performance.now()
      const state = (await resolver.resolvePath(`/${pid}~process@1.0/now`)) as Message
      const last = { path: 'read-result', process: pid, slot: state['at-slot'] as number }
      // Results are written in slot order: the last one durable means all are.
      for (;;) {
        const found = await resolver.resolve({ device: 'cache@1.0' }, last).then(
          () => true,
          () => false,
        )
        if (found) break
        await new Promise((resolve) => setTimeout(resolve, 1))
      }
      return { ms: performance.now() - started, state }
    },
    async close() {
      await resolver.stop()
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
