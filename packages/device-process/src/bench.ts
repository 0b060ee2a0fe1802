/* eslint-disable no-restricted-imports -- the bench composes a node from several device packages */
/**
 * process@1.0 benchmark (issue 4), on real LMDB with test-exec@1.0 as the execution device:
 * compute overhead per message (total minus test-exec's own time), warm `now` latency, restart-to-
 * `now` for a 100,000-slot process, and compute cost per message at 1k versus 100k slots.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { figure, measure, percentile, report, type Figure } from '@aonode/benchkit'
import {
  createRegistry,
  createResolver,
  defineDevice,
  type Device,
  type Message,
  type ResolveContext,
  type Resolver,
  type Store,
} from '@aonode/core'
import { createDevices as createCacheDevices, createLmdbStore } from '@aonode/device-cache'
import { createDevices as createSchedulerDevices } from '@aonode/device-scheduler'
import { createTestExecDevice } from '@aonode/testkit'
import { createDevices } from './index.ts'

const CLIENTS = 64
const dir = mkdtempSync(join(tmpdir(), 'aonode-process-bench-'))

interface Node {
  readonly store: Store
  readonly resolver: Resolver
  close(): Promise<void>
}

/** When set, cache@1.0 `write-result(s)` do nothing: isolates process@1.0's own cost. */
let skipResultWrites = false

/** cache@1.0 with a switch to turn result writes off (every other key is the real one). */
function switchableCache(): Device[] {
  return createCacheDevices().map((cache) => {
    const writeResult = cache.keys['write-result']
    const writeResults = cache.keys['write-results']
    if (writeResult === undefined || writeResults === undefined) return cache
    return defineDevice({
      ...cache,
      keys: {
        ...cache.keys,
        'write-result': (base, req, ctx) =>
          skipResultWrites ? { id: 'skipped' } : writeResult(base, req, ctx),
        'write-results': (base, req, ctx) =>
          skipResultWrites ? { ids: [] } : writeResults(base, req, ctx),
      },
    })
  })
}

async function openNode(): Promise<Node> {
  const store = createLmdbStore({ path: dir })
  const resolver = createResolver({
    registry: createRegistry([
      ...switchableCache(),
      ...createSchedulerDevices(),
      ...createDevices(),
      createTestExecDevice(),
    ]),
    store,
    node: { devices: { 'process@1.0': { snapshotEvery: 100 } } },
  })
  await resolver.start()
  return {
    store,
    resolver,
    async close() {
      await resolver.stop()
      await store.close()
    },
  }
}

let nonce = 0
async function spawn(node: Node): Promise<string> {
  const answer = (await node.resolver.resolvePath('/~process@1.0/schedule', {
    method: 'POST',
    type: 'Process',
    device: 'process@1.0',
    'execution-device': 'test-exec@1.0',
    nonce: nonce++,
  })) as Message
  return answer['process'] as string
}

async function schedule(node: Node, pid: string, count: number): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < count) {
        const i = next++
        await node.resolver.resolve(
          { device: 'scheduler@1.0' },
          {
            path: 'schedule',
            method: 'POST',
            body: { target: pid, action: i % 3 === 0 ? 'Noop' : 'Increment', i },
          },
        )
      }
    }),
  )
}

const now = async (node: Node, pid: string): Promise<Message> =>
  (await node.resolver.resolvePath(`/${pid}~process@1.0/now`)) as Message

/**
 * ms to compute everything scheduled on `pid` (one `now`) until every slot's result is durable:
 * `now` answers only then; the read-back of the last slot confirms it.
 */
