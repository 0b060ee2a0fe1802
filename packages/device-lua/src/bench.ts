/**
 * Messages/s computed by lua@5.3a through the resolver: assignments are built beforehand (already
 * scheduled), each slot goes through `compute` as process@1.0 calls it, and the state it returns is
 * the next slot's base. Goals from issue 6. Each rate is given per wall-clock second and per second
 * of this process's CPU time: on a shared, oversubscribed machine the second is the steadier one.
 */
import { figure, measure, perSecond, report } from '@aonode/benchkit'
import { isMessage, type Message, type Resolver } from '@aonode/core'
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

const resolver = luaResolver()

async function spawn(module: string): Promise<Message> {
  const state = await resolver.resolve(initialState(definition(module)), { path: 'init' })
  if (!isMessage(state)) throw new Error('init failed')
  return state
}

/** Computes `bodies` as slots `from..`, returning the final state and the slots/s. */
async function run(
  r: Resolver,
  start: Message,
  from: number,
  bodies: readonly Message[],
): Promise<{ state: Message; rate: number; cpuRate: number }> {
  const reqs = bodies.map((body, i) => ({ ...assignment(from + i, body), path: 'compute' }))
  let state = start
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (const req of reqs) {
    const input: Record<string, Message[keyof Message]> = { ...state, device: 'lua@5.3a' }
    delete input['results']
    const out = await r.resolve(input, req)
    if (!isMessage(out)) throw new Error('compute failed')
    state = out
  }
  const wall = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  return {
    state,
    rate: perSecond(reqs.length, wall),
    cpuRate: perSecond(reqs.length, (cpu.user + cpu.system) / 1000),
  }
}

const COUNTER_MESSAGES = 20_000
let counter = await spawn(COUNTER)
let counterSlot = 0
const counterCpu: number[] = []
const counterFigure = await measure(
  'pure-Lua counter: messages/s computed (wall)',
  'msg/s',
  async () => {
    const bodies = Array.from({ length: COUNTER_MESSAGES }, () => ({ action: 'Add', amount: '2' }))
    const { state, rate, cpuRate } = await run(resolver, counter, counterSlot, bodies)
    counter = state
    counterSlot += COUNTER_MESSAGES
    counterCpu.push(cpuRate)
    return rate
  },
  { runs: 5, warmup: 1, goal: { op: '>=', value: 30_000, issue: 6 } },
)

const PING = `Handlers.add('ping', 'Ping', function(msg)
  Pings = (Pings or 0) + 1
  msg.reply({ action = 'Pong', data = tostring(Pings) })
end)
return 'ok'`
const AOS_MESSAGES = 4_000
let aos = (
  await run(resolver, await spawn(HYPER_AOS), 0, [signed(OWNER, { action: 'Eval', data: PING })])
).state
let aosSlot = 1
const aosCpu: number[] = []
const aosFigure = await measure(
  'hyper-aos handler (Ping -> reply): messages/s computed (wall)',
  'msg/s',
  async () => {
    const bodies = Array.from({ length: AOS_MESSAGES }, (_, i) =>
      signed(OWNER, { action: 'Ping', data: String(i) }, `ping-${aosSlot + i}`),
    )
    const { state, rate, cpuRate } = await run(resolver, aos, aosSlot, bodies)
    aos = state
    aosSlot += AOS_MESSAGES
    aosCpu.push(cpuRate)
    return rate
  },
  { runs: 5, warmup: 1, goal: { op: '>=', value: 8_000, issue: 6 } },
)

const snapshotFigure = await measure(
  'hyper-aos snapshot (heap pages, compressed)',
  'ms',
  async () => {
    const t0 = performance.now()
    await resolver.resolve({ ...aos, device: 'lua@5.3a' }, { path: 'snapshot' })
    return performance.now() - t0
  },
  { runs: 5 },
)

report('device-lua', [
  counterFigure,
  figure('pure-Lua counter: messages per CPU-second', 'msg/s', counterCpu.slice(1), {
    op: '>=',
    value: 30_000,
    issue: 6,
  }),
  aosFigure,
  figure('hyper-aos handler: messages per CPU-second', 'msg/s', aosCpu.slice(1), {
    op: '>=',
    value: 8_000,
    issue: 6,
  }),
  snapshotFigure,
])
