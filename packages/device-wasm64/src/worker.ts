/**
 * The worker thread that owns one process's WASM instance. It boots (fresh, or from a base
 * snapshot plus a journal of messages to replay), then serves calls from the channel until the host
 * terminates it. A runaway call only ever blocks this thread.
 */
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads'
import {
  ENV_LENGTH,
  MSG_LENGTH,
  ON_PORT,
  OP,
  OP_COMPUTE,
  OP_SNAPSHOT,
  READY,
  READY_FAILED,
  READY_OK,
  REQUEST,
  RESPONSE,
  RESULT_LENGTH,
  STATUS,
  STATUS_MEMORY,
  STATUS_OK,
  STATUS_TRAP,
  TIMESTAMP_F64,
} from './channel.ts'
import { PAGE, createRuntime, type InstanceSnapshot, type Runtime } from './runtime.ts'
import type { ImageInfo } from './wasm-binary.ts'

export interface WorkerInput {
  readonly module: WebAssembly.Module
  readonly info: Omit<ImageInfo, 'bytes'>
  readonly maxPages: number
  readonly control: SharedArrayBuffer
  readonly data: SharedArrayBuffer
  readonly port: MessagePort
  readonly base: InstanceSnapshot | undefined
  /** Messages computed after `base`, replayed in order: [msg JSON, env JSON, timestamp]. */
  readonly journal: readonly (readonly [Uint8Array, Uint8Array, number])[]
}

const input = workerData as WorkerInput
const control = new Int32Array(input.control)
const clock = new Float64Array(input.control)
const data = new Uint8Array(input.data)
const { port } = input
const cap = input.maxPages * PAGE

function signal(sequence: number): void {
  Atomics.store(control, RESPONSE, sequence)
  Atomics.notify(control, RESPONSE)
}

function compute(runtime: Runtime): void {
  let msg: Uint8Array
  let env: Uint8Array
  if (control[ON_PORT] === 1) {
    ;[msg, env] = receiveMessageOnPort(port)?.message as [Uint8Array, Uint8Array]
  } else {
    const msgLength = control[MSG_LENGTH] as number
    msg = data.subarray(0, msgLength)
    env = data.subarray(msgLength, msgLength + (control[ENV_LENGTH] as number))
  }
  const result = runtime.call(msg, env, clock[TIMESTAMP_F64] as number)
  if (runtime.memoryBytes() > cap) {
    control[STATUS] = STATUS_MEMORY
    return
  }
  if (result.byteLength <= data.byteLength) {
    data.set(result)
    control[ON_PORT] = 0
  } else {
    port.postMessage(result, [result.buffer as ArrayBuffer])
    control[ON_PORT] = 1
  }
  control[RESULT_LENGTH] = result.byteLength
  control[STATUS] = STATUS_OK
}

function serve(runtime: Runtime): never {
  let sequence = 0
  for (;;) {
    // Sleep until the host bumps REQUEST (spinning here measured slower: it takes the host's core).
    Atomics.wait(control, REQUEST, sequence)
    const next = Atomics.load(control, REQUEST)
    // A request is served once, whatever woke this thread.
    if (next === sequence) continue
    sequence = next
    try {
      if (control[OP] === OP_COMPUTE) compute(runtime)
      else if (control[OP] === OP_SNAPSHOT) {
        const snapshot = runtime.snapshot()
        port.postMessage(snapshot, [
          snapshot.data.buffer as ArrayBuffer,
          snapshot.pages.buffer as ArrayBuffer,
        ])
        control[STATUS] = STATUS_OK
      }
    } catch (error) {
      port.postMessage(error instanceof Error ? error.message : String(error))
      control[STATUS] = STATUS_TRAP
    }
    signal(sequence)
  }
}

function boot(): Runtime | undefined {
  try {
    const runtime = createRuntime(
      input.module,
      input.info as ImageInfo,
      { maxPages: input.maxPages },
      input.base,
    )
    for (const [msg, env, timestamp] of input.journal) runtime.call(msg, env, timestamp)
    Atomics.store(control, READY, READY_OK)
    return runtime
  } catch (error) {
    port.postMessage(error instanceof Error ? error.message : String(error))
    Atomics.store(control, READY, READY_FAILED)
    return undefined
  } finally {
    Atomics.notify(control, READY)
  }
}

const runtime = boot()
if (runtime !== undefined) serve(runtime)