async function timeNow(node: Node, pid: string): Promise<number> {
  const started = performance.now()
  const state = await now(node, pid)
  const last = { path: 'read-result', process: pid, slot: state['at-slot'] as number }
  while (!skipResultWrites) {
    // Results are written in slot order: the last one durable means all are.
    const found = await node.resolver.resolve({ device: 'cache@1.0' }, last).then(
      () => true,
      () => false,
    )
    if (found) break
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  return performance.now() - started
}

/** test-exec's own time per message over `pid`'s schedule, outside process@1.0 (µs). */
async function execOnly(node: Node, pid: string, count: number): Promise<number> {
  const exec = createTestExecDevice()
  const key = (name: string) => exec.keys[name] as NonNullable<Device['keys'][string]>
  const ctx = {} as ResolveContext
  const assignments: Message[] = []
  while (assignments.length < count) {
    const page = (await node.resolver.resolvePath(
      `/${pid}~process@1.0/schedule?from=${assignments.length}`,
    )) as Message
    assignments.push(...Object.values(page['assignments'] as Record<string, Message>))
  }
  let state = (await key('init')({}, { path: 'init' }, ctx)) as Message
  const started = performance.now()
  for (const assignment of assignments) {
    state = (await key('compute')(state, { ...assignment, path: 'compute' }, ctx)) as Message
  }
  return ((performance.now() - started) * 1000) / assignments.length
}

const figures: Figure[] = []
const MESSAGES = 5000
let node = await openNode()
try {
  // Compute cost per message on a fresh process: total, test-exec's share, result caching's share.
  const total: number[] = []
  const overhead: number[] = []
  const processOnly: number[] = []
  const caching: number[] = []
  const bareTotal: number[] = []
  for (let run = 0; run < 6; run++) {
    const pid = await spawn(node)
    await schedule(node, pid, MESSAGES)
    const perMessage = ((await timeNow(node, pid)) * 1000) / (MESSAGES + 1)
    const bare = await spawn(node)
    await schedule(node, bare, MESSAGES)
    skipResultWrites = true
    const perMessageBare = ((await timeNow(node, bare)) * 1000) / (MESSAGES + 1)
    skipResultWrites = false
    const exec = await execOnly(node, pid, MESSAGES + 1)
    if (run === 0) continue // warm-up
    total.push(perMessage)
    overhead.push(perMessage - exec)
    processOnly.push(perMessageBare - exec)
    caching.push(perMessage - perMessageBare)
    bareTotal.push(perMessageBare)
  }
  figures.push(
    figure('compute overhead per message (excluding test-exec)', 'µs/msg', overhead, {
      op: '<=',
      value: 20,
      issue: 4,
    }),
    figure('  of which process@1.0 itself (no result writes)', 'µs/msg', processOnly),
    figure('  of which cache@1.0 result writes per slot', 'µs/msg', caching),
    figure('compute per message, first 5k slots (total, results durable)', 'µs/msg', total),
    figure('compute per message, first 5k slots (no result writes)', 'µs/msg', bareTotal),
  )

  // Warm `now` over the HyperPATH (definition loaded by ID, scheduler slot, live state).
  const warm = await spawn(node)
  await schedule(node, warm, 1000)
  await now(node, warm)
  const p50: number[] = []
  const p99: number[] = []
  for (let run = 0; run < 5; run++) {
    const latencies: number[] = []
    for (let i = 0; i < 1000; i++) {
      const started = performance.now()
      await now(node, warm)
      latencies.push(performance.now() - started)
    }
    p50.push(percentile(latencies, 50))
    p99.push(percentile(latencies, 99))
  }
  figures.push(
    figure('warm now latency p50', 'ms', p50),
    figure('warm now latency p99', 'ms', p99, { op: '<=', value: 2, issue: 4 }),
  )

  // A 100,000-slot process: per-message cost after 100k slots, then restart-to-now.
  const big = await spawn(node)
  await schedule(node, big, 100_000)
  await timeNow(node, big)
  const later: number[] = []
  for (let run = 0; run < 5; run++) {
    await schedule(node, big, 2000)
    later.push(((await timeNow(node, big)) * 1000) / 2000)
  }
  figures.push(
    figure('compute per message after 100,000 slots (total, results durable)', 'µs/msg', later),
  )

  figures.push(
    await measure(
      'restart to now, 100,000-slot process (50 slots past the newest snapshot)',
      'ms',
      async () => {
        await schedule(node, big, 50)
        await node.close()
        const started = performance.now()
        node = await openNode()
        const state = await now(node, big)
        const ms = performance.now() - started
        if (typeof state['at-slot'] !== 'number' || state['at-slot'] < 100_000) {
          throw new Error('restart did not reach the latest slot')
        }
        return ms
      },
      { runs: 5, warmup: 1, goal: { op: '<=', value: 500, issue: 4 } },
    ),
  )

  // Last, as it leaves slots without cached results: process@1.0's own cost after 100,000 slots.
  const laterBare: number[] = []
  for (let run = 0; run < 3; run++) {
    await schedule(node, big, 2000)
    skipResultWrites = true
    laterBare.push(((await timeNow(node, big)) * 1000) / 2000)
    skipResultWrites = false
  }
  figures.push(
    figure('compute per message after 100,000 slots (no result writes)', 'µs/msg', laterBare),
  )
} finally {
  await node.close()
  rmSync(dir, { recursive: true, force: true })
}
report('device-process', figures)
