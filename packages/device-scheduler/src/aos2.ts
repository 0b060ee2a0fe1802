import {
  Float,
  getOwn,
  id,
  isId,
  isMessage,
  publicKeys,
  toInteger,
  type Message,
  type Value,
} from '@aonode/core'

/**
 * The `application/aos-2` form of a schedule page (HyperBEAM §5.6): the legacy SU JSON that aoconnect
 * and the legacy CU read. Messages and assignments become `{id, owner, data, tags, target, anchor,
 * signature}` records whose tags are the message's scalar keys with Header-Case names.
 */
export function toAos2(pid: string, assignments: readonly Message[], continues: boolean): Message {
  const last = assignments.at(-1)
  return {
    page_info: {
      process: pid,
      has_next_page: continues,
      ...(last === undefined ? {} : { timestamp: last['timestamp'] as Value }),
    },
    edges: assignments.map((assignment) => ({
      cursor: String(toInteger(assignment['slot'])),
      node: { message: messageRecord(pid, assignment), assignment: assignmentRecord(assignment) },
    })),
  }
}

const NOT_TAGS = new Set(['id', 'anchor', 'owner', 'data', 'target', 'signature', 'commitments'])

function messageRecord(pid: string, assignment: Message): Message {
  const body = getOwn(assignment, 'body')
  if (!isMessage(body)) return { id: '', tags: [] }
  const target = getOwn(body, 'target')
  const anchor = getOwn(body, 'anchor')
  return {
    id: bodyId(assignment, body),
    owner: null,
    data: textOf(getOwn(body, 'data')) ?? '',
    tags: publicKeys(body)
      .filter((key) => !NOT_TAGS.has(key))
      .flatMap((key) => tag(key, body[key] as Value)),
    target: typeof target === 'string' ? target : assignment['slot'] === 0 ? '' : pid,
    anchor: typeof anchor === 'string' ? anchor : null,
    signature: null,
  }
}

/** The body's ID as the scheduler recorded it (`message`), or hashed for older assignments. */
function bodyId(assignment: Message, body: Message): string {
  const carried = getOwn(assignment, 'message')
  return isId(carried) ? carried : id(body)
}

function assignmentRecord(assignment: Message): Message {
  const body = getOwn(assignment, 'body')
  return {
    id: assignment['hash-chain'] as Value,
    owner: null,
    data: '',
    tags: [
      ...tag('process', assignment['process'] as Value),
      ...tag('epoch', assignment['epoch'] as Value),
      ...tag('nonce', assignment['slot'] as Value),
      ...tag('hash-chain', assignment['hash-chain'] as Value),
      ...tag('timestamp', assignment['timestamp'] as Value),
      ...(isMessage(body) ? tag('message', bodyId(assignment, body)) : []),
    ],
    target: '',
    anchor: null,
    signature: null,
  }
}

function tag(key: string, value: Value): Message[] {
  const text = textOf(value)
  return text === undefined ? [] : [{ name: headerCase(key), value: text }]
}

function textOf(value: Value | undefined): string | undefined {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    return String(value)
  }
  if (value instanceof Float) return String(value.value)
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8')
  return undefined
}

const headerCase = (key: string): string =>
  key
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('-')
