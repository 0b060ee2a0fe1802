import {
  DeviceError,
  Float,
  isMessage,
  withoutPrivate,
  type Message,
  type Value,
} from '@aonode/core'
import { describe, expect, it, vi } from 'vitest'
import {
  COUNTER,
  assignment,
  definition,
  initialState,
  luaResolver,
} from './test-support/fixtures.ts'

const resolver = luaResolver({ maxInstructions: 5_000_000, memoryBytes: 32 * 1024 * 1024 })

async function spawn(module: Value, extra: Record<string, Value> = {}): Promise<Message> {
  const state = await resolver.resolve(initialState(definition(module, extra)), { path: 'init' })
  if (!isMessage(state)) throw new Error('init answered a non-message')
  return state
}

async function compute(state: Message, slot: number, body: Message = {}): Promise<Message> {
  const out = await resolver.resolve(
    { ...state, device: 'lua@5.3a' },
    { ...assignment(slot, body), path: 'compute' },
  )
  if (!isMessage(out)) throw new Error('compute answered a non-message')
  return out
}

function output(state: Message): Message {
  const results = state['results']
  if (!isMessage(results) || !isMessage(results['output'])) throw new Error('no results/output')
  return results['output']
}

async function rejection(promise: Promise<unknown>): Promise<DeviceError> {
  try {
    await promise
  } catch (error) {
    if (DeviceError.is(error)) return error
    throw error
  }
  throw new Error('expected a DeviceError')
}

