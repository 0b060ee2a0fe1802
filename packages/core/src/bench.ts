/**
 * Core benchmarks: message IDs per second, IDs of process states (the per-slot cost of storing a
 * state) and resolutions per second (issue 2: >= 100,000/s for a 3-step message@1.0 path). Run
 * with `pnpm bench` in packages/core.
 */
import { measure, perSecond, report } from '@aonode/benchkit'
import type { Figure } from '@aonode/benchkit'
import { id } from './id.ts'
import type { Message } from './message.ts'
import { createRegistry } from './registry.ts'
import { createResolver } from './resolve.ts'

const RESOLUTIONS = 50_000
const IDS = 5_000
const PATHS = 20_000
const STATES = 20_000

const small = (i: number): Message => ({
  type: 'Message',
  action: 'Eval',
  data: `return ${i}`,
  target: 'a3aXBKZ-2o7_IHk5GL7bT6RpKbULoaq-CmVQYZjDnjU',
  nonce: i,
})

const resolver = createResolver({ registry: createRegistry([]) })
const nested: Message = { a: { b: { c: 'leaf' } }, other: 'x' }
const request: Message = { path: 'a/b/c' }

const resolutions = await measure(
  'message@1.0 3-step path (a/b/c) resolutions',
  'ops/s',
  async () => {
    const start = performance.now()
    for (let i = 0; i < RESOLUTIONS; i++) await resolver.resolve(nested, request)
    return perSecond(RESOLUTIONS, performance.now() - start)
  },
  { runs: 7, warmup: 2, goal: { op: '>=', value: 100_000, issue: 2 } },
)

const paths = await measure(
  'HyperPATH parse + resolve (/~message@1.0&a+integer=1&b=2/a?x=y)',
  'ops/s',
  async () => {
    const start = performance.now()
    for (let i = 0; i < PATHS; i++)
      await resolver.resolvePath('/~message@1.0&a+integer=1&b=2/a?x=y')
    return perSecond(PATHS, performance.now() - start)
  },
  { runs: 5, warmup: 1 },
)

const ids = await measure(
  'IDs of small messages (5 keys)',
  'ops/s',
  () => {
    const start = performance.now()
    for (let i = 0; i < IDS; i++) id(small(i))
    return perSecond(IDS, performance.now() - start)
  },
  { runs: 5, warmup: 1 },
)

/** A counter process's state: 3 levels (state, results, output). */
const counterState = (i: number): Message => ({
  results: { output: { body: i } },
  count: i,
  'at-slot': i,
})
/** A hyper-aos state after a Ping: 5 levels (state, results, output, outbox, outbox/1). */
const aosState = (i: number): Message => ({
  results: {
    output: { data: '', print: true, prompt: 'aos> ' },
    outbox: {
      '1': {
        action: 'Pong',
        data: String(i),
        target: 'owner-address-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
        reference: String(i),
      },
    },
    info: 'hyper-aos',
  },
  'at-slot': i,
})

const stateIds = (name: string, state: (i: number) => Message): Promise<Figure> => {
  const states = Array.from({ length: STATES }, (_, i) => state(i))
  return measure(
    name,
    'µs/ID',
    () => {
      const start = performance.now()
      for (const message of states) id(message)
      return ((performance.now() - start) * 1000) / STATES
    },
    { runs: 7, warmup: 2 },
  )
}
const counterIds = await stateIds('state ID, 3 levels (counter state)', counterState)
const aosIds = await stateIds('state ID, 5 levels (hyper-aos state)', aosState)

report('core', [resolutions, paths, ids, counterIds, aosIds])
