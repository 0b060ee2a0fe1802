import { DeviceError, isMessage, withoutPrivate, type Message, type Value } from '@aonode/core'
import { describe, expect, it } from 'vitest'
import {
  HYPER_AOS,
  OWNER,
  assignment,
  definition,
  initialState,
  luaResolver,
  signed,
} from './test-support/fixtures.ts'

const resolver = luaResolver()

/** Reads what a batch could get wrong: the slot the base says, randomness, time, earlier results. */
const PROBE = `
function compute(base, req)
  local body = req.body or {}
  if body.action == 'Crash' then base.n = -1000; local t = nil; return t.field end
  if body.action == 'Refuse' then return 'error', 'refused on purpose' end
  base.n = (base.n or 0) + 1
  base.seen = (base.seen or '') .. tostring(base['at-slot']) .. (base.results and '+' or '-') .. ','
  base.results = { output = { n = base.n, random = math.random(1, 1e9), time = os.time() } }
  return base
end`

async function spawn(module: Value): Promise<Message> {
  const state = await resolver.resolve(initialState(definition(module)), { path: 'init' })
  if (!isMessage(state)) throw new Error('init answered a non-message')
  return state
}

/** process@1.0's input for the next slot: the state without its results, on the execution device. */
function inputOf(state: Message): Message {
  const input: Record<string, Value> = { ...state, device: 'lua@5.3a' }
  delete input['results']
  return input
}

/** Slot by slot as process@1.0 does it: a failed slot keeps the previous state; at-slot advances. */
async function perSlot(start: Message, assignments: readonly Message[]): Promise<Value[]> {
  const outcomes: Value[] = []
  let state = start
  for (const req of assignments) {
    try {
      const out = (await resolver.resolve(inputOf(state), { ...req, path: 'compute' })) as Message
      outcomes.push(withoutPrivate(out))
      state = { ...out, 'at-slot': req['slot'] as number }
    } catch (error) {
      if (!DeviceError.is(error)) throw error
      outcomes.push({ error: error.message, code: error.code })
      state = { ...state, 'at-slot': req['slot'] as number }
    }
  }
  return outcomes
}

async function batch(start: Message, assignments: readonly Message[]): Promise<Message[]> {
  const out = await resolver.resolve(inputOf(start), { path: 'compute-batch', assignments })
  if (!isMessage(out) || !Array.isArray(out['outcomes'])) throw new Error('no outcomes')
  return out['outcomes'] as Message[]
}

const plain = (outcome: Message): Value =>
  isMessage(outcome['state']) ? withoutPrivate(outcome['state']) : outcome

