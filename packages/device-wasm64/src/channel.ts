/**
 * The call channel between a process's host (main thread) and its worker: a small control block
 * and a data block, both SharedArrayBuffers, plus a MessagePort for what does not fit (big payloads,
 * snapshots, error text). A call is: write the request, bump `REQUEST`, wait for `RESPONSE` to
 * match. No structured clone on the hot path.
 */

/** Int32 slots of the control block. */
export const REQUEST = 0
export const RESPONSE = 1
export const OP = 2
export const STATUS = 3
export const MSG_LENGTH = 4
export const ENV_LENGTH = 5
export const RESULT_LENGTH = 6
/** Set when the payload or the result travels on the port instead of the data block. */
export const ON_PORT = 7
export const READY = 8
/** Float64 slot (index in a Float64Array over the same block) for the message timestamp. */
export const TIMESTAMP_F64 = 8
export const CONTROL_BYTES = 128

export const OP_COMPUTE = 1
export const OP_SNAPSHOT = 2

export const STATUS_OK = 0
/** The module trapped or the host threw; the text is on the port. */
export const STATUS_TRAP = 1
/** The memory grew past the cap. */
export const STATUS_MEMORY = 2

export const READY_OK = 1
export const READY_FAILED = 2