describe('lua@5.3a as a process execution device', () => {
  it('runs a pure-Lua counter slot by slot, keeping its state in Lua', async () => {
    const initial = await spawn(COUNTER)
    let state = await compute(initial, 0)
    expect(output(state)['body']).toBe(1)
    state = await compute(state, 1, { action: 'Add', amount: '41' })
    expect(output(state)['body']).toBe(42)
    expect(state['count']).toBe(42)
    // Host tables Lua did not replace come back as the same objects, not decoded copies.
    expect(state['commitments']).toBe(initial['commitments'])
  })

  it('answers under the lua@5.4 alias too', async () => {
    const init = await resolver.resolve(
      { ...initialState(definition(COUNTER)), device: 'lua@5.4' },
      { path: 'init' },
    )
    expect(isMessage(init) && isMessage(init['priv'])).toBe(true)
  })

  it('loads several modules in order, from inline source and application/lua messages', async () => {
    const state = await spawn([
      'function double(base, req) return 2 * req.n end',
      {
        'content-type': 'application/lua',
        body: 'function quad(base, req) return double(base, req) * 2 end',
      },
    ])
    const base = { ...state, device: 'lua@5.3a' }
    expect(await resolver.resolve(base, { path: 'double', n: 1 })).toBe(2)
    expect(await resolver.resolve(base, { path: 'quad', n: 1 })).toBe(4)
    expect(await resolver.resolve(base, { path: 'functions' })).toEqual(
      expect.arrayContaining(['double', 'quad']),
    )
  })

  it('calls the Lua global named by a key absent from the base; present keys are data', async () => {
    const state = await spawn(
      'function hello(base, req) base.hello = req.name or "world"; return base end',
      { 'test-value': 42 },
    )
    const base = { ...state, device: 'lua@5.3a' }
    const out = await resolver.resolve(base, { path: 'hello' })
    expect(isMessage(out) && out['hello']).toBe('world')
    expect(isMessage(out) && out['test-value']).toBe(42)
    const named = await resolver.resolve(base, { path: 'hello', name: 'Alice' })
    expect(isMessage(named) && named['hello']).toBe('Alice')
    expect(await resolver.resolve(base, { path: 'test-value' })).toBe(42)
  })

  it('keeps values lossless across the boundary', async () => {
    const state = await spawn('function echo(base, req) return req.value end')
    const value: Message = {
      int: 7,
      negative: -12,
      big: 2n ** 62n,
      huge: 1e300,
      fraction: 0.25,
      float: new Float(2),
      text: 'héllo ✓',
      ansi: '\u001b[32m1\u001b[0m',
      binary: new Uint8Array([0, 1, 2, 255]),
      yes: true,
      list: [1, 'two', [3]],
      nested: { deeper: { deepest: 'x' } },
    }
    const out = await resolver.resolve({ ...state, device: 'lua@5.3a' }, { path: 'echo', value })
    if (!isMessage(out)) throw new Error('echo answered a non-message')
    expect(withoutPrivate(out)).toEqual(value)
    expect(isMessage(out) && out['float']).toBeInstanceOf(Float)
    expect(isMessage(out) && typeof out['big']).toBe('bigint')
  })

  it('turns return "error", msg into that call\'s error', async () => {
    const state = await spawn(`
      function compute(base, req)
        if req.body.action == 'Fail' then return "error", "Very bad, but Lua caught it." end
        base.results = { output = { body = 'fine' } }
        return base
      end`)
    const error = await rejection(compute(state, 0, { action: 'Fail' }))
    expect(error.status).toBe(422)
    expect(error.message).toBe('Very bad, but Lua caught it.')
    expect(output(await compute(state, 1)).body).toBe('fine')
  })

  it('reports a Lua runtime error with its message and traceback; later slots still run', async () => {
    let state = await spawn(`
      function compute(base, req)
        if req.body.action == 'Crash' then local t = nil; return t.field end
        base.n = (base.n or 0) + 1
        base.results = { output = { body = base.n } }
        return base
      end`)
    state = await compute(state, 0)
    const error = await rejection(compute(state, 1, { action: 'Crash' }))
    expect(error.status).toBe(422)
    expect(error.message).toMatch(/attempt to index a nil value \(local 't'\)/)
    expect(error.message).toMatch(/stack traceback/)
    expect(output(await compute(state, 2)).body).toBe(2)
  })

  it('refuses a module with a syntax error at init with a 400 naming the problem', async () => {
    const error = await rejection(spawn('function compute(base, req) return base'))
    expect(error.status).toBe(400)
    expect(error.message).toMatch(/'end' expected/)
  })

  it('refuses a process without modules and a non-Lua content-type', async () => {
    expect((await rejection(spawn(null))).status).toBe(400)
    const typed = await rejection(spawn({ 'content-type': 'application/wasm', body: 'x' }))
    expect(typed.status).toBe(400)
    expect(typed.message).toMatch(/application\/wasm/)
  })

  it('asks for init before compute', async () => {
    const error = await rejection(compute(initialState(definition(COUNTER)), 0))
    expect(error.status).toBe(400)
  })

  it('sandbox: true removes io, os.execute, os.getenv, require, load', async () => {
    const probe = `function probe(base, req) return os.getenv("HOME") end
      function kinds() return type(io) .. ' ' .. type(require) .. ' ' .. type(load) .. ' ' .. type(os.execute) end`
    const open = await spawn(probe)
    expect(typeof (await resolver.resolve({ ...open, device: 'lua@5.3a' }, 'probe'))).toBe('string')
    const closed = await spawn(probe, { sandbox: true })
    const base = { ...closed, device: 'lua@5.3a' }
    expect((await rejection(resolver.resolve(base, 'probe'))).message).toMatch(/attempt to call/)
    expect(await resolver.resolve(base, 'kinds')).toBe('string string string string')
  })
})

describe('host safety', () => {
  it('never lets a process exit the node or load bytecode', async () => {
    const state = await spawn(`
      function bye() os.exit(7) end
      function bytecode() return load(string.dump(function() return 1 end)) end`)
    const base = { ...state, device: 'lua@5.3a' }
    expect((await rejection(resolver.resolve(base, 'bye'))).message).toMatch(/os.exit is not/)
    expect(process.exitCode).toBeUndefined()
    expect(await resolver.resolve(base, 'bytecode')).toBeNull()
  })
})

describe('Lua 5.3 compatibility', () => {
  it("provides Lua 5.3's bit32 library through require", async () => {
    const state = await spawn(`
      function bits()
        local bit32 = require('bit32')
        return {
          bit32.band(0xFF, 0x0F), bit32.bor(0xF0, 0x0F), bit32.bxor(0xFF, 0x0F), bit32.bnot(0),
          bit32.lshift(1, 31), bit32.rshift(0x80000000, 31), bit32.arshift(0x80000000, 4),
          bit32.lrotate(0x80000001, 1), bit32.rrotate(1, 1), bit32.extract(0xABCD, 4, 8),
          bit32.replace(0, 0xF, 8, 4), bit32.band(-1, 0xFFFFFFFF), bit32.btest(2, 3),
        }
      end`)
    expect(await resolver.resolve({ ...state, device: 'lua@5.3a' }, 'bits')).toEqual([
      0x0f,
      0xff,
      0xf0,
      0xffffffff,
      0x80000000,
      1,
      0xf8000000,
      3,
      0x80000000,
      0xbc,
      0xf00,
      0xffffffff,
      true,
    ])
  })
})

