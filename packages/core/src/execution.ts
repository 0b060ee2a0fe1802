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
 */
export const EXECUTION_KEYS = ['init', 'compute', 'snapshot', 'normalize'] as const
export type ExecutionKey = (typeof EXECUTION_KEYS)[number]

/** Where execution devices keep their live handle inside a state's private keys. */
export const PRIVATE_KEY = 'priv'
