import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DeviceError,
  createRegistry,
  createResolver,
  defineDevice,
  id,
  withoutPrivate,
  type Device,
  type Message,
  type MetricsHook,
  type ResolveContext,
  type Resolver,
  type Store,
  type Value,
} from '@aonode/core'
import { createDevices as createCacheDevices, createLmdbStore } from '@aonode/device-cache'
import { createDevices as createSchedulerDevices } from '@aonode/device-scheduler'
import { createTestExecDevice } from '@aonode/testkit'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createDevices, type ProcessOptions } from './index.ts'

const dirs: string[] = []
/** Warnings logged by every test node (slot failures, refused batches). */
const warnings: string[] = []
const open: TestNode[] = []
afterEach(async () => {
  for (const node of open.splice(0)) await node.close()
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'aonode-process-'))
  dirs.push(dir)
  return dir
}

interface TestNode {
  readonly store: Store
  readonly resolver: Resolver
  /** Slots test-exec computed on this node (to see what a restore recomputes). */
  readonly computed: () => number
  /** `compute-batch` calls (nodes started with `batch`). */
  readonly batches: () => number
  /** A HyperPATH resolved the way the HTTP app does (extra = method + body keys). */
  path(path: string, extra?: Message): Promise<Message>
  close(): Promise<void>
}

/** Stands between process@1.0 and cache@1.0 `write-results` (delay it, fail it, watch it). */
type ResultWriteHook = (write: () => Promise<Value>, req: Message) => Promise<Value>

/** cache@1.0 whose `write-results` goes through `hook`. */
function hookedCache(hook: ResultWriteHook): Device[] {
  return createCacheDevices().map((cache) => {
    const writeResults = cache.keys['write-results']
    if (writeResults === undefined) return cache
    return defineDevice({
      ...cache,
      keys: {
        ...cache.keys,
        'write-results': (base, req, ctx) => hook(async () => writeResults(base, req, ctx), req),
      },
    })
  })
}

async function startNode(
  dir: string,
  options: ProcessOptions = {},
  metrics?: MetricsHook,
  /** `run-ahead`: calls apply in the order made, and answers invite the next call early. */
  batch: boolean | 'run-ahead' = false,
  resultWrites?: ResultWriteHook,
  /** Called as each `compute-batch` starts; the batch computes once it settles. */
  onBatch?: (assignments: Message[]) => Promise<void>,
): Promise<TestNode> {
  const store = createLmdbStore({ path: dir })
  const exec = createTestExecDevice()
  let computed = 0
  let batches = 0
  let lastBatch: Promise<unknown> = Promise.resolve()
  const compute = exec.keys['compute'] as NonNullable<Device['keys'][string]>
  const counting: Device = defineDevice({
    info: exec.info,
    keys: {
      ...exec.keys,
      compute(base, req, ctx) {
        computed += 1
        return compute(base, req, ctx)
      },
      // With `batch`: the execution-device protocol's compute-batch, compute per assignment.
      ...(batch
        ? {
            'compute-batch'(base, req, ctx) {
              batches += 1
              const apply = async (): Promise<Message> => {
                await onBatch?.(req['assignments'] as Message[])
                const outcomes: Message[] = []
                let state = base
                for (const assignment of req['assignments'] as Message[]) {
                  computed += 1
                  try {
                    state = (await compute(
                      state,
                      { ...assignment, path: 'compute' },
                      ctx,
                    )) as Message
                    outcomes.push({ state })
                  } catch (error) {
                    if (!DeviceError.is(error)) throw error
                    outcomes.push({ error: error.message, code: error.code })
                  }
                }
                return batch === 'run-ahead' ? { outcomes, 'run-ahead': true } : { outcomes }
              }
              if (batch !== 'run-ahead') return apply()
              // In call order, each after the previous one settled (test-exec's state follows
              // from its live counter, so the base of an early call serves).
              const answer = lastBatch.then(apply)
              lastBatch = answer.catch(() => undefined)
              return answer
            },
          }
        : {}),
    },
  })
  const resolver = createResolver({
    registry: createRegistry([
      ...(resultWrites === undefined ? createCacheDevices() : hookedCache(resultWrites)),
      ...createSchedulerDevices(),
      ...createDevices(),
      counting,
    ]),
    store,
    log: {
      debug() {},
      info() {},
      warn: (message) => warnings.push(message),
      error() {},
    },
    // Device options reach process@1.0 through the node config, as in the app.
    node: { devices: { 'process@1.0': options }, ...(metrics === undefined ? {} : { metrics }) },
  })
  try {
    await resolver.start()
  } catch (error) {
    await store.close()
    throw error
  }
  let closed = false
  const node: TestNode = {
    store,
    resolver,
    computed: () => computed,
    batches: () => batches,
    path: async (path, extra) => (await resolver.resolvePath(path, extra)) as Message,
    async close() {
      if (closed) return
      closed = true
      await resolver.stop()
      await store.close()
    },
  }
  open.push(node)
  return node
}

