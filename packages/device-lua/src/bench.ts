/**
 * Issue 6: messages/s computed by lua@5.3a, for a pure-Lua counter and a hyper-aos handler.
 *
 * Main figures (the goals): messages already scheduled, results cached. An in-process node (cache@1.0
 * on real LMDB, scheduler@1.0, process@1.0 with its default options, lua@5.3a) has a backlog
 * scheduled, then one `now` computes it; the time runs until the last slot's result is durable. That
 * includes process@1.0's work, the result writes and the snapshots it takes every 100 slots.
 *
 * Secondary figures: lua@5.3a alone through the resolver, results not stored: `compute` slot after
 * slot, and `compute-batch` of 100 (how process@1.0 computes a backlog). Rates are per wall-clock
 * second; the per-CPU-second ones are steadier on a shared, oversubscribed machine.
 */
import { figure, measure, perSecond, report, type Figure } from '@aonode/benchkit'
import { isMessage, type Message, type Value } from '@aonode/core'
import {
  COUNTER,
  HYPER_AOS,
  OWNER,
  assignment,
  definition,
  initialState,
  luaResolver,
  signed,
} from './test-support/fixtures.ts'
import { openBenchNode } from './test-support/node.ts'

const COUNTER_GOAL = { op: '>=', value: 30_000, issue: 6 } as const
const AOS_GOAL = { op: '>=', value: 8_000, issue: 6 } as const

const PING = `Handlers.add('ping', 'Ping', function(msg)
  Pings = (Pings or 0) + 1
  msg.reply({ action = 'Pong', data = tostring(Pings) })
end)
return 'ok'`

const counterBody = (): Message => ({ action: 'Add', amount: '2' })
const pingBody = (n: number): Message =>
  signed(OWNER, { action: 'Ping', data: String(n) }, `ping-${n}`)

const cpuMs = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since)
  return (used.user + used.system) / 1000
}

const figures: Figure[] = []

// ---- through the node: scheduled backlog, results cached in LMDB ----

const node = await openBenchNode()
try {
  async function throughNode(
    label: string,
    module: string,
    setup: readonly Message[],
    body: (n: number) => Message,
    messages: number,
    goal: Figure['goal'],
  ): Promise<void> {
    const pid = await node.spawn(definition(module))
    if (setup.length > 0) {
      await node.schedule(pid, setup)
      await node.timeNow(pid)
    }
    let sent = 0
    const cpu: number[] = []
    figures.push(
      await measure(
        `${label}: messages/s computed through process@1.0, results cached (LMDB)`,
        'msg/s',
        async () => {
          await node.schedule(
            pid,
            Array.from({ length: messages }, () => body(sent++)),
          )
          const cpu0 = process.cpuUsage()
          const { ms, state } = await node.timeNow(pid)
          const results = state['results']
          if (isMessage(results) && results['error'] !== undefined) {
            throw new Error(`${label}: the last slot failed: ${JSON.stringify(results['error'])}`)
          }
          cpu.push(perSecond(messages, cpuMs(cpu0)))
          return perSecond(messages, ms)
        },
        { runs: 5, warmup: 1, goal },
      ),
    )
    figures.push(figure(`${label}: the same, per CPU-second`, 'msg/s', cpu.slice(1)))
  }

  await throughNode('pure-Lua counter', COUNTER, [], counterBody, 10_000, COUNTER_GOAL)
  await throughNode(
    'hyper-aos handler (Ping -> reply)',
    HYPER_AOS,
    [signed(OWNER, { action: 'Eval', data: PING }, 'eval-ping')],
    pingBody,
    3_000,
    AOS_GOAL,
  )
} finally {
  await node.close()
}

// ---- lua@5.3a alone: compute and compute-batch through the resolver, results not stored ----

const resolver = luaResolver()
const BATCH = 100

/** process@1.0's input for the next slot: the state on lua@5.3a, without its results. */
function inputOf(state: Message, atSlot: number): Message {
  const input: Record<string, Value> = { ...state, device: 'lua@5.3a', 'at-slot': atSlot }
  delete input['results']
  return input
}

async function spawn(module: string, setup: readonly Message[]): Promise<Message> {
  let state = await resolver.resolve(initialState(definition(module)), { path: 'init' })
  for (const [slot, body] of setup.entries()) {
    if (!isMessage(state)) break
    state = await resolver.resolve(inputOf(state, slot - 1), {
      ...assignment(slot, body),
      path: 'compute',
    })
  }
  if (!isMessage(state)) throw new Error('spawn failed')
  return state
}

/** Computes `messages` slots from `state` by `compute` (batch 1) or `compute-batch`. */
async function deviceRun(
  start: Message,
  from: number,
  bodies: readonly Message[],
  batch: number,
): Promise<{ state: Message; rate: number; cpuRate: number }> {
  const assignments = bodies.map((body, i) => assignment(from + i, body))
  let state = start
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < assignments.length; i += batch) {
    const run = assignments.slice(i, i + batch)
    const input = inputOf(state, from + i - 1)
    const out =
      batch === 1
        ? await resolver.resolve(input, { ...(run[0] as Message), path: 'compute' })
        : await resolver.resolve(input, { path: 'compute-batch', assignments: run })
    const next = batch === 1 ? out : isMessage(out) ? (out['outcomes'] as Message[]).at(-1) : out
    const computed = batch === 1 ? next : isMessage(next) ? next['state'] : undefined
    if (!isMessage(computed)) throw new Error('compute failed')
    state = computed
  }
  const wall = performance.now() - t0
  return {
    state,
    rate: perSecond(assignments.length, wall),
    cpuRate: perSecond(assignments.length, cpuMs(cpu0)),
  }
}

async function deviceFigures(
  label: string,
  module: string,
  setup: readonly Message[],
  body: (n: number) => Message,
  messages: number,
): Promise<Message> {
  let state: Message = await spawn(module, setup)
  let slot = setup.length
  for (const batch of [1, BATCH]) {
    const cpu: number[] = []
    const how = batch === 1 ? 'compute slot by slot' : `compute-batch of ${BATCH}`
    figures.push(
      await measure(
        `${label}: lua@5.3a alone, ${how} (results not stored)`,
        'msg/s',
        async () => {
          const bodies = Array.from({ length: messages }, (_, i) => body(slot + i))
          const run = await deviceRun(state, slot, bodies, batch)
          state = run.state
          slot += messages
          cpu.push(run.cpuRate)
          return run.rate
        },
        { runs: 5, warmup: 1 },
      ),
    )
    figures.push(figure(`${label}: the same, per CPU-second`, 'msg/s', cpu.slice(1)))
  }
  return state
}

await deviceFigures('pure-Lua counter', COUNTER, [], counterBody, 20_000)
const aos = await deviceFigures(
  'hyper-aos handler',
  HYPER_AOS,
  [signed(OWNER, { action: 'Eval', data: PING }, 'eval-ping')],
  pingBody,
  4_000,
)

figures.push(
  await measure(
    'hyper-aos snapshot (non-zero heap pages, brotli)',
    'ms',
    async () => {
      const t0 = performance.now()
      await resolver.resolve({ ...aos, device: 'lua@5.3a' }, { path: 'snapshot' })
      return performance.now() - t0
    },
    { runs: 5 },
  ),
)

report('device-lua', figures)
