/**
 * The execution-device protocol that `process@1.0` speaks (HyperBEAM §4.3–§4.7). An execution device
 * (`wasm64@1.0`, `lua@5.3a`, `test-exec@1.0`, or a third party's) implements four keys; process@1.0
 * calls them through `ctx.resolve` with `device` set to the execution device:
 *
 * | key         | base                                  | req                   | returns                                   |
 * |-------------|---------------------------------------|-----------------------|-------------------------------------------|
 * | `init`      | process state (definition + `process`) | `{path: 'init'}`      | state with live handles under `priv`      |
 * | `compute`   | state (live handles under `priv`)      | the assignment        | new state with `results`                  |
 * | `snapshot`  | state                                  | `{path: 'snapshot'}`  | a message (binaries) to restore from      |
 * | `normalize` | state + `snapshot` (from `snapshot`)   | `{path: 'normalize'}` | state with live handles rebuilt           |
 *
 * The assignment (`req` of `compute`) carries `slot`, `process`, `timestamp`, `block-height`,
 * `hash-chain` and `body` (the scheduled message). `results` is `{output?, outbox?: {1: msg, ...},
 * error?}`; outbox entries with a `target` are pushed by process@1.0. A thrown error becomes the
 * slot's error result; the state stays as before that slot.
 *
 * Optional key `compute-batch` (a device may omit it; process@1.0 then calls `compute` per slot):
 *
 * | key             | base                         | req                                        | returns                          |
 * |-----------------|------------------------------|--------------------------------------------|----------------------------------|
 * | `compute-batch` | state (as for `compute`)     | `{path: 'compute-batch', assignments: [..]}` | `{outcomes: [outcome per assignment]}` |
 *
 * Exactly the semantics of `compute` once per assignment, in order, each on the state the previous
 * one left: outcome `i` is `{state}` (the state after assignment `i`, with its `results`) or, where
 * `compute` would have thrown, `{error, code?}` (the error's message and DeviceError code); a failed
 * assignment leaves the state as before it and the next one continues from there. The key either
 * throws before applying any assignment (the caller then falls back to `compute` per slot) or
 * answers one outcome per assignment. Live handles are shared: after the call only the last state
 * is current, so a caller snapshots no earlier state than the last one of the run.
 *
 * An answer may also carry `run-ahead: true`: the device applies `compute-batch` calls to the live
 * handle in the order they are made, and an outcome's state follows from the live handle and the
 * assignment alone (the base's other keys are carried over unchanged). The caller may then make its
 * next call, on the same base, before this one answers, so that the device never waits for the
 * caller between runs. A call that throws while a later one is already made may see that later one
 * applied: the caller then drops the live handle (process@1.0 reloads its newest snapshot).
 */
export const EXECUTION_KEYS = ['init', 'compute', 'snapshot', 'normalize'] as const
export type ExecutionKey = (typeof EXECUTION_KEYS)[number]

/** The optional batched `compute` key (see above). */
export const COMPUTE_BATCH_KEY = 'compute-batch'

/** A `compute-batch` answer's flag: the next call may be made before this one answers (see above). */
export const RUN_AHEAD_KEY = 'run-ahead'

/** Where execution devices keep their live handle inside a state's private keys. */
export const PRIVATE_KEY = 'priv'