const definition = (extra: Message = {}): Message => ({
  device: 'process@1.0',
  type: 'Process',
  'execution-device': 'test-exec@1.0',
  ...extra,
})

async function spawn(node: TestNode, extra: Message = {}): Promise<string> {
  const answer = await node.path('/~process@1.0/schedule', {
    method: 'POST',
    ...definition(extra),
  })
  expect(answer['slot']).toBe(0)
  return answer['process'] as string
}

const schedule = (node: TestNode, pid: string, message: Message): Promise<Message> =>
  node.path(`/${pid}~process@1.0/schedule`, { method: 'POST', ...message })

/** The schedule of a process, every page, in slot order. */
async function fullSchedule(node: TestNode, pid: string): Promise<Message[]> {
  const out: Message[] = []
  for (;;) {
    const page = await node.path(`/${pid}~process@1.0/schedule?from=${out.length}`)
    out.push(...Object.values(page['assignments'] as Record<string, Message>))
    if (page['continues'] !== true) return out
  }
}

/** The reference: test-exec folded over the assignments in slot order, with no process@1.0. */
async function sequentialFold(assignments: readonly Message[]): Promise<Message> {
  const exec = createTestExecDevice()
  const ctx = {} as ResolveContext
  const key = (name: string) => exec.keys[name] as NonNullable<Device['keys'][string]>
  let state = (await key('init')({}, { path: 'init' }, ctx)) as Message
  for (const assignment of assignments) {
    try {
      state = (await key('compute')(state, { ...assignment, path: 'compute' }, ctx)) as Message
    } catch {
      // An execution error leaves the state as it was.
    }
  }
  return { count: state['count'] as number, hash: state['hash'] as string }
}

const publicState = (state: Message): Message => {
  const { count, hash, results } = withoutPrivate(state)
  return { count, hash, results, 'at-slot': state['at-slot'] } as Message
}

const statusOf = (error: unknown): number | undefined =>
  DeviceError.is(error) ? error.status : undefined

