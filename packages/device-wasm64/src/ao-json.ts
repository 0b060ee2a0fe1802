/**
 * The ao module ABI's JSON (ao-legacy-cu §2.3/§2.4): the message and env documents a module's
 * `handle(msg, env)` receives, built from an assignment and the process definition, and the
 * conversion of its `{ok, response}` answer into `results` of the process state.
 */
import {
  DeviceError,
  id,
  isId,
  isMessage,
  isPrivateKey,
  normalizeKey,
  Float,
  Link,
  type Message,
  type Value,
} from '@aonode/core'

export interface Tag {
  readonly name: string
  readonly value: string
}

/** Keys that are fields of the ao message, not tags (HyperBEAM json-iface). */
const NOT_TAGS = new Set([
  'id',
  'anchor',
  'owner',
  'data',
  'target',
  'signature',
  'commitments',
  'body',
  'from',
  'path',
])

const utf8 = new TextDecoder()
const encoder = new TextEncoder()

/** Tag names seen recently: the same few keys recur in every message of a process. */
const headerNames = new Map<string, string>()
const HEADER_NAMES_KEPT = 4096

/** `content-type` → `Content-Type`, as HyperBEAM's json-iface names tags. */
export function headerCase(key: string): string {
  let name = headerNames.get(key)
  if (name === undefined) {
    name = key.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase())
    if (headerNames.size >= HEADER_NAMES_KEPT) headerNames.clear()
    headerNames.set(key, name)
  }
  return name
}

/** A message value as the string an ao tag or `Data` carries; undefined for nested messages. */
function text(value: Value | undefined): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value)
  if (value instanceof Uint8Array) return utf8.decode(value)
  if (value instanceof Float) return String(value.value)
  if (value instanceof Link) return value.id
  return undefined
}

/** Tags: every public scalar key but the message fields; binaries (an inline image) are not tags. */
export function tagsOf(message: Message): Tag[] {
  const tags: Tag[] = []
  for (const key of Object.keys(message)) {
    if (isPrivateKey(key) || NOT_TAGS.has(key.toLowerCase())) continue
    const raw = message[key]
    const value = raw instanceof Uint8Array ? undefined : text(raw)
    if (value !== undefined) tags.push({ name: headerCase(key), value })
  }
  return tags
}

export interface AoContext {
  /** The process ID. */
  readonly process: string
  /** The image ID (the module), or '' for inline images. */
  readonly module: string
  /** The owner of unsigned messages: the process definition's `owner`, else the node's address. */
  readonly owner: string
  /** The env JSON, the same for every message of the process. */
  readonly env: Uint8Array
}

export function envJson(
  process: string,
  definition: Message,
  module: string,
  owner: string,
): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      Process: { Id: process, Owner: owner, Tags: tagsOf(definition) },
      Module: { Id: module, Owner: owner, Tags: [] },
    }),
  )
}

const num = (value: Value | undefined): number | undefined => {
  if (typeof value === 'number') return value
  if (typeof value === 'bigint') return Number(value)
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) return Number(value)
  return undefined
}

/**
 * A reader of the body's fields as text, case-insensitively as `getKey` (an exact key wins), with the
 * keys scanned once instead of once per field.
 */
function fieldsOf(body: Message): (name: string) => string | undefined {
  const fields = new Map<string, Value>()
  for (const key of Object.keys(body)) {
    const lower = key.toLowerCase()
    if (key === lower || !fields.has(lower)) fields.set(lower, body[key] as Value)
  }
  return (name) => text(fields.get(name))
}

/** The assignment's message body; a 400 without one. */
export function bodyOf(assignment: Message): Message {
  const body = assignment['body']
  if (!isMessage(body)) {
    throw new DeviceError('BAD_REQUEST', 'wasm64: the assignment has no message body', {
      device: 'wasm64@1.0',
      key: 'body',
    })
  }
  return body
}

/**
 * The message JSON of one assignment, in the legacy CU's key order; absent optional keys are left
 * out. `Module` is added as HyperBEAM's json-iface does (aos seeds its random generator from it).
 */
