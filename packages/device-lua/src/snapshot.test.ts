import { DeviceError, decodeMessage, encodeMessage, isMessage, type Message } from '@aonode/core'
import { brotliDecompressSync, deflateRawSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { assignment, definition, initialState, luaResolver } from './test-support/fixtures.ts'

const resolver = luaResolver()

/** Keeps a growing table of strings; `Check` answers a digest of everything kept so far. */
const HOARDER = `
Kept = Kept or {}
function compute(base, req)
  local body = req.body
  if body.action == 'Grow' then
    for i = 1, body.count do Kept[#Kept + 1] = string.rep(string.char(65 + i % 26), 200) .. i end
  end
  local sum = 0
  for i = 1, #Kept, 97 do sum = (sum + #Kept[i] * i) % 1000000007 end
  base.results = { output = { kept = #Kept, digest = sum, random = math.random(1, 1e9) } }
  return base
end`

async function call(base: Message, req: Message): Promise<Message> {
  const out = await resolver.resolve({ ...base, device: 'lua@5.3a' }, req)
  if (!isMessage(out)) throw new Error('the call answered a non-message')
  return out
}

const compute = (state: Message, slot: number, body: Message): Promise<Message> =>
  call(state, { ...assignment(slot, body), path: 'compute' })

async function restore(state: Message, snapshot: Message): Promise<Message> {
  const plain: Record<string, Message[keyof Message]> = { ...state, snapshot }
  delete plain['priv']
  return call(plain, { path: 'normalize' })
}

describe('lua@5.3a snapshots', () => {
  it('restores a heap that grew past the initial WASM memory', async () => {
    let live = await call(initialState(definition(HOARDER)), { path: 'init' })
    live = await compute(live, 0, { action: 'Grow', count: 80_000 })
    expect(live['results']).toMatchObject({ output: { kept: 80_000 } })
    const snapshot = decodeMessage(
      encodeMessage(
        (await resolver.resolve({ ...live, device: 'lua@5.3a' }, 'snapshot')) as Message,
      ),
    )
    expect(snapshot['memory-size']).toBeGreaterThan(16 * 1024 * 1024)

    const first = await restore(live, snapshot)
    const second = await restore(live, snapshot)
    const expected = await compute(live, 1, { action: 'Grow', count: 10 })
    for (const restored of [first, second]) {
      const out = await compute(restored, 1, { action: 'Grow', count: 10 })
      expect(out['results']).toEqual(expected['results'])
    }
  })

  it('restores a snapshot of the first format (pages deflated) as well', async () => {
    let live = await call(initialState(definition(HOARDER)), { path: 'init' })
    live = await compute(live, 0, { action: 'Grow', count: 500 })
    const snapshot = (await resolver.resolve(
      { ...live, device: 'lua@5.3a' },
      'snapshot',
    )) as Message
    expect(snapshot['format']).toBe('aonode-lua-heap-2')
    const heap = brotliDecompressSync(snapshot['heap'] as Uint8Array)
    const first = { ...snapshot, format: 'aonode-lua-heap-1', heap: deflateRawSync(heap) }
    const expected = await compute(live, 1, { action: 'Grow', count: 10 })
    const out = await compute(await restore(live, first), 1, { action: 'Grow', count: 10 })
    expect(out['results']).toEqual(expected['results'])
    expect(out['results']).toMatchObject({ output: { kept: 510 } })
  })

  it('refuses a snapshot that is not one of its own with a 400', async () => {
    const live = await call(initialState(definition(HOARDER)), { path: 'init' })
    const error = await restore(live, { format: 'something-else', heap: new Uint8Array(4) }).then(
      () => undefined,
      (reason: unknown) => reason,
    )
    expect(DeviceError.is(error) && error.status).toBe(400)
  })

  it('normalize without a snapshot loads the modules afresh', async () => {
    const live = await call(initialState(definition(HOARDER)), { path: 'init' })
    const plain: Record<string, Message[keyof Message]> = { ...live }
    delete plain['priv']
    const fresh = await call(plain, { path: 'normalize' })
    const out = await compute(fresh, 0, { action: 'Grow', count: 3 })
    expect(out['results']).toMatchObject({ output: { kept: 3 } })
  })
})
