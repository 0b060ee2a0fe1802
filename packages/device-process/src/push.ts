import {
  DeviceError,
  defineDevice,
  notFound,
  getKey,
  getOwn,
  isId,
  isMessage,
  toInteger,
  type Device,
  type Message,
  type ResolveContext,
  type Value,
} from '@aonode/core'
import { resolveOptions, type ProcessOptions } from './process.ts'
import { DEFAULT_DEVICES, PROCESS_DEVICE, requireProcess } from './state.ts'

export const PUSH_DEVICE = 'push@1.0'

const noSlot = (pid: string): DeviceError =>
  new DeviceError('DEVICE_FAILED', `scheduling on ${pid} answered no slot`, { device: PUSH_DEVICE })

const errorText = (error: unknown): string =>
  error instanceof Error ? error.message : `non-error thrown: ${String(error)}`

/** Outbox keys in numeric order (`1`, `2`, … `10`), then any others. */
const outboxOrder = (a: string, b: string): number =>
  (Number(a) || Number.MAX_SAFE_INTEGER) - (Number(b) || Number.MAX_SAFE_INTEGER) ||
  a.localeCompare(b)

/**
 * `push@1.0` (HyperBEAM §4.9): after a slot computes, every outbox message whose `target` is a process
 * hosted here is scheduled on it (with `from-process`), then pushed from there in turn, up to
 * `result-depth` hops. Answers `{process, slot, <outbox key>: {target, slot, resulted-in} | {error}}`.
 */
export function createPushDevice(options: ProcessOptions = {}): Device {
  async function push(
    base: Message,
    slot: number,
    depth: number,
    ctx: ResolveContext,
  ): Promise<Message> {
    const process = requireProcess(base)
    const asProcess = { ...process.base, device: PROCESS_DEVICE }
    const state = await ctx.resolve(asProcess, { path: 'compute', slot })
    const results = isMessage(state) ? getOwn(state, 'results') : undefined
    const outbox = isMessage(results) ? getOwn(results, 'outbox') : undefined
    const answer: Record<string, Value> = { process: process.pid, slot }
    if (!isMessage(outbox)) return answer
    if (depth <= 0) {
      answer['depth-exhausted'] = true
      return answer
    }
    for (const key of Object.keys(outbox).sort(outboxOrder)) {
      const message = outbox[key]
      if (!isMessage(message)) continue
      const target = getKey(message, 'target')
      if (!isId(target)) {
        answer[key] = { error: 'outbox message has no "target" process ID' }
        continue
      }
      try {
        answer[key] = await deliver(process.pid, target, message, depth, ctx)
      } catch (error) {
        answer[key] = { target, error: errorText(error) }
      }
    }
    return answer
  }

  /** Schedules one outbox message on a local target process, then pushes its results onward. */
  async function deliver(
    from: string,
    target: string,
    message: Message,
    depth: number,
    ctx: ResolveContext,
  ): Promise<Message> {
    const definition = await ctx.resolve(
      { device: DEFAULT_DEVICES.scheduler },
      { path: 'definition', process: target },
    )
    if (!isMessage(definition)) throw notFound(`process ${target} is not hosted here`)
    const targetBase: Message = { device: PROCESS_DEVICE, process: definition }
    const body: Message = {
      ...message,
      'data-protocol': 'ao',
      variant: 'ao.N.1',
      type: getKey(message, 'type') ?? 'Message',
      'from-process': from,
    }
    const assignment = await ctx.resolve(targetBase, { path: 'schedule', method: 'POST', body })
    const slot = isMessage(assignment) ? toInteger(getOwn(assignment, 'slot')) : undefined
    if (slot === undefined) throw noSlot(target)
    const resultedIn = await ctx.resolve(targetBase, {
      path: 'push',
      slot,
      'result-depth': depth - 1,
    })
    return { target, slot, 'resulted-in': resultedIn }
  }

  return defineDevice({
    info: {
      name: PUSH_DEVICE,
      core: '^0.1.0',
      description: 'Delivers outbox messages to local processes, recursively',
    },
    keys: {
      async push(base, req, ctx) {
        const depth =
          toInteger(getKey(req, 'result-depth')) ??
          resolveOptions(options, ctx.node.devices?.[PROCESS_DEVICE]).pushDepth
        let slot = toInteger(getKey(req, 'slot'))
        if (slot === undefined) {
          // No slot: schedule the request first (HyperBEAM `schedule_initial_message`).
          const process = requireProcess(base)
          const scheduleReq: Record<string, Value> = { ...req, path: 'schedule', method: 'POST' }
          delete scheduleReq['result-depth']
          const assignment = await ctx.resolve(
            { ...process.base, device: PROCESS_DEVICE },
            scheduleReq,
          )
          if (!isMessage(assignment)) throw noSlot(process.pid)
          // Pushing a definition spawns it (aoconnect's mainnet spawn): answer the assignment.
          const body = getOwn(assignment, 'body')
          const type = isMessage(body) ? getKey(body, 'type') : undefined
          if (typeof type === 'string' && type.toLowerCase() === 'process') return assignment
          slot = toInteger(getOwn(assignment, 'slot'))
          if (slot === undefined) throw noSlot(process.pid)
        }
        return push(base, slot, depth, ctx)
      },
    },
  })
}
