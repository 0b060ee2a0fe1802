import {
  badRequest,
  toInteger,
  type Message,
  type Store,
  type StoreOp,
  type Value,
} from '@aonode/core'
import { checkId, MAX_SLOT, slotKey, SLOT_DIGITS } from './keys.ts'
import { readMessageAt, WritePlan } from './message-cache.ts'

/**
 * Process results (for process@1.0), HyperBEAM's `dev_process_cache` layout with its state-ID links
 * replaced by per-run indexes:
 *
 *   computed/<PID>/slot/<slot>           the state's record, naming its ID (slot zero-padded to 12 digits)
 *   computed/<PID>/snapshot/<slot>       the snapshot's record
 *   computed/<PID>/ids/<first>-<last>    the state IDs of slots first..last (32 bytes each, in order),
 *                                        one entry per run of consecutive slots written together
 *
 * A link per state ID (`computed/<PID>/<state ID>`, what earlier versions wrote and still read) is
 * an insert at a random key: in LMDB each one dirties a B-tree page, which cost more than the rest
 * of a slot's write. A run's index is one entry at an increasing key. Reading by state ID scans a
 * process's runs newest first (about 3 KB per 100 slots) and checks the slot's record names that
 * ID, so a state ID whose slot was rewritten with another state reads as absent.
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
const RUN_NAME = new RegExp(`^(\\d{${SLOT_DIGITS}})-(\\d{${SLOT_DIGITS}})$`)
/** Bytes of a state ID in a run's index: the 43-character ID decoded from base64url. */
const ID_BYTES = 32

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
  const { ids, ops } = planResults(writes)
  if (ops.length > 0) await store.batch(ops)
  return ids
}

/** The state IDs of a batch of result writes, and the store operations that write it. */
export interface PlannedResults {
  readonly ids: string[]
  readonly ops: StoreOp[]
}

/**
 * Plans `writes` without a store (the work of `writeResults` before its commit): the state IDs and
 * encodings, which is most of a slot's write and can run on another thread (`PlanThread`).
 */
export function planResults(writes: readonly ResultWrite[]): PlannedResults {
  // Every write is checked before anything is planned, so a bad one writes nothing.
  const slots = writes.map((write) => {
    checkId(write.process, 'process')
    return checkSlot(write.slot)
  })
  // Small nested messages of a result (e.g. `results/output`) live in its record: fewer store writes.
  const plan = new WritePlan(undefined, { inlineSmall: true })
  const runs = new RunIndexes()
  const ids = writes.map(({ process, result, snapshot }, index) => {
    const slot = slots[index] as number
    const prefix = runs.at(process, slot)
    const state = plan.record(result)
    runs.add(state.id)
    const padded = slotKey(slot)
    plan.ops.push({ op: 'put', key: `${prefix}slot/${padded}`, value: state.value })
    if (snapshot !== undefined) {
      plan.ops.push({
        op: 'put',
        key: `${prefix}snapshot/${padded}`,
        value: plan.record(snapshot).value,
      })
    }
    return state.id
  })
  runs.plan(plan.ops)
  return { ids, ops: plan.ops }
}

/** Collects the state IDs of a batch into runs of consecutive slots of one process. */
class RunIndexes {
  private readonly done: { key: string; ids: string[] }[] = []
  private pid = ''
  private prefix = ''
  private first = -1
  private next = -1
  private ids: string[] = []

  /** Starts a new run unless `slot` of `pid` continues the current one; answers the process prefix. */
  at(pid: string, slot: number): string {
    if (pid !== this.pid || slot !== this.next) {
      this.close()
      if (pid !== this.pid) {
        this.pid = pid
        this.prefix = `${computed(pid)}/`
      }
      this.first = slot
    }
    this.next = slot + 1
    return this.prefix
  }

  add(stateId: string): void {
    this.ids.push(stateId)
  }

  /** One put per run; a run written again with the same slots replaces its index. */
  plan(ops: StoreOp[]): void {
    this.close()
    for (const { key, ids } of this.done) {
      const value = new Uint8Array(ids.length * ID_BYTES)
      ids.forEach((stateId, i) => value.set(Buffer.from(stateId, 'base64url'), i * ID_BYTES))
      ops.push({ op: 'put', key, value })
    }
  }

  private close(): void {
    if (this.ids.length === 0) return
    const range = `${slotKey(this.first)}-${slotKey(this.next - 1)}`
    this.done.push({ key: `${this.prefix}ids/${range}`, ids: this.ids })
    this.ids = []
  }
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
  const linked = readMessageAt(store, `${computed(pid)}/${stateId}`, { id: stateId })
  if (linked !== undefined) return linked
  for (const slot of slotsNamed(store, pid, stateId)) {
    // A slot rewritten with another state since names another ID: look further back.
    const result = readMessageAt(store, slotEntry(pid, slot), { id: stateId })
    if (result !== undefined) return result
  }
  return undefined
}

/** The slots whose run index lists `stateId`, newest run first. */
function* slotsNamed(store: Store, pid: string, stateId: string): Generator<number> {
  const needle = Buffer.from(stateId, 'base64url')
  const group = `${computed(pid)}/ids`
  for (const name of store.list(group, { reverse: true })) {
    const range = RUN_NAME.exec(name)
    const index = range === null ? undefined : store.read(`${group}/${name}`)
    if (range === null || index === undefined) continue
    const bytes = Buffer.from(index.buffer, index.byteOffset, index.byteLength)
    for (let at = bytes.indexOf(needle); at >= 0; at = bytes.indexOf(needle, at + 1)) {
      if (at % ID_BYTES === 0) yield Number(range[1]) + at / ID_BYTES
    }
  }
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
