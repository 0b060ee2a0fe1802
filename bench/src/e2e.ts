/**
 * End-to-end figures against a real node started as a child process on loopback.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { figure, measure, median, percentile, type Figure } from '@aonode/benchkit'
import { startChild, type ChildServer } from './child.ts'
import { createClient, runLoad, sendMany, type Client } from './load.ts'
import {
  nodeInfo,
  nowSlot,
  schedule,
  schedulePath,
  spawnProcess,
  type NodeInfo,
} from './node-client.ts'
import type { BenchFigure, Missing } from './summary.ts'
import { openInProcess } from './in-process.ts'
import { MissingCode, TARGETS, type ExecTarget } from './targets.ts'

export interface Settings {
  /** Measured runs per figure (after one warm-up run). */
  readonly runs: number
  /** Length of one load run in milliseconds. */
  readonly runMs: number
  /** Slot counts of the restart benchmark (the largest one also gives the growth figures). */
  readonly restartSlots: readonly number[]
}

/** What the sections share: the settings, and the figures and gaps found so far. */
export interface Session {
  readonly settings: Settings
  readonly figures: BenchFigure[]
  readonly missing: Missing[]
  log(line: string): void
}

export const CLIENT_COUNTS = [1, 16, 64] as const

const script = (name: string): string => new URL(name, import.meta.url).pathname

/**
 * The node:http hello-world ceiling, kept running while the HTTP figures are measured: each of
 * their runs is paired with a ceiling run just before it, so a figure's fraction of the ceiling is
 * the median of per-run ratios, which drifts less than the raw numbers on a shared machine.
 */
export interface Ceiling {
  /** Requests/s of the hello-world server in one run at this concurrency. */
  run(concurrency: number): Promise<number>
  /**
   * Latencies (ms) of one client of the hello-world server while `background` other clients load
   * it: what the machine and the load generator alone add to a latency under load.
   */
  latenciesUnderLoad(background: number): Promise<number[]>
  /** The measured (not warm-up) ceiling runs paired so far, by concurrency. */
  readonly paired: ReadonlyMap<number, readonly number[]>
  /** Measures `once` like benchkit's `measure`, adding `ofCeiling` from paired runs. */
  measure(
    name: string,
    unit: string,
    concurrency: number,
    once: () => Promise<number>,
    goal?: Figure['goal'],
  ): Promise<BenchFigure>
  close(): Promise<void>
}

export async function startCeiling(session: Session): Promise<Ceiling> {
  const server = await startChild(script('hello-server.ts'))
  const client = createClient(server.url)
  const run = async (concurrency: number): Promise<number> =>
    (
      await runLoad(client, {
        method: 'GET',
        path: () => '/',
        concurrency,
        durationMs: session.settings.runMs,
      })
    ).perSecond
  const paired = new Map<number, number[]>()
  const latenciesUnderLoad = async (background: number): Promise<number[]> => {
    const load = runLoad(client, {
      method: 'GET',
      path: () => '/',
      concurrency: background,
      durationMs: session.settings.runMs,
    })
    const measured = await runLoad(client, {
      method: 'GET',
      path: () => '/',
      concurrency: 1,
      durationMs: session.settings.runMs,
    })
    await load
    return Array.from(measured.latenciesMs)
  }
  return {
    run,
    latenciesUnderLoad,
    paired,
    async measure(name, unit, concurrency, once, goal) {
      const values: number[] = []
      const ratios: number[] = []
      for (let i = 0; i <= session.settings.runs; i++) {
        const ceiling = await run(concurrency)
        const value = await once()
        if (i === 0) continue // warm-up
        values.push(value)
        ratios.push(value / ceiling)
        paired.set(concurrency, [...(paired.get(concurrency) ?? []), ceiling])
      }
      return { ...figure(name, unit, values, goal), ofCeiling: median(ratios) }
    },
    async close() {
      client.close()
      await server.stop()
    },
  }
}

/**
 * The ceiling figures (listed first): from the runs paired with the schedule figures, or measured
 * alone when schedule did not run.
 */
export async function ceilingSection(session: Session, ceiling: Ceiling): Promise<void> {
  const figures: BenchFigure[] = []
  for (const concurrency of CLIENT_COUNTS) {
    const name = `node:http hello-world, ${concurrency} clients`
    const paired = ceiling.paired.get(concurrency) ?? []
    const f =
      paired.length >= session.settings.runs
        ? figure(name, 'req/s', paired)
        : await measure(name, 'req/s', () => ceiling.run(concurrency), {
            runs: session.settings.runs,
          })
    figures.push({ ...f, ofCeiling: 1 })
    session.log(`  ${f.name}: ${Math.round(f.median)} req/s`)
  }
  session.figures.unshift(...figures)
}

