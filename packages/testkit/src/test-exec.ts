import { createHash } from 'node:crypto'
import {
  DeviceError,
  Live,
  PRIVATE_KEY,
  defineDevice,
  getKey,
  getOwn,
  id,
  isId,
  isMessage,
  toInteger,
  type Device,
  type Message,
  type Value,
} from '@aonode/core'

export const TEST_EXEC_DEVICE = 'test-exec@1.0'

/** The live state test-exec keeps between slots (in the state's `priv/test-exec`). */
interface Counter {
  count: number
  /** Running sha-256 over the IDs of every computed message. */
  hash: Buffer
}

const LIVE_KEY = 'test-exec'
const ZERO_HASH = Buffer.alloc(32)
const utf8 = new TextEncoder()

const fail = (message: string, key?: string): DeviceError =>
  new DeviceError('UNPROCESSABLE', `test-exec: ${message}`, {
    device: TEST_EXEC_DEVICE,
    ...(key === undefined ? {} : { key }),
  })

function privOf(state: Message): Message {
  const priv = getOwn(state, PRIVATE_KEY)
  return isMessage(priv) ? priv : {}
}

function counterOf(state: Message): Counter {
  const live = getOwn(privOf(state), LIVE_KEY)
  if (!(live instanceof Live)) throw fail('state is not initialised (no live counter)')
  return live.value as Counter
}

/** The state with the counter's public view and its live handle. */
function withCounter(state: Message, counter: Counter, extra: Message = {}): Message {
  return {
    ...state,
    ...extra,
    count: counter.count,
    hash: counter.hash.toString('base64url'),
    [PRIVATE_KEY]: { ...privOf(state), [LIVE_KEY]: new Live(counter) },
  }
}

/**
 * `test-exec@1.0`: a small, deterministic execution device for tests (the protocol of
 * `@aonode/core` execution.ts). It counts `Action: Increment` messages, keeps a running sha-256 of
 * every message ID it computes, throws on `Action: Fail`, and for `Action: Send` puts a message
 * for `recipient` in the outbox (action `send-action`, default `Increment`; with `forward-to` the
 * message is itself a Send to that process). `results/output` is `{count}`.
 */
export function createTestExecDevice(): Device {
  return defineDevice({
    info: {
      name: TEST_EXEC_DEVICE,
      core: '^0.1.0',
      description: 'Deterministic counter execution device for tests',
    },
    keys: {
      init(base) {
        return withCounter(base, { count: 0, hash: Buffer.from(ZERO_HASH) })
      },
      compute(base, req) {
        const counter = counterOf(base)
        const body = getOwn(req, 'body')
        if (!isMessage(body)) throw fail('the assignment has no message body', 'body')
        const action = getKey(body, 'action')
        if (action === 'Fail') {
          throw fail(`Action Fail at slot ${toInteger(getOwn(req, 'slot')) ?? '?'}`)
        }
        let outbox: Message | undefined
        if (action === 'Send') {
          const recipient = getKey(body, 'recipient')
          if (!isId(recipient))
            throw fail('Action Send needs a "recipient" process ID', 'recipient')
          const sendAction = getKey(body, 'send-action')
          const forwardTo = getKey(body, 'forward-to')
          outbox = {
            '1': {
              target: recipient,
              action: typeof sendAction === 'string' ? sendAction : 'Increment',
              'sent-at-count': counter.count,
              // Lets a chain A -> B -> C be built: B sends on to `forward-to`.
              ...(isId(forwardTo) ? { recipient: forwardTo, 'forward-to': forwardTo } : {}),
            },
          }
        }
        // Mutate only after every check: a thrown error leaves the live state as it was.
        counter.hash = createHash('sha256')
          .update(counter.hash)
          .update(utf8.encode(id(body)))
          .digest()
        if (action === 'Increment') counter.count += 1
        const results: Record<string, Value> = { output: { count: counter.count } }
        if (outbox !== undefined) results['outbox'] = outbox
        return withCounter(base, counter, { results })
      },
      snapshot(base) {
        const counter = counterOf(base)
        return { count: counter.count, hash: new Uint8Array(counter.hash) }
      },
      normalize(base) {
        const snapshot = getOwn(base, 'snapshot')
        if (!isMessage(snapshot)) throw fail('normalize needs a "snapshot" message', 'snapshot')
        const count = toInteger(getOwn(snapshot, 'count'))
        const hash = getOwn(snapshot, 'hash')
        if (count === undefined || !(hash instanceof Uint8Array) || hash.byteLength !== 32) {
          throw fail('the snapshot is not a test-exec snapshot', 'snapshot')
        }
        const state: Record<string, Value> = { ...base }
        delete state['snapshot']
        return withCounter(state, { count, hash: Buffer.from(hash) })
      },
    },
  })
}