describe('lua@5.3a compute-batch', () => {
  const bodies: Message[] = [{}, {}, { action: 'Crash' }, {}, { action: 'Refuse' }, {}, {}]
  const assignments = bodies.map((body, slot) => assignment(slot, body))

  it('gives the same states as compute slot by slot, errors included', async () => {
    const expected = await perSlot(await spawn(PROBE), assignments)
    const outcomes = await batch(await spawn(PROBE), assignments)
    expect(outcomes.map(plain)).toEqual(expected)
    const last = outcomes.at(-1)?.['state'] as Message
    expect(last['results']).toMatchObject({ output: { n: 5 } })
    // The base of each slot is the previous state without results, at the previous slot.
    expect(last['seen']).toBe('-1-,0-,2-,4-,5-,')
  })

  it("reports an error as that slot's outcome; the state stays as before it", async () => {
    const outcomes = await batch(await spawn(PROBE), assignments)
    expect(outcomes[2]).toEqual({
      error: expect.stringMatching(/attempt to index a nil value/) as unknown,
      code: 'UNPROCESSABLE',
    })
    expect(outcomes[4]).toEqual({ error: 'refused on purpose', code: 'UNPROCESSABLE' })
    expect((outcomes[3]?.['state'] as Message)['n']).toBe(3)
  })

  it('continues from a batch with compute (the live state is the last one)', async () => {
    const first = await batch(await spawn(PROBE), assignments.slice(0, 3))
    const state = { ...(first[1]?.['state'] as Message), 'at-slot': 2 }
    const next = (await resolver.resolve(inputOf(state), {
      ...assignment(3, {}),
      path: 'compute',
    })) as Message
    expect(next['n']).toBe(3)
    expect(next['seen']).toBe('-1-,0-,2-,')
  })

  it('runs hyper-aos handlers in a batch exactly as slot by slot', async () => {
    const handler = `Handlers.add('ping', 'Ping', function(msg)
      Pings = (Pings or 0) + 1
      msg.reply({ action = 'Pong', data = tostring(Pings) .. ':' .. tostring(math.random(1, 1000)) })
    end)`
    const run = [
      signed(OWNER, { action: 'Eval', data: handler }, 'eval'),
      ...Array.from({ length: 5 }, (_, i) => signed(OWNER, { action: 'Ping' }, `ping-${i}`)),
      signed('stranger-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', { action: 'Ping' }, 'ping-x'),
    ].map((body, slot) => assignment(slot, body))
    const expected = await perSlot(await spawn(HYPER_AOS), run)
    const outcomes = await batch(await spawn(HYPER_AOS), run)
    expect(outcomes.map(plain)).toEqual(expected)
    expect(plain(outcomes[5] as Message)).toMatchObject({
      results: {
        outbox: { '1': { action: 'Pong', data: expect.stringMatching(/^5:/) as unknown } },
      },
    })
  })

  it('reads back keys Lua adds, changes and removes, past the remembered key names', async () => {
    const module = `
      function compute(base, req)
        local n = req.slot
        base['key-' .. (n % 5)] = 'value-' .. n
        base['key-' .. ((n + 2) % 5)] = nil
        base['many-' .. n] = n
        base['many-' .. (n - 1)] = nil
        base.type = 'Pro' .. (n % 2 == 0 and 'cess' or 'gram')
        base.results = { output = { n = n } }
        return base
      end`
    const count = 1100
    const outcomes = await batch(
      await spawn(module),
      Array.from({ length: count }, (_, slot) => assignment(slot, {})),
    )
    const expected: Record<string, string> = {}
    outcomes.forEach((outcome, n) => {
      expected[`key-${n % 5}`] = `value-${n}`
      delete expected[`key-${(n + 2) % 5}`]
      const state = outcome['state'] as Message
      const keys = Object.keys(state).filter((key) => /^(key|many)-/.test(key))
      expect(Object.fromEntries(keys.map((key) => [key, state[key]]))).toEqual({
        ...expected,
        [`many-${n}`]: n,
      })
      expect(state['type']).toBe(n % 2 === 0 ? 'Process' : 'Program')
    })
  })

  it('refuses assignments that are not a list of messages with a 400, applying nothing', async () => {
    const state = await spawn(PROBE)
    for (const assignments of [undefined, 'slot 0', [assignment(0, {}), 7]]) {
      const error = await resolver
        .resolve(inputOf(state), { path: 'compute-batch', ...(assignments ? { assignments } : {}) })
        .then(
          () => undefined,
          (reason: unknown) => reason,
        )
      expect(DeviceError.is(error) && error.status).toBe(400)
    }
    const outcomes = await batch(state, [assignment(0, {})])
    expect((outcomes[0]?.['state'] as Message)['n']).toBe(1)
  })

  it('asks for a live state with a 400', async () => {
    const error = await resolver
      .resolve(
        { ...initialState(definition(PROBE)), device: 'lua@5.3a' },
        { path: 'compute-batch', assignments: [assignment(0, {})] },
      )
      .then(
        () => undefined,
        (reason: unknown) => reason,
      )
    expect(DeviceError.is(error) && error.status).toBe(400)
  })
})
