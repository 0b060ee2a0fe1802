/**
 * The call channel between a process's host (main thread) and its worker: a small control block
 * and a data block, both SharedArrayBuffers, plus a MessagePort for what does not fit (big payloads,
 * snapshots, error text). A call is: write the request, bump `REQUEST`, wait for `RESPONSE` to
 * match. No structured clone on the hot path.
 *
 * A compute request carries a chunk of a batch's messages, run in order in one hop. The data block
 * has two halves: the host fills one with the next chunk while the worker runs the chunk in the
 * other (and reads one chunk's answers while the worker computes the next). In the request's half
 * (`OFFSET`): `env`, then per message `[u32 length][f64 timestamp][msg bytes]`; out, in the same
 * half: per answered message `[u32 length][answer bytes]`. When either does not fit, it travels on
 * the port instead.
 */

/** Bytes of the data block; each request and its answers use one half. */
export const DATA_BYTES = 1 << 20
export const HALF_BYTES = DATA_BYTES / 2

/** Int32 slots of the control block. */
export const REQUEST = 0
export const RESPONSE = 1
export const OP = 2
export const STATUS = 3
/** Messages in the request's chunk. */
export const COUNT = 4
export const ENV_LENGTH = 5
/** Messages of the batch that ran to an answer (the rest were not run, or the last one failed). */
export const ANSWERED = 6
/** Set when the payload or the result travels on the port instead of the data block. */
export const ON_PORT = 7
export const READY = 8
/**
 * Messages this worker must have applied since it booted before the batch: the host's count,
 * checked by the worker, so a batch is never applied twice or out of order.
 */
export const APPLIED = 9
/** The index in the batch of the message running now (for the per-message time limit). */
export const PROGRESS = 10
/** Byte offset of the request's half of the data block (0 or HALF_BYTES). */
export const OFFSET = 11
/** Float64 slot (index in a Float64Array over the same block): when that message started, epoch ms. */
export const STARTED_F64 = 8
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
