/**
 * The thread of `ResultEncoder`: decodes a batch of result writes, plans it (`planResults`) and
 * answers the puts, every value packed into one transferred buffer. It never touches the store.
 */
import { parentPort } from 'node:worker_threads'
import { DeviceError, decodeValue, type Message } from '@aonode/core'
import { READY, type EncodedWrites, type EncoderReply } from './result-encoder.ts'
import { planResults, type ResultWrite } from './results.ts'

function decodeWrites(encoded: EncodedWrites): ResultWrite[] {
  const entries = decodeValue(encoded) as [string, number, Message, Message?][]
  return entries.map(([process, slot, result, snapshot]) =>
    snapshot === undefined ? { process, slot, result } : { process, slot, result, snapshot },
  )
}

function plan(encoded: EncodedWrites): { reply: EncoderReply; transfer: ArrayBuffer[] } {
  const { ids, ops } = planResults(decodeWrites(encoded))
  const keys: string[] = []
  const ifAbsent = new Uint8Array(ops.length)
  const ends = new Uint32Array(ops.length)
  let bytes = 0
  for (const op of ops) {
    if (op.op !== 'put') throw new Error(`planResults planned a ${op.op}, not a put`)
    bytes += op.value.byteLength
  }
  const values = new Uint8Array(bytes)
  let at = 0
  ops.forEach((op, i) => {
    if (op.op !== 'put') return
    keys.push(op.key)
    if (op.ifAbsent === true) ifAbsent[i] = 1
    values.set(op.value, at)
    at += op.value.byteLength
    ends[i] = at
  })
  return {
    reply: { ids, keys, ifAbsent, ends, values },
    transfer: [values.buffer, ends.buffer, ifAbsent.buffer],
  }
}

parentPort?.on('message', (encoded: EncodedWrites) => {
  try {
    const { reply, transfer } = plan(encoded)
    parentPort?.postMessage(reply, transfer)
  } catch (error) {
    // A bad result (e.g. a reserved key) is the caller's 4xx, as when planned on its own thread.
    const known = DeviceError.is(error)
    const reply: EncoderReply = {
      error: {
        code: known ? error.code : 'DEVICE_FAILED',
        message: error instanceof Error ? error.message : String(error),
        status: known ? error.status : 500,
      },
    }
    parentPort?.postMessage(reply)
  }
})
parentPort?.postMessage(READY)