describe('ao library', () => {
  it('ao.resolve reaches the node (message@1.0) and returns status, result', async () => {
    const state = await spawn(`
      function hello()
        local status, result = ao.resolve({ path = "/hello", hello = "Hello, AO world!" })
        return status .. ': ' .. result
      end`)
    expect(await resolver.resolve({ ...state, device: 'lua@5.3a' }, 'hello')).toBe(
      'ok: Hello, AO world!',
    )
  })

  it('device-sandbox limits which devices ao.resolve may reach', async () => {
    const module = `
      function relay()
        local status, result = ao.resolve({ path = "/~relay@1.0/call", target = "x" })
        return status .. ' ' .. tostring(result.status) .. ' ' .. result.body
      end
      function plain()
        local status, result = ao.resolve({ path = "/k", k = "v" })
        return status .. ' ' .. result
      end`
    const state = await spawn(module, { 'device-sandbox': ['message@1.0'] })
    const base = { ...state, device: 'lua@5.3a' }
    expect(await resolver.resolve(base, 'relay')).toMatch(/^error 403 .*relay@1.0.*device-sandbox/)
    expect(await resolver.resolve(base, 'plain')).toBe('ok v')
  })
})

describe('determinism and limits', () => {
  const probe = `
    function compute(base, req)
      local keys = {}
      for i = 1, 50 do keys['key' .. i] = i end
      local order = {}
      for k in pairs(keys) do order[#order + 1] = k end
      base.results = { output = {
        random = math.random(1, 1000000), time = os.time(), order = table.concat(order, ','),
      } }
      return base
    end`

  it('gives the same results on every run: seeded random, assignment time, fixed pairs order', async () => {
    const a = output(await compute(await spawn(probe), 3))
    const b = output(await compute(await spawn(probe), 3))
    expect(a).toEqual(b)
    expect(a['time']).toBe(Math.floor((assignment(3, {})['timestamp'] as number) / 1000))
    const other = output(await compute(await spawn(probe), 4))
    expect(other['random']).not.toBe(a['random'])
  })

  it('does not depend on the host clock at spawn (the hash seed is fixed)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      vi.setSystemTime(new Date('2001-01-01T00:00:00Z'))
      const a = output(await compute(await spawn(probe), 3))
      vi.setSystemTime(new Date('2031-06-01T12:34:56Z'))
      const b = output(await compute(await spawn(probe), 3))
      expect(b['order']).toBe(a['order'])
    } finally {
      vi.useRealTimers()
    }
  })

  it('stops an infinite loop with a clear error while other processes keep running', async () => {
    const looping = await spawn(`
      function compute(base, req)
        if req.body.action == 'Loop' then while true do end end
        base.results = { output = { body = 'alive' } }
        return base
      end`)
    const counter = await spawn(COUNTER)
    const stuck = rejection(compute(looping, 0, { action: 'Loop' }))
    const other = await compute(counter, 0)
    expect(output(other)['body']).toBe(1)
    const error = await stuck
    expect(error.status).toBe(422)
    expect(error.message).toMatch(/budget of 5000000 instructions/)
    expect(output(await compute(looping, 1)).body).toBe('alive')
  })

  it('a pcall inside Lua cannot swallow the budget', async () => {
    const state = await spawn(`
      function compute(base, req)
        while true do pcall(function() while true do end end) end
      end`)
    expect((await rejection(compute(state, 0))).message).toMatch(/budget/)
  })

  it('caps memory per process', async () => {
    const small = luaResolver({ memoryBytes: 4 * 1024 * 1024 })
    const init = await small.resolve(
      initialState(
        definition(`
      function compute(base, req)
        local t = {}
        for i = 1, 1e7 do t[i] = string.rep('x', 64) .. i end
        return base
      end`),
      ),
      { path: 'init' },
    )
    const run = small.resolve(
      { ...(init as Message), device: 'lua@5.3a' },
      { ...assignment(0, {}), path: 'compute' },
    )
    const error = await rejection(run)
    expect(error.status).toBe(413)
    expect(error.message).toMatch(/memory cap/)
  })
})