describe('process@1.0', () => {
  it('spawns a process under its definition ID and refuses the same definition twice', async () => {
    const node = await startNode(tempDir())
    const answer = await node.path('/~process@1.0/schedule', { method: 'POST', ...definition() })
    expect(answer).toMatchObject({ slot: 0, process: id(definition()), body: definition() })
    await expect(
      node.path('/~process@1.0/schedule', { method: 'POST', ...definition() }),
    ).rejects.toSatisfy((error) => statusOf(error) === 409)
    expect(await node.path(`/${id(definition())}~process@1.0/slot`)).toMatchObject({ current: 0 })
  })

  it('computes 1,000 messages from 16 concurrent clients to the sequential fold', async () => {
    const node = await startNode(tempDir(), { snapshotEvery: 100 })
    const pid = await spawn(node)
    await Promise.all(
      Array.from({ length: 16 }, async (_, client) => {
        for (let i = client; i < 1000; i += 16) {
          const action = i % 7 === 3 ? 'Noop' : 'Increment'
          const answer = await schedule(node, pid, { action, client, i })
          expect(answer['process']).toBe(pid)
        }
      }),
    )
    const assignments = await fullSchedule(node, pid)
    expect(assignments.map((a) => a['slot'])).toEqual(Array.from({ length: 1001 }, (_, i) => i))
    let chain: Buffer = Buffer.alloc(0)
    for (const assignment of assignments) {
      chain = createHash('sha256')
        .update(chain)
        .update(id(assignment['body'] as Message))
        .digest()
      expect(assignment['hash-chain']).toBe(chain.toString('base64url'))
    }

    const now = await node.path(`/${pid}~process@1.0/now`)
    expect(now['at-slot']).toBe(1000)
    expect({ count: now['count'], hash: now['hash'] }).toEqual(await sequentialFold(assignments))
    expect(await node.path(`/${pid}~process@1.0/now/results/output`)).toEqual({
      count: now['count'],
    })
    expect(node.computed()).toBe(1001)

    // Earlier slots come from the result cache, under any path.
    const folded3 = await sequentialFold(assignments.slice(0, 4))
    expect(await node.path(`/${pid}~process@1.0/compute&slot=3/count`)).toBe(folded3['count'])
    expect(await node.path(`/${pid}/compute/hash?slot=3`)).toBe(folded3['hash'])
    expect(node.computed()).toBe(1001)
  })

  it('lets concurrent readers of one slot share one computation', async () => {
    const node = await startNode(tempDir())
    const pid = await spawn(node)
    for (let i = 0; i < 50; i++) await schedule(node, pid, { action: 'Increment', i })
    const states = await Promise.all(
      Array.from({ length: 8 }, () => node.path(`/${pid}~process@1.0/now`)),
    )
    expect(new Set(states.map((state) => state['count']))).toEqual(new Set([50]))
    expect(node.computed()).toBe(51)
  })

  it('answers earlier slots read while a later one is being computed', async () => {
    const node = await startNode(tempDir(), { maxPendingWrites: 4 })
    const pid = await spawn(node)
    for (let i = 0; i < 120; i++) await schedule(node, pid, { action: 'Increment', i })
    const slots = [120, 3, 60, 119, 1, 90, 120, 7]
    const counts = await Promise.all(
      slots.map((slot) => node.path(`/${pid}~process@1.0/compute&slot=${slot}/count`)),
    )
    expect(counts).toEqual(slots)
  })

  it('is deterministic: live == restart with snapshot restore == replay without snapshots', async () => {
    const messages = Array.from({ length: 280 }, (_, i) => ({
      action: i % 5 === 0 ? 'Noop' : 'Increment',
      i,
    }))
    const dir = tempDir()
    const first = await startNode(dir, { snapshotEvery: 100, snapshotMinIntervalMs: 0 })
    const pid = await spawn(first)
    for (const message of messages.slice(0, 250)) await schedule(first, pid, message)
    const live250 = publicState(await first.path(`/${pid}~process@1.0/now`))
    for (const message of messages.slice(250)) await schedule(first, pid, message)
    await first.close()

    // Restart: `now` restores the newest snapshot (slot 250, taken at shutdown) and computes 30.
    const second = await startNode(dir, { snapshotEvery: 100, snapshotMinIntervalMs: 0 })
    const restored280 = publicState(await second.path(`/${pid}~process@1.0/now`))
    expect(second.computed()).toBe(30)
    expect(publicState(await second.path(`/${pid}~process@1.0/compute&slot=250`))).toEqual(live250)
    await second.close()

    // Another restart and one more message: restores slot 280 (the second shutdown's snapshot).
    const third = await startNode(dir, { snapshotEvery: 100, snapshotMinIntervalMs: 0 })
    await third.path(`/${pid}~process@1.0/schedule`, { method: 'POST', action: 'Increment' })
    const crashed = await startNode(tempDir(), { snapshotEvery: 0 })
    const replayPid = await spawn(crashed)
    expect(replayPid).toBe(pid)
    for (const message of messages) await schedule(crashed, pid, message)
    const replay280 = publicState(await crashed.path(`/${pid}~process@1.0/now`))
    expect(crashed.computed()).toBe(281)
    expect(replay280).toEqual(restored280)
    expect(publicState(await crashed.path(`/${pid}~process@1.0/compute&slot=250`))).toEqual(live250)
    const third281 = publicState(await third.path(`/${pid}~process@1.0/now`))
    expect(third.computed()).toBe(1)
    expect(third281['at-slot']).toBe(281)
  })

  it('computes with compute-batch exactly as slot by slot: results, errors, snapshots, restore', async () => {
    const messages = Array.from({ length: 60 }, (_, i) => ({
      action: i % 9 === 4 ? 'Fail' : i % 5 === 0 ? 'Noop' : 'Increment',
      i,
    }))
    const batchedDir = tempDir()
    const batched = await startNode(
      batchedDir,
      { snapshotEvery: 7, snapshotMinIntervalMs: 0 },
      undefined,
      true,
    )
    const single = await startNode(tempDir(), { snapshotEvery: 7, snapshotMinIntervalMs: 0 })
    for (const node of [batched, single]) {
      const pid = await spawn(node)
      for (const message of messages) await schedule(node, pid, message)
    }
    const pid = id(definition())
    const batchedNow = publicState(await batched.path(`/${pid}~process@1.0/now`))
    expect(publicState(await single.path(`/${pid}~process@1.0/now`))).toEqual(batchedNow)
    // Runs end at snapshot slots (every 7), so slots 0..60 take 9 batches, each of 2+ slots.
    expect(batched.batches()).toBe(9)
    expect(single.batches()).toBe(0)
    // Without the key the worker falls back quietly (a 404 for the key is not a refused run).
    expect(warnings).not.toContain('process batch refused, computing slot by slot')
    expect(warnings).toContain('process slot failed')
    expect(batched.computed()).toBe(61)
    for (let slot = 0; slot <= 60; slot++) {
      const path = `/${pid}~process@1.0/compute&slot=${slot}`
      expect(publicState(await batched.path(path))).toEqual(publicState(await single.path(path)))
    }
    const failed = await batched.path(`/${pid}~process@1.0/compute&slot=5/results`)
    expect(Object.keys(failed).sort()).toEqual(['code', 'error'])
    expect(failed['error']).toMatch(/^slot 5: .*Action Fail at slot 5/)
    expect(failed['code']).toBe('UNPROCESSABLE')
    await batched.close()
    // A restart restores the snapshot stored at shutdown (slot 60): the batched states restore.
    const restarted = await startNode(
      batchedDir,
      { snapshotEvery: 7, snapshotMinIntervalMs: 0 },
      undefined,
      true,
    )
    await schedule(restarted, pid, { action: 'Increment' })
    await schedule(single, pid, { action: 'Increment' })
    const path = `/${pid}~process@1.0/now`
    expect(publicState(await restarted.path(path))).toEqual(publicState(await single.path(path)))
    expect(restarted.computed()).toBe(1)
  })

  it('takes periodic snapshots at most every snapshotMinIntervalMs, every snapshotEvery slots when slow', async () => {
    // Only performance.now() is faked: the worker's snapshot clock, advanced by hand.
    vi.useFakeTimers({ toFake: ['performance'] })
    try {
      const node = await startNode(
        tempDir(),
        { snapshotEvery: 5, snapshotMinIntervalMs: 1000 },
        undefined,
        true,
      )
      const pid = await spawn(node)
      const snapshotSlot = async (): Promise<Value | undefined> => {
        const latest = { path: 'latest', process: pid, require: 'snapshot' }
        return node.resolver.resolve({ device: 'cache@1.0' }, latest).then(
          (found) => (found as Message)['slot'],
          () => undefined,
        )
      }
      const computeTo = async (messages: number): Promise<number> => {
        for (let i = 0; i < messages; i++) await schedule(node, pid, { action: 'Increment' })
        return (await node.path(`/${pid}~process@1.0/now/at-slot`)) as unknown as number
      }
      // A fast backlog (no time passes): no periodic snapshot, and one run, not one per 5 slots.
      expect(await computeTo(22)).toBe(22)
      expect(await snapshotSlot()).toBeUndefined()
      expect(node.batches()).toBe(1)
      // The interval passed: the next slot computed snapshots (slots 5, 10, ... were passed by).
      vi.advanceTimersByTime(1000)
      expect(await computeTo(3)).toBe(25)
      expect(await snapshotSlot()).toBe(23)
      // Within the interval again: none, however many multiples of 5 go by.
      expect(await computeTo(10)).toBe(35)
      expect(await snapshotSlot()).toBe(23)
      // The interval passed and slots 25, 30, 35 went by since the last snapshot: the next slot.
      vi.advanceTimersByTime(1000)
      expect(await computeTo(1)).toBe(36)
      expect(await snapshotSlot()).toBe(36)
      // Slots arriving slowly: snapshotEvery applies (at slot 40, not at the first slot after a wait).
      vi.advanceTimersByTime(1000)
      expect(await computeTo(3)).toBe(39)
      expect(await snapshotSlot()).toBe(36)
      vi.advanceTimersByTime(1000)
      expect(await computeTo(2)).toBe(41)
      expect(await snapshotSlot()).toBe(40)
    } finally {
      vi.useRealTimers()
    }
  })

  it('starts the next run before it hands the results of the previous one to the cache', async () => {
    const events: string[] = []
    const node = await startNode(
      tempDir(),
      { snapshotEvery: 0, maxRunSlots: 10 },
      undefined,
      true,
      (write, req) => {
        const first = ((req['results'] as Message[])[0] as Message)['slot'] as number
        events.push(`write ${first}`)
        return write()
      },
      // Computing takes a while off this thread, as on a worker-thread device (wasm64@1.0).
      async (assignments) => {
        const first = (assignments[0] as Message)['slot'] as number
        events.push(`compute ${first}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
        events.push(`computed ${first}`)
      },
    )
    const pid = await spawn(node)
    for (let i = 0; i < 39; i++) await schedule(node, pid, { action: 'Increment', i })
    expect(await node.path(`/${pid}~process@1.0/now/count`)).toBe(39)
    // Each run's results are planned and written while the next run computes.
    expect(events).toEqual([
      'compute 0',
      'computed 0',
      'compute 10',
      'write 0',
      'computed 10',
      'compute 20',
      'write 10',
      'computed 20',
      'compute 30',
      'write 20',
      'computed 30',
      'write 30',
    ])
  })

  it('keeps one run ahead of a device that answers run-ahead, with the same states', async () => {
    const events: string[] = []
    let calls = (): number => 0
    const node = await startNode(
      tempDir(),
      { snapshotEvery: 0, maxRunSlots: 10 },
      undefined,
      'run-ahead',
      undefined,
      async (assignments) => {
        const first = (assignments[0] as Message)['slot'] as number
        await new Promise((resolve) => setTimeout(resolve, 20))
        events.push(`computed ${first}, ${calls()} calls made`)
      },
    )
    calls = node.batches
    const single = await startNode(tempDir())
    const messages = Array.from({ length: 45 }, (_, i) => ({
      action: i % 7 === 3 ? 'Fail' : 'Increment',
      i,
    }))
    for (const on of [node, single]) {
      const pid = await spawn(on)
      for (const message of messages) await schedule(on, pid, message)
    }
    const pid = id(definition())
    expect(await node.path(`/${pid}~process@1.0/now/count`)).toBe(39)
    // The first answer says run-ahead; from then on the device has the next run before it answers
    // the current one.
    expect(events).toEqual([
      'computed 0, 1 calls made',
      'computed 10, 3 calls made',
      'computed 20, 4 calls made',
      'computed 30, 5 calls made',
      'computed 40, 5 calls made',
    ])
    expect(node.batches()).toBe(5)
    // A slot past the schedule is a 404 once the slots before it are computed: nothing is lost.
    for (let i = 0; i < 15; i++) await schedule(node, pid, { action: 'Increment' })
    const computed = node.computed()
    await expect(node.path(`/${pid}~process@1.0/compute&slot=99`)).rejects.toSatisfy(
      (error) => statusOf(error) === 404,
    )
    expect(node.computed() - computed).toBe(15)
    expect(await node.path(`/${pid}~process@1.0/now/count`)).toBe(54)
    expect(node.computed() - computed).toBe(15)
    for (let slot = 0; slot <= 45; slot++) {
      const path = `/${pid}~process@1.0/compute&slot=${slot}`
      expect(publicState(await node.path(path))).toEqual(publicState(await single.path(path)))
    }
  })

  it('drops the live state when a run is refused with the next one already handed over', async () => {
    let refuse = true
    const node = await startNode(
      tempDir(),
      { snapshotEvery: 0, maxRunSlots: 10 },
      undefined,
      'run-ahead',
      undefined,
      (assignments) => {
        if (!refuse || (assignments[0] as Message)['slot'] !== 20) return Promise.resolve()
        refuse = false
        return Promise.reject(new DeviceError('UNAVAILABLE', 'test: run 20 refused'))
      },
    )
    const single = await startNode(tempDir())
    for (const on of [node, single]) {
      const pid = await spawn(on)
      for (let i = 0; i < 45; i++) await schedule(on, pid, { action: 'Increment', i })
    }
    const pid = id(definition())
    // Run 30 went to the device before run 20 was refused: the device applied it on top of run
    // 10, so the worker cannot compute run 20 slot by slot on that state. The read fails...
    await expect(node.path(`/${pid}~process@1.0/now`)).rejects.toThrow('test: run 20 refused')
    // ...and the next one reloads (no snapshot yet: from the process message) and recomputes.
    const computedBefore = node.computed()
    const now = publicState(await node.path(`/${pid}~process@1.0/now`))
    expect(now).toEqual(publicState(await single.path(`/${pid}~process@1.0/now`)))
    expect(now['count']).toBe(45)
    expect(node.computed() - computedBefore).toBe(46)
  })

  it('restores from a periodic snapshot when the node stopped without one', async () => {
    const dir = tempDir()
    const first = await startNode(dir, { snapshotEvery: 100, snapshotMinIntervalMs: 0 })
    const pid = await spawn(first)
    for (let i = 0; i < 230; i++) await schedule(first, pid, { action: 'Increment', i })
    const live = publicState(await first.path(`/${pid}~process@1.0/compute&slot=180`))
    // Simulate a crash once slot 180's result is durable: drop the node without stop(), so the
    // newest snapshot is the periodic one at slot 100.
    const cache = { device: 'cache@1.0' }
    const cached = { path: 'read-result', process: pid, slot: 180 }
    while (
      !(await first.resolver.resolve(cache, cached).then(
        () => true,
        () => false,
      ))
    ) {
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    await first.store.close()
    open.splice(open.indexOf(first), 1)

    const second = await startNode(dir, { snapshotEvery: 100, snapshotMinIntervalMs: 0 })
    // Slot 180's result is cached: no computation at all.
    expect(publicState(await second.path(`/${pid}~process@1.0/compute&slot=180`))).toEqual(live)
    expect(second.computed()).toBe(0)
    const now = await second.path(`/${pid}~process@1.0/now`)
    expect(now['count']).toBe(230)
    expect(second.computed()).toBe(130)
  })

  it('records an execution error as the slot result and keeps computing', async () => {
    const node = await startNode(tempDir())
    const pid = await spawn(node)
    await schedule(node, pid, { action: 'Increment' })
    await schedule(node, pid, { action: 'Fail' })
    await schedule(node, pid, { action: 'Increment' })
    const now = await node.path(`/${pid}~process@1.0/now`)
    expect(now['count']).toBe(2)
    expect(now['results']).toEqual({ output: { count: 2 } })
    const failed = await node.path(`/${pid}~process@1.0/compute&slot=2/results`)
    expect(failed['error']).toMatch(/^slot 2: .*Action Fail at slot 2/)
    expect(failed['output']).toBeUndefined()
    expect(await node.path(`/${pid}~process@1.0/compute&slot=2/count`)).toBe(1)
    await schedule(node, pid, { action: 'Increment' })
    expect(await node.path(`/${pid}~process@1.0/now/count`)).toBe(3)
  })

  it('answers 404 for unknown processes and unscheduled slots, 400 for a bad slot', async () => {
    const node = await startNode(tempDir())
    const pid = await spawn(node)
    await expect(node.path(`/${'u'.repeat(43)}~process@1.0/now`)).rejects.toSatisfy(
      (error) => statusOf(error) === 404,
    )
    await expect(node.path(`/${pid}~process@1.0/compute&slot=5`)).rejects.toSatisfy(
      (error) => statusOf(error) === 404 && /slot 5 is not scheduled/.test(String(error)),
    )
    await expect(node.path(`/${pid}~process@1.0/compute&slot=-1`)).rejects.toSatisfy(
      (error) => statusOf(error) === 400,
    )
    expect(await node.path(`/${pid}~process@1.0/now/at-slot`)).toBe(0)
  })

  it('evicts the least recently used worker with a snapshot and restores it', async () => {
    const node = await startNode(tempDir(), { maxWorkers: 1, snapshotEvery: 0 })
    const a = await spawn(node, { name: 'a' })
    const b = await spawn(node, { name: 'b' })
    for (let i = 0; i < 20; i++) await schedule(node, a, { action: 'Increment', i })
    expect(await node.path(`/${a}~process@1.0/now/count`)).toBe(20)
    expect(await node.path(`/${b}~process@1.0/now/count`)).toBe(0)
    await schedule(node, a, { action: 'Increment' })
    const before = node.computed()
    expect(await node.path(`/${a}~process@1.0/now/count`)).toBe(21)
    // Only the new slot: the rest came from the snapshot taken on eviction.
    expect(node.computed() - before).toBe(1)
  })

  it('snapshots and evicts a worker left idle', async () => {
    const node = await startNode(tempDir(), { idleMs: 20, snapshotEvery: 0 })
    const pid = await spawn(node)
    for (let i = 0; i < 10; i++) await schedule(node, pid, { action: 'Increment', i })
    expect(await node.path(`/${pid}~process@1.0/now/count`)).toBe(10)
    const latest = { path: 'latest', process: pid, require: 'snapshot' }
    const snapshotSlot = () =>
      node.resolver.resolve({ device: 'cache@1.0' }, latest).then(
        (found) => (found as Message)['slot'],
        () => undefined,
      )
    while ((await snapshotSlot()) !== 10) await new Promise((resolve) => setTimeout(resolve, 10))
    await schedule(node, pid, { action: 'Increment' })
    const before = node.computed()
    expect(await node.path(`/${pid}~process@1.0/now/count`)).toBe(11)
    expect(node.computed() - before).toBe(1)
  })

  it('refuses invalid options when the package loads or the node starts', async () => {
    expect(() => createDevices({ snapshotEvery: -1 })).toThrow(/snapshotEvery/)
    await expect(startNode(tempDir(), { maxWorkers: 1.5 })).rejects.toThrow(/maxWorkers/)
  })

  it('answers now only once the results it returns are durable', async () => {
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    let held = 0
    const node = await startNode(
      tempDir(),
      { snapshotEvery: 0 },
      undefined,
      false,
      async (write) => {
        held += 1
        await gate
        return write()
      },
    )
    const pid = await spawn(node)
    for (let i = 0; i < 5; i++) await schedule(node, pid, { action: 'Increment', i })
    let answered = false
    const now = node.path(`/${pid}~process@1.0/now`).then((state) => {
      answered = true
      return state
    })
    const cached = (slot: number) =>
      node.resolver.resolve({ device: 'cache@1.0' }, { path: 'read-result', process: pid, slot })
    while (held === 0) await new Promise((resolve) => setImmediate(resolve))
    // The computation is done, its result write is held back: no answer, also to a second reader.
    const again = node.path(`/${pid}~process@1.0/compute&slot=5/count`)
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve))
    expect(answered).toBe(false)
    await expect(cached(5)).rejects.toSatisfy((error) => statusOf(error) === 404)
    release()
    expect((await now)['count']).toBe(5)
    expect(await again).toBe(5)
    expect(await cached(5)).toMatchObject({ count: 5 })
  })

  it('surfaces a failed result write and resumes from what is durable', async () => {
    let failing = false
    const node = await startNode(tempDir(), { snapshotEvery: 0 }, undefined, false, (write) =>
      failing ? Promise.reject(new Error('disk full')) : write(),
    )
    const pid = await spawn(node)
    for (let i = 0; i < 3; i++) await schedule(node, pid, { action: 'Increment', i })
    expect(await node.path(`/${pid}~process@1.0/now/count`)).toBe(3)
    for (let i = 0; i < 4; i++) await schedule(node, pid, { action: 'Increment', i })
    failing = true
    await expect(node.path(`/${pid}~process@1.0/now`)).rejects.toSatisfy(
      (error) =>
        statusOf(error) === 503 &&
        /storing the results of slots 4\.\.7 failed: .*disk full/.test(String(error)),
    )
    // Nothing of the failed run is served from memory as if it were stored.
    await expect(node.path(`/${pid}~process@1.0/compute&slot=7`)).rejects.toSatisfy(
      (error) => statusOf(error) === 503,
    )
    failing = false
    const before = node.computed()
    const now = await node.path(`/${pid}~process@1.0/now`)
    expect(now).toMatchObject({ count: 7, 'at-slot': 7 })
    // A new worker recomputed from the durable start (no snapshot: from init), and stored slot 7.
    expect(node.computed() - before).toBe(8)
    expect(
      await node.resolver.resolve(
        { device: 'cache@1.0' },
        { path: 'read-result', process: pid, slot: 7 },
      ),
    ).toMatchObject({ count: 7 })
  })

  it('serves snapshot and process-id keys', async () => {
    const node = await startNode(tempDir())
    const pid = await spawn(node)
    await schedule(node, pid, { action: 'Increment' })
    expect(await node.path(`/${pid}~process@1.0/process-id`)).toBe(pid)
    const taken = await node.path(`/${pid}~process@1.0/snapshot`)
    expect(taken).toMatchObject({ process: pid, slot: 1, snapshot: { count: 1 } })
  })
})

describe('push@1.0', () => {
  it('schedules outbox messages on local targets, recursively, and answers their slots', async () => {
    const node = await startNode(tempDir())
    const a = await spawn(node, { name: 'a' })
    const b = await spawn(node, { name: 'b' })
    const c = await spawn(node, { name: 'c' })
    const pushed = await node.path(`/${a}~process@1.0/push`, {
      method: 'POST',
      action: 'Send',
      recipient: b,
      'send-action': 'Send',
      'forward-to': c,
    })
    expect(pushed).toMatchObject({
      process: a,
      slot: 1,
      '1': {
        target: b,
        slot: 1,
        'resulted-in': { process: b, slot: 1, '1': { target: c, slot: 1 } },
      },
    })
    expect(await node.path(`/${c}~process@1.0/now/count`)).toBe(1)
    const delivered = await node.path(`/${b}~process@1.0/schedule?from=1&to=1`)
    expect(delivered['assignments']).toMatchObject({
      '1': { body: { 'from-process': a, action: 'Send' } },
    })

    // result-depth 1: B gets the message but does not push on.
    const shallow = await node.path(`/${a}~process@1.0/push`, {
      method: 'POST',
      action: 'Send',
      recipient: b,
      'send-action': 'Send',
      'forward-to': c,
      'result-depth': 1,
    })
    expect(shallow).toMatchObject({ '1': { 'resulted-in': { 'depth-exhausted': true } } })
    expect(await node.path(`/${c}~process@1.0/now/count`)).toBe(1)

    // Pushing a definition spawns it and answers its assignment.
    const spawned = await node.path('/~process@1.0/push', {
      method: 'POST',
      ...definition({ name: 'pushed' }),
    })
    expect(spawned).toMatchObject({ slot: 0, process: id(definition({ name: 'pushed' })) })

    // A target not hosted here is reported, not fatal.
    const missing = await node.path(`/${a}~process@1.0/push`, {
      method: 'POST',
      action: 'Send',
      recipient: 'm'.repeat(43),
    })
    expect(missing['1']).toMatchObject({
      target: 'm'.repeat(43),
      error: expect.any(String) as unknown,
    })
  })
})

describe('metrics', () => {
  it('reports computed slots and live workers through ctx.node.metrics', async () => {
    const counters = new Map<string, number>()
    const gauges = new Map<string, number>()
    const metrics: MetricsHook = {
      count: (name, by = 1) => counters.set(name, (counters.get(name) ?? 0) + by),
      gauge: (name, value) => gauges.set(name, value),
    }
    const node = await startNode(tempDir(), {}, metrics)
    const pid = await spawn(node)
    for (let i = 0; i < 3; i++) await schedule(node, pid, { action: 'Increment' })
    await node.path(`/${pid}~process@1.0/now`)
    expect(node.computed()).toBeGreaterThan(0)
    expect(counters.get('slots_computed_total')).toBe(node.computed())
    expect(gauges.get('active_workers')).toBe(1)
  })
})
