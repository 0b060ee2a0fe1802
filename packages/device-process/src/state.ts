import {
  badRequest,
  getKey,
  getOwn,
  id,
  isMessage,
  publicKeys,
  type Message,
  type Value,
} from '@aonode/core'

export const PROCESS_DEVICE = 'process@1.0'
export const CACHE_DEVICE = 'cache@1.0'

/** Devices a definition may swap in (`<role>-device`), with HyperBEAM's defaults but for execution. */
export const DEFAULT_DEVICES = {
  scheduler: 'scheduler@1.0',
  push: 'push@1.0',
} as const

/** A process as process@1.0 sees it: its definition, its ID and the base with `process` set. */
export interface ProcessRef {
  readonly pid: string
  readonly definition: Message
  /** The base message with `process` = the definition (HyperBEAM `ensure_process_key`). */
  readonly base: Message
}

/** A definition with its ID, as every later request for the same content reuses it. */
interface KnownDefinition {
  readonly pid: string
  /** Frozen when the content is flat (see `fingerprint`), so it cannot drift from `pid`. */
  readonly definition: Message
}

/** Definitions by object: a worker's or a state's definition is hashed at most once. */
const byObject = new WeakMap<Message, KnownDefinition>()
/**
 * Flat definitions by content: each request loads its process definition as a fresh copy (from the
 * cache, by the ID in its path), and hashing it again per request cost more than the rest of
 * `schedule`. Bounded; the oldest entry goes first.
 */
const byContent = new Map<string, KnownDefinition>()
const MAX_KNOWN_DEFINITIONS = 1024
const MAX_FINGERPRINT_CHARS = 16 * 1024

/**
 * The content of a definition whose values are all text, integers or booleans as one string that
 * tells every such content apart (keys and text length-prefixed, values tagged by type); undefined
 * otherwise (nested messages, binaries, ... are hashed each time they come as a new object).
 */
function fingerprint(message: Message): string | undefined {
  let print = ''
  for (const key of Object.keys(message)) {
    const value = message[key]
    print += `${key.length}:${key}`
    if (typeof value === 'string') print += `s${value.length}:${value}`
    else if (typeof value === 'number' && Number.isSafeInteger(value) && !Object.is(value, -0))
      print += `n${value};`
    else if (typeof value === 'boolean') print += `b${value};`
    else return undefined
    if (print.length > MAX_FINGERPRINT_CHARS) return undefined
  }
  return print
}

/** The definition's ID and the one object that stands for its content from now on. */
function known(definition: Message): KnownDefinition {
  const seen = byObject.get(definition)
  if (seen !== undefined) return seen
  const print = fingerprint(definition)
  let entry = print === undefined ? undefined : byContent.get(print)
  if (entry === undefined) {
    const canonical = print === undefined ? definition : Object.freeze({ ...definition })
    entry = { pid: id(canonical), definition: canonical }
    byObject.set(canonical, entry)
    if (print !== undefined) {
      byContent.set(print, entry)
      if (byContent.size > MAX_KNOWN_DEFINITIONS) {
        const [oldest] = byContent.keys()
        if (oldest !== undefined) byContent.delete(oldest)
      }
    }
  }
  return entry
}

/** The unsigned ID of a definition, hashed once per definition content (or object). */
export function definitionId(definition: Message): string {
  return known(definition).pid
}

function isDefinition(message: Message): boolean {
  const type = getKey(message, 'type')
  return typeof type === 'string' && type.toLowerCase() === 'process'
}

/**
 * The process a base stands for: a state (its `process` key) or a definition itself. The ref's
 * definition (also the base's `process`) is the one object kept for that content, so devices that
 * remember IDs per object (scheduler@1.0) do not hash it again either.
 */
export function processOf(base: Message): ProcessRef | undefined {
  const process = getOwn(base, 'process')
  if (isMessage(process)) {
    const { pid, definition } = known(process)
    return {
      pid,
      definition,
      base: definition === process ? base : { ...base, process: definition },
    }
  }
  if (isDefinition(base)) {
    const { pid, definition } = known(base)
    return { pid, definition, base: { ...base, process: definition } }
  }
  return undefined
}

export function requireProcess(base: Message): ProcessRef {
  const ref = processOf(base)
  if (ref === undefined) {
    throw badRequest('not a process: the base has no "process" definition and is not one', {
      device: PROCESS_DEVICE,
    })
  }
  return ref
}

/** The device a definition names for a role (`execution-device`, ...), or the default. */
export function roleDevice(definition: Message, role: string, fallback?: string): string {
  const named = getKey(definition, `${role}-device`)
  if (typeof named === 'string' && named !== '') return named
  if (fallback !== undefined) return fallback
  throw badRequest(`the process definition names no "${role}-device"`, {
    device: PROCESS_DEVICE,
    key: `${role}-device`,
  })
}

/** The state before any slot: the definition's keys, `process`, and this device. */
export function initialState(definition: Message): Message {
  return { ...definition, process: definition, device: PROCESS_DEVICE, 'at-slot': -1 }
}

/**
 * What a slot's result stores: the state's public keys minus the definition it repeats (restored by
 * `fromStored`), so the per-slot cache grows with what the execution device keeps, not the definition.
 */
export function toStored(state: Message, definition: Message): Message {
  const out: Record<string, Value> = {}
  for (const key of publicKeys(state)) {
    if (key === 'process') continue
    const value = state[key] as Value
    if (Object.hasOwn(definition, key) && definition[key] === value) continue
    out[key] = value
  }
  return out
}

export function fromStored(stored: Message, definition: Message): Message {
  return { ...initialState(definition), ...stored }
}