/** A node under test on a data directory of its own (or a given one, to restart on it). */
export interface RunningNode {
  readonly server: ChildServer
  readonly client: Client
  readonly info: NodeInfo
  readonly dataDir: string
  stop(): Promise<void>
}

export async function startBenchNode(dataDir: string): Promise<RunningNode> {
  const server = await startChild(script('node-server.ts'), [], {
    AONODE_PORT: '0',
    AONODE_DATA: dataDir,
    AONODE_LOG_LEVEL: 'warn',
  })
  const client = createClient(server.url)
  try {
    const info = await nodeInfo(client)
    return {
      server,
      client,
      info,
      dataDir,
      async stop() {
        client.close()
        await server.stop()
      },
    }
  } catch (error) {
    client.close()
    await server.stop()
    throw error
  }
}

export const tempDataDir = (): string => mkdtempSync(join(tmpdir(), 'aonode-bench-'))

/** Spawns a process of `target`, or explains why it cannot (device or code not there yet). */
async function spawnTarget(
  node: { readonly client: Client; readonly info: NodeInfo },
  target: ExecTarget,
): Promise<{ pid: string } | { why: string }> {
  if (!Object.keys(node.info.devices).some((name) => name.toLowerCase() === target.device))
    return { why: `${target.device} is not loaded in the node` }
  try {
    const definition = await target.definition(node.client)
    const pid = await spawnProcess(node.client, node.info.address, definition)
    for (const message of target.setup ?? []) await schedule(node.client, pid, message)
    return { pid }
  } catch (error) {
    if (error instanceof MissingCode) return { why: error.message }
    return { why: `spawn failed: ${(error as Error).message.slice(0, 200)}` }
  }
}

/** The first target the node can run (schedule and `now` benches do not depend on which). */
async function anyProcess(node: RunningNode): Promise<{ pid: string; target: ExecTarget }> {
  const reasons: string[] = []
  for (const target of TARGETS) {
    const spawned = await spawnTarget(node, target)
    if ('pid' in spawned) return { pid: spawned.pid, target }
    reasons.push(`${target.name}: ${spawned.why}`)
  }
  throw new Error(`no execution device works in the node: ${reasons.join('; ')}`)
}

let sent = 0
/** A message of `target` that differs from every other one sent in this run. */
const uniqueMessage = (target: ExecTarget): Record<string, unknown> => ({
  ...target.message(sent),
  'bench-seq': sent++,
})

export async function scheduleSection(
  session: Session,
  node: RunningNode,
  ceiling: Ceiling,
): Promise<void> {
  const { pid, target } = await anyProcess(node)
  for (const concurrency of CLIENT_COUNTS) {
    const f = await ceiling.measure(
      `schedule over HTTP, ${concurrency} clients`,
      'msg/s',
      concurrency,
      async () =>
        (
          await runLoad(node.client, {
            method: 'POST',
            path: () => schedulePath(pid),
            body: () => uniqueMessage(target),
            concurrency,
            durationMs: session.settings.runMs,
          })
        ).perSecond,
      concurrency === 64 ? { op: '>=', value: 8_000, issue: 4 } : undefined,
    )
    session.figures.push(f)
    session.log(`  ${f.name}: ${Math.round(f.median)} msg/s`)
  }
}

/**
 * `now` latency on a warm process: alone, and with 16 other clients scheduling to another process
 * at the same time (the load a busy node sees). Beside it, the hello-world server's p99 with 16
 * other clients: the part of a latency under load that the shared machine and client add.
 */
