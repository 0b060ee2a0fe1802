/**
 * device-cache benchmark (issue 3): durable LMDB writes/s and warm reads/s of 1 KB messages, and
 * bytes on disk per message against its encoded size.
 */
import { randomBytes } from 'node:crypto'
import { rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { encodeMessage, type Message, type Store } from '@aonode/core'
import { figure, measure, perSecond, report, type Figure } from '@aonode/benchkit'
import { tempDir } from './fixtures/backends.ts'
import { createLmdbStore } from './lmdb-store.ts'
import { setDecodedCacheSize } from './decoded-cache.ts'
import { readMessage, writeMessage, writeMessages } from './message-cache.ts'
import { PlanThread } from './plan-thread.ts'
import { writeResult } from './results.ts'

const COUNT = Number(process.env['BENCH_COUNT'] ?? 20_000)
/** Messages per run of the batched-write figures: at 60–80k/s, 20,000 would be a 0.3 s window. */
const BATCHED_COUNT = Number(process.env['BENCH_BATCHED_COUNT'] ?? 50_000)
/** Messages in the store that reads and disk use are measured on (fill factor settles with size). */
const STORED = Number(process.env['BENCH_STORED'] ?? 100_000)
/** Writes in flight at once: what many concurrent requests look like to the store. */
const IN_FLIGHT = 1000
/** Messages per `writeMessages` call, and such batches in flight at once (concurrent requests). */
const BATCH = 1000
const BATCHES_IN_FLIGHT = 4

/** A 1 KB message shaped like an AO message: a few tags and a text body. */
function message(i: number): Message {
  return {
    type: 'Message',
    action: 'Transfer',
    target: randomBytes(32).toString('base64url').slice(0, 43),
    quantity: i,
    data: randomBytes(450).toString('hex'),
    'data-protocol': 'ao',
  }
}

/** Writes items with `inFlight` concurrent writers, each starting its next write when one lands. */
async function writeAll<T>(
  items: readonly T[],
  write: (item: T, i: number) => Promise<unknown>,
  inFlight = IN_FLIGHT,
) {
  let next = 0
  const writer = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      await write(items[i] as T, i)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, writer))
}

const dirs: string[] = []
function freshStore() {
  const dir = tempDir()
  dirs.push(dir)
  return { dir, store: createLmdbStore({ path: dir }) }
}

const figures: Figure[] = []
const encodedSize = encodeMessage(message(0)).byteLength

/** Batches of BATCH messages, BATCHES_IN_FLIGHT at once, written by `write`: messages/s. */
async function batchedWrites(write: (store: Store, batch: Message[]) => Promise<unknown>) {
  const batches = Array.from({ length: BATCHED_COUNT / BATCH }, (_, b) =>
    Array.from({ length: BATCH }, (_, i) => message(b * BATCH + i)),
  )
  const { store } = freshStore()
  const started = performance.now()
  await writeAll(batches, (batch) => write(store, batch), BATCHES_IN_FLIGHT)
  const ms = performance.now() - started
  await store.close()
  return perSecond(BATCHED_COUNT, ms)
}

const planThread = new PlanThread()
await planThread.started()
const batchesTitle = `batches of ${BATCH.toLocaleString('en')}, ${BATCHES_IN_FLIGHT} in flight`
figures.push(
  await measure(
    `lmdb durable message writes (1 KB, ${batchesTitle}, planned on a PlanThread)`,
    'msgs/s',
    () => batchedWrites((store, batch) => planThread.writeMessages(store, batch)),
    { runs: 5, warmup: 1, goal: { op: '>=', value: 50_000, issue: 3 } },
  ),
  await measure(
    `lmdb durable message writes (1 KB, ${batchesTitle}, writeMessages on the calling thread)`,
    'msgs/s',
    () => batchedWrites(writeMessages),
    { runs: 5, warmup: 1 },
  ),
)
await planThread.close()

figures.push(
  await measure(
    'lmdb durable message writes (1 KB, concurrent)',
    'msgs/s',
    async () => {
      const messages = Array.from({ length: COUNT }, (_, i) => message(i))
      const { store } = freshStore()
      const started = performance.now()
      await writeAll(messages, (m) => writeMessage(store, m))
      const ms = performance.now() - started
      await store.close()
      return perSecond(COUNT, ms)
    },
    { runs: 3, warmup: 1 },
  ),
)

