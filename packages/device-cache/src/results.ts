import { badRequest, toInteger, type Message, type Store, type Value } from '@aonode/core'
import { checkId, MAX_SLOT, slotKey, SLOT_DIGITS } from './keys.ts'
import { readMessageAt, WritePlan } from './message-cache.ts'

/**
 * Process results (for process@1.0), HyperBEAM's `dev_process_cache` layout:
 *
 *   computed/<PID>/slot/<slot>      the state's record, naming its ID (slot zero-padded to 12 digits)
 *   computed/<PID>/snapshot/<slot>  the snapshot's record
 *   computed/<PID>/<state ID>       -> link to computed/<PID>/slot/<slot>
 *
 * Two entries per slot: the records live at their slot rather than under `messages/<ID>` plus a
 * link, and a state ID whose slot was rewritten with another state reads as absent.
 * (Data written before kept the slot entries as links to `messages/<ID>`; those still read.)
 */
export interface ResultWrite {
  readonly process: string
  readonly slot: number
  readonly result: Message
  readonly snapshot?: Message
}

export interface LatestResult {
  readonly slot: number
  readonly result: Message
  readonly snapshot?: Message
}

export interface SlotRange {
  readonly from?: number
  /** Inclusive. */
  readonly to?: number
  readonly limit?: number
}

const computed = (pid: string): string => `computed/${pid}`
const slotEntry = (pid: string, slot: number): string => `computed/${pid}/slot/${slotKey(slot)}`
const snapshotEntry = (pid: string, slot: number): string =>
  `computed/${pid}/snapshot/${slotKey(slot)}`
const SLOT_NAME = new RegExp(`^\\d{${SLOT_DIGITS}}$`)

/** A slot number from a request: an integer (or its decimal text) in 0..MAX_SLOT, else 400. */
export function checkSlot(value: Value | undefined, name = 'slot'): number {
  if (value === undefined) throw badRequest(`missing "${name}"`, { key: name })
  const slot = toInteger(value)
  if (slot === undefined || slot < 0 || slot > MAX_SLOT) {
    throw badRequest(`"${name}" must be an integer from 0 to ${MAX_SLOT}`, { key: name })
  }
  return slot
}

/**
 * Stores a slot's result (and its snapshot) with every index entry in one atomic batch, and returns
 * the state ID. Writing a slot again (e.g. to add a snapshot) replaces its entries.
 */
export async function writeResult(store: Store, write: ResultWrite): Promise<string> {
  const [stateId] = await writeResults(store, [write])
  return stateId as string
}

/**
 * Stores many slots' results in one atomic batch (one commit), and returns their state IDs in order.
 * Nested messages shared between the slots' states are planned once. Every write is checked before
 * anything is planned, so a bad one writes nothing.
 */
export async function writeResults(
  store: Store,
  writes: readonly ResultWrite[],
): Promise<string[]> {
  // Every write is checked before anything is planned, so a bad one writes nothing.
  const slots = writes.map((write) => {
    checkId(write.process, 'process')
    return checkSlot(write.slot)
  })
  // Small nested messages of a result (e.g. `results/output`) live in its record: fewer store writes.
  const plan = new WritePlan(store, { inlineSmall: true })
  // Consecutive writes are usually for one process: its key prefix is built once.
  let pid = ''
  let prefix = ''
  const stateIds = writes.map(({ process, result, snapshot }, index) => {
    if (process !== pid) {
      pid = process
      prefix = `${computed(pid)}/`
    }
    const slot = slotKey(slots[index] as number)
    const state = plan.record(result)
    const entry = `${prefix}slot/${slot}`
    plan.ops.push(
      { op: 'put', key: entry, value: state.value },
      { op: 'link', key: prefix + state.id, target: entry },
    )
    if (snapshot !== undefined) {
      plan.ops.push({
        op: 'put',
        key: `${prefix}snapshot/${slot}`,
        value: plan.record(snapshot).value,
      })
    }
    return state.id
  })
  await plan.commit()
  return stateIds
}

/** The result stored for a slot, or for a state ID; undefined when absent. */
export function readResult(
  store: Store,
  process: string,
  at: { readonly slot: number } | { readonly id: string },
): Message | undefined {
  const pid = checkId(process, 'process')
  if ('slot' in at) return readMessageAt(store, slotEntry(pid, checkSlot(at.slot)))
  const stateId = checkId(at.id, 'id')
  return readMessageAt(store, `${computed(pid)}/${stateId}`, { id: stateId })
}

/** The newest slot at or below `to` (with a snapshot when `withSnapshot`), or undefined. */
export function latestResult(
  store: Store,
  process: string,
  options: { readonly to?: number; readonly withSnapshot?: boolean } = {},
): LatestResult | undefined {
  const pid = checkId(process, 'process')
  const group = `${computed(pid)}/${options.withSnapshot === true ? 'snapshot' : 'slot'}`
  const slot = newest(store, group, options.to)
  if (slot === undefined) return undefined
  const result = readMessageAt(store, slotEntry(pid, slot))
  if (result === undefined) return undefined
  const snapshot = readMessageAt(store, snapshotEntry(pid, slot))
  return snapshot === undefined ? { slot, result } : { slot, result, snapshot }
}

function newest(store: Store, group: string, to: number | undefined): number | undefined {
  const end = to === undefined ? undefined : endAfter(checkSlot(to, 'to'))
  const [name] = store.list(group, { reverse: true, limit: 1, ...(end !== undefined && { end }) })
  return name === undefined ? undefined : Number(name)
}

/** The exclusive listing bound just past slot `to` (none past the last slot). */
function endAfter(to: number): string | undefined {
  return to < MAX_SLOT ? slotKey(to + 1) : undefined
}

/** Slots with a stored result in `[from, to]`, ascending, at most `limit`. */
export function listSlots(store: Store, process: string, range: SlotRange = {}): number[] {
  const pid = checkId(process, 'process')
  const from = range.from === undefined ? undefined : checkSlot(range.from, 'from')
  const to = range.to === undefined ? undefined : checkSlot(range.to, 'to')
  const names = store.list(`${computed(pid)}/slot`, {
    ...(from !== undefined && { start: slotKey(from) }),
    ...(to !== undefined && to < MAX_SLOT && { end: endAfter(to) }),
    ...(range.limit !== undefined && { limit: range.limit }),
  })
  return names.filter((name) => SLOT_NAME.test(name)).map(Number)
}
