/**
 * The call channel between a process's host (main thread) and its worker: a small control block
 * and a data block, both SharedArrayBuffers, plus a MessagePort for what does not fit (big payloads,
 * snapshots, error text). A call is: write the request into its slot, bump `REQUEST`, wait for
 * `RESPONSE` to reach it. No structured clone on the hot path.
 *
 * A compute request carries a chunk of a batch's messages, run in order in one hop. The data block
 * has two halves: the host fills one with the next chunk while the worker runs the chunk in the
 * other (and reads one chunk's answers while the worker computes the next). In the request's half
 * (`OFFSET`): `env`, then per message `[u32 length][f64 timestamp][msg bytes]`; out, in the same
 * half: per answered message `[u32 length][answer bytes]`. When either does not fit, it travels on
 * the port instead. Up to two requests are outstanding at once, one per half.
 */

/** Bytes of the data block; each request and its answers use one half. */
export const DATA_BYTES = 1 << 20
export const HALF_BYTES = DATA_BYTES / 2

/** Int32 slots of the control block shared by all requests. */
/** The last request the host posted (a sequence number; requests are served in order). */
export const REQUEST = 0
/** The last request the worker finished. */
export const RESPONSE = 1
export const READY = 2
/** The index in its chunk of the message running now (for the per-message time limit). */
export const PROGRESS = 3
/** Float64 slot (index in a Float64Array over the same block): when that message started, epoch ms. */
export const STARTED_F64 = 2

/**
 * A request's own fields, at `requestSlot(sequence) + field`. Two slots, by the sequence number's
 * parity: the host posts the next chunk while the worker runs the current one, so the worker goes
 * on without waiting for the host between chunks.
 */
export const OP = 0
export const STATUS = 1
/** Messages in the request's chunk. */
export const COUNT = 2
export const ENV_LENGTH = 3
/** Messages of the chunk that ran to an answer (the rest were not run, or the last one failed). */
export const ANSWERED = 4
/** Set when the payload or the answers travel on the port instead of the data block. */
export const ON_PORT = 5
/**
 * Messages this worker must have applied since it booted before the chunk: the host's count,
 * checked by the worker, so a chunk is never applied twice or out of order (a chunk posted behind
 * one that fails finds the worker short of it, and nothing of it runs).
 */
export const APPLIED = 6
/** Byte offset of the request's half of the data block (0 or HALF_BYTES). */
export const OFFSET = 7
/** Microseconds the worker spent running the chunk (what replaying its messages would cost). */
export const ELAPSED_US = 8
const REQUEST_FIELDS = 9
const FIRST_REQUEST_SLOT = 8

/** Where request `sequence`'s fields start in the control block. */
export const requestSlot = (sequence: number): number =>
  FIRST_REQUEST_SLOT + (sequence & 1) * REQUEST_FIELDS

export const CONTROL_BYTES = 128

export const OP_COMPUTE = 1
export const OP_SNAPSHOT = 2

export const STATUS_OK = 0
/** The module trapped or the host threw; the text is on the port. */
export const STATUS_TRAP = 1
/** The memory grew past the cap. */
export const STATUS_MEMORY = 2
/** The batch did not start where the worker stands (`APPLIED` mismatch); nothing ran. */
export const STATUS_SEQUENCE = 3

export const READY_OK = 1
export const READY_FAILED = 2

/** Bytes of a message's frame header in the data block: u32 length + f64 timestamp. */
export const MSG_HEADER = 12
/** Bytes of an answer's frame header: u32 length. */
export const ANSWER_HEADER = 4
