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

const definitionIds = new WeakMap<Message, string>()

/** The unsigned ID of a definition, computed once per definition object. */
export function definitionId(definition: Message): string {
  let pid = definitionIds.get(definition)
  if (pid === undefined) {
    pid = id(definition)
    definitionIds.set(definition, pid)
  }
  return pid
}

function isDefinition(message: Message): boolean {
  const type = getKey(message, 'type')
  return typeof type === 'string' && type.toLowerCase() === 'process'
}

/** The process a base stands for: a state (its `process` key) or a definition itself. */
export function processOf(base: Message): ProcessRef | undefined {
  const process = getOwn(base, 'process')
  if (isMessage(process)) return { pid: definitionId(process), definition: process, base }
  if (isDefinition(base)) {
    return { pid: definitionId(base), definition: base, base: { ...base, process: base } }
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