export function messageJson(
  assignment: Message,
  ctx: AoContext,
): { json: Uint8Array; timestamp: number } {
  const body = bodyOf(assignment)
  const slot = num(assignment['slot']) ?? 0
  const timestamp = num(assignment['timestamp']) ?? 0
  const field = fieldsOf(body)
  const owner = field('owner') ?? ctx.owner
  const carried = assignment['message']
  const msg: Record<string, unknown> = {
    // Slot 0 is the process message itself: its ID is the process ID (as the legacy CU sends it).
    // A scheduler that already computed the body's ID names it in `message`: not hashed again.
    Id: slot === 0 ? ctx.process : isId(carried) ? carried : id(body),
  }
  const signature = field('signature')
  if (signature !== undefined) msg['Signature'] = signature
  msg['Data'] = field('data') ?? field('body') ?? ''
  msg['Owner'] = owner
  msg['Target'] = field('target') ?? ctx.process
  const anchor = field('anchor')
  if (anchor !== undefined) msg['Anchor'] = anchor
  msg['From'] = field('from-process') ?? field('from') ?? owner
  const forwardedBy = field('forwarded-by')
  if (forwardedBy !== undefined) msg['Forwarded-By'] = forwardedBy
  msg['Tags'] = tagsOf(body)
  msg['Epoch'] = num(assignment['epoch']) ?? 0
  msg['Nonce'] = slot
  msg['Timestamp'] = timestamp
  msg['Block-Height'] = num(assignment['block-height']) ?? 0
  const hashChain = text(assignment['hash-chain'])
  if (hashChain !== undefined) msg['Hash-Chain'] = hashChain
  msg['Cron'] = false
  msg['Read-Only'] = false
  msg['Module'] = ctx.module
  // Buffer.from takes small strings from its pool: cheaper than a TextEncoder allocation each.
  return { json: Buffer.from(JSON.stringify(msg)), timestamp }
}

/** JSON → message values: objects become messages (keys normalised), arrays lists. */
function toValue(json: unknown): Value {
  if (json === null || typeof json === 'string' || typeof json === 'boolean') return json
  if (typeof json === 'number') return json
  if (Array.isArray(json)) return json.map(toValue)
  if (typeof json === 'object') {
    const out: Record<string, Value> = {}
    for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
      out[normalizeKey(key)] = toValue(value)
    }
    return out
  }
  return JSON.stringify(json)
}

/** An outbox entry: its fields with normalised keys and its tags flattened into keys. */
function outboxMessage(json: unknown, ctx: AoContext): Message {
  const out: Record<string, Value> = {}
  if (typeof json !== 'object' || json === null) return { data: JSON.stringify(json) }
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    if (key === 'Tags' && Array.isArray(value)) {
      for (const tag of value) {
        if (typeof tag === 'object' && tag !== null && 'name' in tag && 'value' in tag) {
          const { name, value: tagValue } = tag as { name: unknown; value: unknown }
          if (typeof name === 'string') out[normalizeKey(name)] = toValue(tagValue)
        }
      }
    } else out[normalizeKey(key)] = toValue(value)
  }
  out['from-process'] = ctx.process
  if (ctx.module !== '') out['from-image'] = ctx.module
  return out
}

const numbered = (list: readonly unknown[], each: (entry: unknown) => Value): Message =>
  Object.fromEntries(list.map((entry, i) => [String(i + 1), each(entry)]))

export interface Outcome {
  readonly results: Message
  /** The module answered `Error` (or ran out of buffer memory): its memory changes are undone. */
  readonly rollback: boolean
}

const OUT_OF_MEMORY = 'not enough memory for buffer allocation'

/** The module's JSON answer as `results` (ao-legacy-cu §2.4). */
export function parseResult(text: string, ctx: AoContext): Outcome {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return { results: { error: 'JSON error parsing result output.' }, rollback: true }
  }
  if (typeof parsed !== 'object' || parsed === null) {
    return {
      results: { error: 'the module answered something other than a JSON object' },
      rollback: true,
    }
  }
  const { ok, response } = parsed as { ok?: unknown; response?: unknown }
  if (ok === false || typeof response !== 'object' || response === null) {
    const reason = typeof response === 'string' ? response : JSON.stringify(response ?? parsed)
    return { results: { error: reason }, rollback: true }
  }
  const r = response as Record<string, unknown>
  const results: Record<string, Value> = {}
  const output = r['Output']
  if (typeof output === 'object' && output !== null && !Array.isArray(output))
    results['output'] = toValue(output)
  else if (output !== undefined && output !== '')
    results['output'] = {
      data: typeof output === 'string' ? output : String(JSON.stringify(output)),
    }
  for (const [field, key] of [
    ['Messages', 'outbox'],
    ['Spawns', 'spawns'],
  ] as const) {
    const list = r[field]
    if (Array.isArray(list) && list.length > 0)
      results[key] = numbered(list, (entry) => outboxMessage(entry, ctx))
  }
  const assignments = r['Assignments']
  if (Array.isArray(assignments) && assignments.length > 0)
    results['assignments'] = numbered(assignments, toValue)
  const patches = r['Patches']
  if (Array.isArray(patches) && patches.length > 0) results['patches'] = numbered(patches, toValue)
  const error = r['Error']
  if (error !== undefined && error !== null) {
    results['error'] = typeof error === 'string' ? error : JSON.stringify(error)
    return { results, rollback: true }
  }
  const data = isMessage(results['output']) ? results['output']['data'] : undefined
  return { results, rollback: typeof data === 'string' && data.endsWith(OUT_OF_MEMORY) }
}
