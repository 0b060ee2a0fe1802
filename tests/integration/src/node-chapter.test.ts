/**
 * The chapter's flow ("AO Processes", the shared counter) against a real node, with the Lua counter
 * and the WASM counter (examples/counter-as): spawn with the CLI, then the chapter's HTTP calls
 * verbatim (POST …/schedule with a JSON body, GET …/now), a restart, and the CLI's send/now/schedule.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestNode, type TestNode } from './helpers.ts'

const run = promisify(execFile)
const CLI = fileURLToPath(new URL('../../../apps/node/src/cli.ts', import.meta.url))
/** Each counter, how to spawn it, and where its state keeps the count. */
const COUNTERS = [
  {
    name: 'Lua (lua@5.3a)',
    spawn: ['--lua', fileURLToPath(new URL('../fixtures/counter.lua', import.meta.url))],
    countPath: 'results/count',
    results: (n: number) => ({ output: { body: String(n) }, count: n }),
  },
  {
    name: 'WASM (wasm64@1.0)',
    spawn: [
      '--wasm',
      fileURLToPath(new URL('../../../examples/counter-as/build/counter.wasm', import.meta.url)),
    ],
    countPath: 'results/output/count',
    results: (n: number) => ({ output: { count: n } }),
  },
]
const ID = /^[A-Za-z0-9_-]{43}$/

let node: TestNode
beforeAll(async () => {
  node = await startTestNode()
})
afterAll(async () => {
  await node.stop()
})

async function aonode(...args: string[]): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    ['--conditions=source', CLI, ...args, '--url', node.url],
    {
      timeout: 30_000,
    },
  )
  return stdout.trim()
}

/** The chapter's `curl -X POST -H "Content-Type: application/json" -d '{"Action": "Increment"}' …`. */
async function increment(pid: string): Promise<Record<string, unknown>> {
  const response = await node.request(`/${pid}~process@1.0/schedule`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{"Action": "Increment"}',
  })
  expect(response.status).toBe(200)
  return (await response.json()) as Record<string, unknown>
}

async function count(pid: string, countPath: string): Promise<string> {
  const response = await node.request(`/${pid}~process@1.0/now/${countPath}`)
  expect(response.status).toBe(200)
  return response.text()
}

describe("the README's quickstart", () => {
  it('spawns the example counter with curl and runs the chapter commands against it', async () => {
    const definition = readFileSync(
      new URL('../../../apps/node/examples/counter-process.json', import.meta.url),
    )
    const spawned = await node.request('/~process@1.0/schedule/process', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: definition,
    })
    expect(spawned.status).toBe(200)
    const pid = await spawned.text()
    expect(pid).toMatch(ID)
    expect((await increment(pid))['slot']).toBe(1)
    expect((await increment(pid))['slot']).toBe(2)
    const now = await node.request(`/${pid}~process@1.0/now`)
    expect(((await now.json()) as Record<string, unknown>)['results']).toEqual({ count: 2 })
    expect(await count(pid, 'results/count')).toBe('2')
  })
})

describe.each(COUNTERS)('the chapter: a shared counter process in $name', (counter) => {
  let pid: string

  it('spawns the counter with `aonode spawn`', async () => {
    pid = await aonode('spawn', ...counter.spawn)
    expect(pid).toMatch(ID)
  })

  it("schedules Increment messages with the chapter's curl call, slot after slot", async () => {
    const slots: unknown[] = []
    for (let i = 0; i < 3; i++) {
      const assignment = await increment(pid)
      expect(assignment['process']).toBe(pid)
      expect((assignment['body'] as Record<string, unknown>)['action']).toBe('Increment')
      slots.push(assignment['slot'])
    }
    expect(slots).toEqual([1, 2, 3])
  })

  it('reads the current count with GET …/now', async () => {
    const response = await node.request(`/${pid}~process@1.0/now`)
    expect(response.status).toBe(200)
    const state = (await response.json()) as Record<string, unknown>
    expect(state['at-slot']).toBe(3)
    expect(state['results']).toEqual(counter.results(3))
    expect(await count(pid, counter.countPath)).toBe('3')
  })

  it('keeps the process and its state across a restart', async () => {
    await node.restart()
    expect(await count(pid, counter.countPath)).toBe('3')
    expect((await increment(pid))['slot']).toBe(4)
    expect(await count(pid, counter.countPath)).toBe('4')
  })

  it('sends, reads and lists with the CLI', async () => {
    const sent = JSON.parse(await aonode('send', pid, 'Action=Increment')) as Record<
      string,
      unknown
    >
    expect(sent['slot']).toBe(5)
    expect(await aonode('now', pid, counter.countPath)).toBe('5')
    const schedule = JSON.parse(await aonode('schedule', pid)) as Record<string, unknown>
    expect(Object.keys(schedule['assignments'] as object)).toEqual(['0', '1', '2', '3', '4', '5'])
  })

  it('reports scheduled slots in the metrics', async () => {
    const text = await (await node.request('/~meta@1.0/metrics')).text()
    expect(text).toMatch(/aonode_slots_scheduled_total [1-9]/)
  })
})
