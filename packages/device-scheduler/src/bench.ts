/* eslint-disable no-restricted-imports -- the bench composes a node from several device packages */
/**
 * scheduler@1.0 benchmark (issue 4): durable schedules per second in process (real LMDB, fsync on
 * commit), 64 concurrent clients on one process, and the cost per schedule on a fresh process
 * versus one that already has 100,000 slots. The HTTP figure is the bench package's.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { measure, perSecond, report, type Figure } from '@aonode/benchkit'
import { createRegistry, createResolver, type Message, type Resolver } from '@aonode/core'
import { createDevices as createCacheDevices, createLmdbStore } from '@aonode/device-cache'
import { createDevices } from './index.ts'

const CLIENTS = 64
const dir = mkdtempSync(join(tmpdir(), 'aonode-scheduler-bench-'))
const store = createLmdbStore({ path: dir })
const resolver: Resolver = createResolver({
  registry: createRegistry([...createDevices(), ...createCacheDevices()]),
  store,
})
let nonce = 0

async function spawn(): Promise<string> {
  const answer = (await resolver.resolve(
    { device: 'scheduler@1.0' },
    {
      path: 'schedule',
      method: 'POST',
      body: { type: 'Process', device: 'process@1.0', nonce: nonce++ },
    },
  )) as Message
  return answer['process'] as string
}

/** Schedules `count` messages on `pid` from `CLIENTS` concurrent clients; answers the ms taken. */
async function load(pid: string, count: number): Promise<number> {
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < count) {
        const i = next++
        await resolver.resolve(
          { device: 'scheduler@1.0' },
          {
            path: 'schedule',
            method: 'POST',
            body: { target: pid, action: 'Increment', data: `message ${i}` },
          },
        )
      }
    }),
  )
  return performance.now() - started
}

const figures: Figure[] = []
try {
  figures.push(
    await measure(
      `durable schedules, in process (${CLIENTS} clients, one process)`,
      'ops/s',
      async () => perSecond(5000, await load(await spawn(), 5000)),
      { runs: 5, warmup: 1, goal: { op: '>=', value: 8000, issue: 4 } },
    ),
  )
  const big = await spawn()
  await load(big, 100_000)
  const perMessage = async (pid: string): Promise<number> => ((await load(pid, 2000)) * 1000) / 2000
  figures.push(
    await measure('schedule cost on a fresh process', 'µs/msg', async () =>
      perMessage(await spawn()),
    ),
    await measure('schedule cost on a 100,000-slot process', 'µs/msg', () => perMessage(big)),
  )
} finally {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}
report('device-scheduler', figures)
