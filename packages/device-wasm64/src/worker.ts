/**
 * The worker thread that owns one process's WASM instance. It boots (fresh, or from a base
 * snapshot plus a journal of messages to replay), then serves calls from the channel until the host
 * terminates it. A runaway call only ever blocks this thread.
 */
import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads'
import {
  ANSWERED,
  ANSWER_HEADER,
  APPLIED,
  ELAPSED_US,
  COUNT,
  ENV_LENGTH,
  HALF_BYTES,
  MSG_HEADER,
  OFFSET,
  ON_PORT,
  OP,
  OP_COMPUTE,
  OP_SNAPSHOT,
  PROGRESS,
  READY,
  READY_FAILED,
  READY_OK,
  REQUEST,
  RESPONSE,
  STARTED_F64,
  requestSlot,
  STATUS,
  STATUS_MEMORY,
  STATUS_OK,
  STATUS_SEQUENCE,
  STATUS_TRAP,
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

/** A batch too big for the data block, sent on the port. */
export interface PortBatch {
  readonly env: Uint8Array
  readonly msgs: readonly Uint8Array[]
  readonly timestamps: readonly number[]
}

const input = workerData as WorkerInput
const control = new Int32Array(input.control)
const clock = new Float64Array(input.control)
const data = new Uint8Array(input.data)
const view = new DataView(input.data)
const { port } = input
const cap = input.maxPages * PAGE
/** Messages applied since boot (the journal replay is part of boot). */
let applied = 0

function signal(sequence: number): void {
  Atomics.store(control, RESPONSE, sequence)
  Atomics.notify(control, RESPONSE)
}

function readBatch(slot: number, offset: number): PortBatch {
  if (control[slot + ON_PORT] === 1) return receiveMessageOnPort(port)?.message as PortBatch
  const count = control[slot + COUNT] as number
  const envLength = control[slot + ENV_LENGTH] as number
  const msgs: Uint8Array[] = []
  const timestamps: number[] = []
  let at = offset + envLength
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(at, true)
    timestamps.push(view.getFloat64(at + 4, true))
    msgs.push(data.subarray(at + MSG_HEADER, at + MSG_HEADER + length))
    at += MSG_HEADER + length
  }
  return { env: data.subarray(offset, offset + envLength), msgs, timestamps }
}

/**
 * Runs the chunk in order until it ends or a message traps or outgrows the memory cap (the host
 * then rebuilds the instance, so nothing after it may run here).
 */
function compute(runtime: Runtime, slot: number): void {
  if (control[slot + APPLIED] !== applied) {
    control[slot + STATUS] = STATUS_SEQUENCE
    port.postMessage(
      `the batch starts after message ${control[slot + APPLIED]}, the worker is at ${applied}`,
    )
    return
  }
  control[slot + ANSWERED] = 0
  const offset = control[slot + OFFSET] as number
  const { env, msgs, timestamps } = readBatch(slot, offset)
  const answers: Uint8Array[] = []
  let trap: string | undefined
  control[slot + STATUS] = STATUS_OK
  const started = performance.now()
  try {
    for (let i = 0; i < msgs.length; i++) {
      clock[STARTED_F64] = Date.now()
      Atomics.store(control, PROGRESS, i)
      const answer = runtime.call(msgs[i] as Uint8Array, env, timestamps[i] as number)
      applied += 1
      if (runtime.memoryBytes() > cap) {
        control[slot + STATUS] = STATUS_MEMORY
        break
      }
      answers.push(answer)
    }
  } catch (error) {
    trap = error instanceof Error ? error.message : String(error)
    control[slot + STATUS] = STATUS_TRAP
  }
  control[slot + ELAPSED_US] = Math.min(
    2 ** 31 - 1,
    Math.round((performance.now() - started) * 1000),
  )
  control[slot + ANSWERED] = answers.length
  let size = 0
  for (const answer of answers) size += ANSWER_HEADER + answer.byteLength
  if (size <= HALF_BYTES) {
    let at = offset
    for (const answer of answers) {
      view.setUint32(at, answer.byteLength, true)
      data.set(answer, at + ANSWER_HEADER)
      at += ANSWER_HEADER + answer.byteLength
    }
    control[slot + ON_PORT] = 0
  } else {
    // Copied, not transferred: small answers share Buffer's pool.
    port.postMessage(answers)
    control[slot + ON_PORT] = 1
  }
  // After the answers: the host reads them first.
  if (trap !== undefined) port.postMessage(trap)
}

function serve(runtime: Runtime): never {
  let served = 0
  for (;;) {
    // Sleep until the host posts the next request; one already posted is served at once
    // (spinning here measured slower: it takes the host's core).
    Atomics.wait(control, REQUEST, served)
    if (Atomics.load(control, REQUEST) === served) continue
    // Requests are served once each, in order, whatever woke this thread.
    const sequence = served + 1
    const slot = requestSlot(sequence)
    try {
      if (control[slot + OP] === OP_COMPUTE) compute(runtime, slot)
      else if (control[slot + OP] === OP_SNAPSHOT) {
        const snapshot = runtime.snapshot()
        port.postMessage(snapshot, [
          snapshot.data.buffer as ArrayBuffer,
          snapshot.pages.buffer as ArrayBuffer,
        ])
        control[slot + STATUS] = STATUS_OK
      }
    } catch (error) {
      port.postMessage(error instanceof Error ? error.message : String(error))
      control[slot + STATUS] = STATUS_TRAP
    }
    served = sequence
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