export async function nowSection(
  session: Session,
  node: RunningNode,
  ceiling: Ceiling,
): Promise<void> {
  const warm = await anyProcess(node)
  const busy = await anyProcess(node)
  await sendMany(100, 16, () => schedule(node.client, warm.pid, uniqueMessage(warm.target)))
  await nowSlot(node.client, warm.pid)
  const nowLatencies = async (): Promise<Float64Array> =>
    (
      await runLoad(node.client, {
        method: 'GET',
        path: () => `/${warm.pid}~process@1.0/now`,
        concurrency: 1,
        durationMs: session.settings.runMs,
      })
    ).latenciesMs
  for (const loaded of [false, true]) {
    const p50: number[] = []
    const p99: number[] = []
    for (let run = 0; run <= session.settings.runs; run++) {
      const background = loaded
        ? runLoad(node.client, {
            method: 'POST',
            path: () => schedulePath(busy.pid),
            body: () => uniqueMessage(busy.target),
            concurrency: 16,
            durationMs: session.settings.runMs,
          })
        : Promise.resolve()
      const latencies = Array.from(await nowLatencies())
      await background
      if (run === 0) continue // warm-up
      p50.push(percentile(latencies, 50))
      p99.push(percentile(latencies, 99))
    }
    const label = loaded ? 'under load (16 clients scheduling)' : 'idle'
    if (loaded) {
      const helloP99: number[] = []
      for (let run = 0; run <= session.settings.runs; run++) {
        const latencies = await ceiling.latenciesUnderLoad(16)
        if (run > 0) helloP99.push(percentile(latencies, 99))
      }
      session.figures.push(
        figure('node:http hello-world latency p99, 1 client beside 16 others', 'ms', helloP99),
      )
    }
    session.figures.push(figure(`now latency p50 ${label}`, 'ms', p50))
    session.figures.push(
      figure(
        `now latency p99 ${label}`,
        'ms',
        p99,
        loaded ? { op: '<=', value: 2, issue: 4 } : undefined,
      ),
    )
    session.log(`  now latency ${label}: p50 ${p50.join(', ')} / p99 ${p99.join(', ')}`)
  }
}

/**
 * Messages computed per second per execution device: schedule a batch, then time the `now` that
 * computes it. The batch size follows the device's speed so each computation lasts about 0.3 s.
 */
export async function computeSection(session: Session, node: RunningNode): Promise<void> {
  const { server } = node
  for (const target of TARGETS) {
    const name = `compute over HTTP: ${target.name}`
    const spawned = await spawnTarget(node, target)
    if ('why' in spawned) {
      session.missing.push({ package: 'e2e', name, why: spawned.why })
      continue
    }
    const { pid } = spawned
    const batch = async (count: number): Promise<number> => {
      await sendMany(count, 64, () => schedule(node.client, pid, uniqueMessage(target)))
      const start = performance.now()
      await nowSlot(node.client, pid)
      return performance.now() - start
    }
    try {
      await batch(10) // boots the process
      const probeMs = await batch(50)
      const size = Math.max(20, Math.min(2_000, Math.round((50 * 300) / Math.max(probeMs, 1))))
      const f = await measure(name, 'msg/s', async () => (size * 1000) / (await batch(size)), {
        runs: session.settings.runs,
        warmup: 0,
      })
      // Fast failures are not throughput: the last slot must have computed without an error.
      const results = await node.client.json('GET', `/${pid}~process@1.0/now/results`)
      if (typeof results === 'object' && results !== null && 'error' in results)
        throw new Error(`its slots fail: ${String(results.error).slice(0, 150)}`)
      session.figures.push(f)
      session.log(`  ${name}: ${Math.round(f.median)} msg/s (batches of ${size})`)
    } catch (error) {
      const node = server.stderrTail().trim().split('\n').at(-1) ?? ''
      const why = `${(error as Error).message.slice(0, 200)}${node === '' ? '' : ` (node: ${node})`}`
      session.missing.push({ package: 'e2e', name, why })
    }
  }
}

/**
 * RSS per idle live process for the Lua and WASM targets: each target on a fresh node, spawning a
 * few processes per run (each computes one message, so its live worker stays in memory) and
 * dividing the growth of the node's RSS. Stays below process@1.0's default cap of 64 live workers.
 */
