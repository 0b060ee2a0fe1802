/**
 * Shutdown under load: SIGTERM (graceful) and SIGKILL (crash) while schedule requests are in flight.
 * Every acknowledged slot must survive, the schedule must have no gaps, and the next start must
 * compute the same state.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestNode, type TestNode } from './helpers.ts'

const COUNTER = readFileSync(new URL('../fixtures/counter.lua', import.meta.url))
const IN_FLIGHT = 40

let node: TestNode
beforeAll(async () => {
  node = await startTestNode()
})
afterAll(async () => {
  await node.stop()
})

async function post(
  path: string,
  body: string | Uint8Array,
  contentType: string,
): Promise<Record<string, unknown>> {
  const response = await node.request(path, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  })
  expect(response.status).toBe(200)
  return (await response.json()) as Record<string, unknown>
}

/** A fresh counter process (`name` keeps definitions, and so process IDs, distinct). */
async function spawnCounter(name: string): Promise<string> {
  const { id } = await post('/~cache@1.0/write', COUNTER, 'application/lua')
  const address = await (await node.request('/~meta@1.0/info/address')).text()
  const assignment = await post(
    '/~process@1.0/schedule',
    JSON.stringify({
      type: 'Process',
      device: 'process@1.0',
      'scheduler-device': 'scheduler@1.0',
      'execution-device': 'lua@5.3a',
      scheduler: address,
      module: id,
      name,
    }),
    'application/json',
  )
  return assignment['process'] as string
}

/** Fires `IN_FLIGHT` increments at once, signals the node after the first answer, sorts out the rest. */
async function incrementsDuring(pid: string, signal: NodeJS.Signals) {
  const requests = Array.from({ length: IN_FLIGHT }, () =>
    node
      .request(`/${pid}~process@1.0/schedule`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"Action": "Increment"}',
      })
      .then(async (response) => ({
        status: response.status,
        body: (await response.json()) as Record<string, unknown>,
      })),
  )
  const outcomes = Promise.allSettled(requests)
  await Promise.race(requests) // the load is under way: at least one answer, the rest in flight
  const exit = await node.kill(signal)
  const settled = await outcomes
  const acknowledged: number[] = []
  for (const outcome of settled) {
    if (outcome.status === 'rejected') continue // connection cut: the client knows it failed
    if (outcome.value.status === 200) acknowledged.push(outcome.value.body['slot'] as number)
    else expect(outcome.value.status).toBe(503) // refused cleanly while shutting down
  }
  return { exit, acknowledged }
}

async function checkRecovered(pid: string, acknowledged: readonly number[]): Promise<void> {
  await node.restart()
  const schedule = (await (
    await node.request(`/~scheduler@1.0/schedule?target=${pid}`)
  ).json()) as {
    assignments: Record<string, unknown>
  }
  const slots = Object.keys(schedule.assignments).map(Number)
  expect(slots).toEqual(slots.map((_, i) => i)) // 0..n without gaps
  for (const slot of acknowledged) expect(slots).toContain(slot)
  const count = await (await node.request(`/${pid}~process@1.0/now/results/count`)).text()
  expect(Number(count)).toBe(slots.length - 1) // every scheduled Increment counted once
}

describe('shutdown under load', () => {
  it('SIGTERM: in-flight schedules complete and persist or fail cleanly; the next start serves the same state', async () => {
    const pid = await spawnCounter('graceful')
    const { exit, acknowledged } = await incrementsDuring(pid, 'SIGTERM')
    expect(exit).toBe(0)
    expect(acknowledged.length).toBeGreaterThan(0)
    await checkRecovered(pid, acknowledged)
  })

  it('SIGKILL: every acknowledged slot survives a crash', async () => {
    const pid = await spawnCounter('crash')
    const { acknowledged } = await incrementsDuring(pid, 'SIGKILL')
    expect(acknowledged.length).toBeGreaterThan(0)
    await checkRecovered(pid, acknowledged)
  })
})