figures.push(
  await measure(
    `lmdb durable store puts (1 KB encoded message, batches of ${BATCH.toLocaleString('en')}, ${BATCHES_IN_FLIGHT} in flight)`,
    'puts/s',
    async () => {
      const batches = Array.from({ length: COUNT / BATCH }, (_, b) =>
        Array.from({ length: BATCH }, (_, i) => ({
          op: 'put' as const,
          key: `messages/${randomBytes(32).toString('base64url')}`,
          value: encodeMessage(message(b * BATCH + i)),
        })),
      )
      const { store } = freshStore()
      const started = performance.now()
      await writeAll(batches, (batch) => store.batch(batch), BATCHES_IN_FLIGHT)
      const ms = performance.now() - started
      await store.close()
      return perSecond(COUNT, ms)
    },
    { runs: 3, warmup: 1, goal: { op: '>=', value: 50_000, issue: 3 } },
  ),
)

figures.push(
  await measure(
    'lmdb durable store puts (1 KB encoded message, concurrent)',
    'puts/s',
    async () => {
      const records = Array.from({ length: COUNT }, (_, i) => ({
        key: `messages/${randomBytes(32).toString('base64url')}`,
        value: encodeMessage(message(i)),
      }))
      const { store } = freshStore()
      const started = performance.now()
      await writeAll(records, ({ key, value }) => store.write(key, value))
      const ms = performance.now() - started
      await store.close()
      return perSecond(COUNT, ms)
    },
    { runs: 3, warmup: 1, goal: { op: '>=', value: 50_000, issue: 3 } },
  ),
)

figures.push(
  await measure(
    'lmdb durable write-result (1 KB result, concurrent)',
    'results/s',
    async () => {
      const results = Array.from({ length: COUNT }, (_, i) => message(i))
      const { store } = freshStore()
      const pid = 'P'.repeat(43)
      const started = performance.now()
      await writeAll(results, (result, slot) => writeResult(store, { process: pid, slot, result }))
      const ms = performance.now() - started
      await store.close()
      return perSecond(COUNT, ms)
    },
    { runs: 3, warmup: 0 },
  ),
)

// Reads and disk use: one store of STORED messages.
const { dir, store } = freshStore()
const ids: string[] = []
await writeAll(
  Array.from({ length: STORED }, (_, i) => message(i)),
  async (m, i) => {
    ids[i] = await writeMessage(store, m)
  },
)
const shuffled = ids
  .slice(0, COUNT)
  .map((id) => ({ id, sort: Math.random() }))
  .sort((a, b) => a.sort - b.sort)
const readAll = (): number => {
  const started = performance.now()
  for (const { id } of shuffled) {
    if (readMessage(store, id) === undefined) throw new Error(`lost ${id}`)
  }
  return perSecond(shuffled.length, performance.now() - started)
}
figures.push(
  await measure('warm message reads (1 KB, random order, decoded cache)', 'msgs/s', readAll, {
    runs: 5,
    warmup: 1,
    goal: { op: '>=', value: 200_000, issue: 3 },
  }),
)
// The same reads decoding every record from LMDB's (warm) memory map.
setDecodedCacheSize(store, 0)
figures.push(
  await measure('lmdb message reads (1 KB, random order, decode each)', 'msgs/s', readAll, {
    runs: 5,
    warmup: 1,
  }),
)
await store.close()
// Blocks actually allocated, not the apparent size (they agree unless the file is sparse).
const onDisk = statSync(join(dir, 'data.mdb')).blocks * 512
figures.push(figure('lmdb bytes on disk per message (1 KB)', 'bytes', [onDisk / STORED]))
figures.push(figure('encoded size of the message', 'bytes', [encodedSize]))
figures.push(
  figure('disk overhead (bytes on disk / encoded size)', 'x', [onDisk / STORED / encodedSize], {
    op: '<=',
    value: 2,
    issue: 3,
  }),
)

for (const d of dirs) rmSync(d, { recursive: true, force: true })
report('device-cache', figures)