export async function memorySection(session: Session): Promise<void> {
  for (const target of TARGETS.filter((t) => t.name !== 'test-exec')) {
    const name = `RSS per idle live process: ${target.name}`
    const perRun = target.name.startsWith('aos') ? 2 : 5
    const dataDir = tempDataDir()
    const node = await startBenchNode(dataDir)
    try {
      const runs: number[] = []
      for (let run = 0; run <= session.settings.runs; run++) {
        const before = node.server.rssBytes()
        for (let i = 0; i < perRun; i++) {
          const spawned = await spawnTarget(node, target)
          if ('why' in spawned) throw new MissingCode(spawned.why)
          await schedule(node.client, spawned.pid, uniqueMessage(target))
          await nowSlot(node.client, spawned.pid)
        }
        await new Promise((resolve) => setTimeout(resolve, 200))
        if (run > 0) runs.push((node.server.rssBytes() - before) / perRun / 2 ** 20)
      }
      const f = figure(name, 'MB', runs)
      session.figures.push(f)
      session.log(`  ${name}: ${f.median.toFixed(2)} MB`)
    } catch (error) {
      session.missing.push({ package: 'e2e', name, why: (error as Error).message.slice(0, 200) })
    } finally {
      await node.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

/**
 * Restart-to-`now` for processes of 1,000 / 10,000 / 100,000 slots (test-exec), and how the cost
 * per message changes as a process grows from 1,000 to 100,000 slots. The slots are scheduled and
 * computed in bulk by the same node in this process (no sockets); the measurements are over HTTP
 * against the node under test started on that data directory. Each restart stops the node with
 * SIGTERM (it snapshots its live processes) and times the first `now` of each process.
 */
export async function restartSection(session: Session): Promise<void> {
  const target = TARGETS[0] as ExecTarget
  const sizes = session.settings.restartSlots
  const largest = Math.max(...sizes)
  const growthFrom = Math.min(1_000, ...sizes)
  const dataDir = tempDataDir()
  const pids = new Map<number, string>()
  const fill = async (client: Client, pid: string, upTo: number): Promise<void> => {
    const current = await nowSlot(client, pid)
    await sendMany(upTo - current, 64, () => schedule(client, pid, uniqueMessage(target)))
    await nowSlot(client, pid)
  }
  let node: RunningNode | undefined
  try {
    const started = performance.now()
    const bulk = await openInProcess(dataDir)
    let small: string
    try {
      const at = { client: bulk.client, info: bulk.node.info }
      const spawn = async (): Promise<string> => {
        const spawned = await spawnTarget(at, target)
        if ('why' in spawned) throw new Error(spawned.why)
        return spawned.pid
      }
      for (const size of sizes) {
        pids.set(size, await spawn())
        await fill(bulk.client, pids.get(size) as string, size)
      }
      small = await spawn()
      await fill(bulk.client, small, growthFrom)
    } finally {
      await bulk.node.close()
    }
    session.log(`  built in bulk in ${Math.round(performance.now() - started)} ms`)
    node = await startBenchNode(dataDir)
    await growth(session, node, target, [
      { pid: small, at: growthFrom },
      { pid: pids.get(largest) as string, at: largest },
    ])

    const slots = new Map<number, number>()
    for (const size of sizes) slots.set(size, await nowSlot(node.client, pids.get(size) as string))
    const restart: Record<number, number[]> = {}
    const boot: number[] = []
    for (let run = 0; run <= session.settings.runs; run++) {
      await node.stop()
      node = await startBenchNode(dataDir)
      if (run > 0) boot.push(node.server.startMs)
      // Rotate the order so no size always pays for the first request on a cold node.
      const order = sizes.map((_, i) => sizes[(i + run) % sizes.length] as number)
      for (const size of order) {
        const start = performance.now()
        const slot = await nowSlot(node.client, pids.get(size) as string)
        if (run > 0) (restart[size] ??= []).push(performance.now() - start)
        if (slot !== slots.get(size))
          throw new Error(`after a restart, now is at slot ${slot}, not ${slots.get(size)}`)
      }
    }
    session.figures.push(figure('node start to listening', 'ms', boot))
    for (const size of sizes) {
      session.figures.push(
        figure(
          `restart-to-now, ${size.toLocaleString('en-US')} slots`,
          'ms',
          restart[size] ?? [],
          size === 100_000 ? { op: '<=', value: 500, issue: 4 } : undefined,
        ),
      )
    }
    session.log(`  restart-to-now: ${JSON.stringify(restart)}`)
  } finally {
    await node?.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

/**
 * The same 500-message batch scheduled (16 clients) and computed on a small and a large process of
 * the same node, alternating run by run so load on the machine falls on both alike.
 */
async function growth(
  session: Session,
  node: RunningNode,
  target: ExecTarget,
  processes: readonly { readonly pid: string; readonly at: number }[],
): Promise<void> {
  const batch = 500
  const scheduleCost = processes.map((): number[] => [])
  const computeCost = processes.map((): number[] => [])
  for (let run = 0; run <= session.settings.runs; run++) {
    for (const [i, { pid }] of processes.entries()) {
      let start = performance.now()
      await sendMany(batch, 16, () => schedule(node.client, pid, uniqueMessage(target)))
      const scheduled = performance.now() - start
      start = performance.now()
      await nowSlot(node.client, pid)
      const computed = performance.now() - start
      if (run === 0) continue // warm-up (also restores the process after the bulk build)
      scheduleCost[i]?.push((scheduled * 1000) / batch)
      computeCost[i]?.push((computed * 1000) / batch)
    }
  }
  for (const [i, { at }] of processes.entries()) {
    const slots = at.toLocaleString('en-US')
    session.figures.push(
      figure(`schedule cost per message at ${slots} slots`, 'µs', scheduleCost[i] ?? []),
    )
    session.figures.push(
      figure(`compute cost per message at ${slots} slots`, 'µs', computeCost[i] ?? []),
    )
  }
}
