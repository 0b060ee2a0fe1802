/**
 * The thread of `PlanThread`: decodes a batch of result writes or messages, plans it
 * (`planResults`, `WritePlan`) and answers the puts, every value packed into one transferred
 * buffer. It never touches the store.
 */
import { parentPort } from 'node:worker_threads'
import { DeviceError, decodeValue, type Message, type StoreOp } from '@aonode/core'
import { WritePlan } from './message-cache.ts'
import { READY, type PlanJob, type PlanReply } from './plan-thread.ts'
import { planResults, type PlannedResults } from './results.ts'

function planJob({ kind, encoded }: PlanJob): PlannedResults {
  if (kind === 'messages') {
    const plan = new WritePlan(undefined)
    const ids = (decodeValue(encoded) as Message[]).map((message) => plan.message(message))
    return { ids, ops: plan.ops }
  }
  const entries = decodeValue(encoded) as [string, number, Message, Message?][]
  return planResults(
    entries.map(([process, slot, result, snapshot]) =>
      snapshot === undefined ? { process, slot, result } : { process, slot, result, snapshot },
    ),
  )
}

function reply(
  ids: string[],
  ops: readonly StoreOp[],
): { reply: PlanReply; transfer: ArrayBuffer[] } {
  const keys: string[] = []
  const ifAbsent = new Uint8Array(ops.length)
  const ends = new Uint32Array(ops.length)
  let bytes = 0
  for (const op of ops) {
    if (op.op !== 'put') throw new Error(`a write plan holds a ${op.op}, not a put`)
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

parentPort?.on('message', (job: PlanJob) => {
  try {
    const { ids, ops } = planJob(job)
    const answer = reply(ids, ops)
    parentPort?.postMessage(answer.reply, answer.transfer)
  } catch (error) {
    // A bad result (e.g. a reserved key) is the caller's 4xx, as when planned on its own thread.
    const known = DeviceError.is(error)
    const failure: PlanReply = {
      error: {
        code: known ? error.code : 'DEVICE_FAILED',
        message: error instanceof Error ? error.message : String(error),
        status: known ? error.status : 500,
      },
    }
    parentPort?.postMessage(failure)
  }
})
parentPort?.postMessage(READY)
