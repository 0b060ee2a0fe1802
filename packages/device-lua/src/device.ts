import {
  COMPUTE_BATCH_KEY,
  DeviceError,
  Live,
  PRIVATE_KEY,
  defineDevice,
  getKey,
  getOwn,
  isMessage,
  withoutPrivate,
  type Device,
  type Message,
  type ResolveContext,
  type Value,
} from '@aonode/core'
import { DEVICE, findModules } from './modules.ts'
import { LuaProcess, SANDBOXED, functionName } from './process.ts'
import type { LuaLimits } from './vm.ts'
import { textOf } from './text.ts'

export interface LuaDeviceOptions {
  /** VM instructions one call (a slot, a module load, a key) may run. Default 100,000,000. */
  readonly maxInstructions?: number
  /** Milliseconds one call may spend in Lua (awaited `ao.resolve` time excluded). Default 10,000. */
  readonly timeoutMs?: number
  /** Bytes one process's Lua heap may hold. Default 256 MiB. */
  readonly memoryBytes?: number
  /** A long call yields to the event loop this often (ms), so other processes run. Default 20. */
  readonly sliceMs?: number
  /** Devices `ao.resolve` may reach when the process sets no `device-sandbox`. */
  readonly deviceSandbox?: readonly string[]
}

export const DEFAULT_OPTIONS = {
  maxInstructions: 100_000_000,
  timeoutMs: 10_000,
  memoryBytes: 256 * 1024 * 1024,
  sliceMs: 20,
  deviceSandbox: ['message@1.0'],
} as const

/** Where the live process sits under the state's `priv`. */
const LIVE_KEY = 'lua'

function liveOf(base: Message): LuaProcess | undefined {
  const priv = getOwn(base, PRIVATE_KEY)
  if (!isMessage(priv)) return undefined
  const live = getOwn(priv, LIVE_KEY)
  return live instanceof Live && live.value instanceof LuaProcess ? live.value : undefined
}

/** The base's private keys with the live process under `lua`. */
function privWith(base: Message, process: LuaProcess): Message {
  const priv = getOwn(base, PRIVATE_KEY)
  return { ...(isMessage(priv) ? priv : {}), [LIVE_KEY]: new Live(process) }
}

function withLive(state: Message, base: Message, process: LuaProcess): Message {
  return { ...state, [PRIVATE_KEY]: privWith(base, process) }
}

function sandboxOf(base: Message): string[] {
  const sandbox = getKey(base, 'sandbox')
  if (sandbox === true || sandbox === 'true') return SANDBOXED
  if (Array.isArray(sandbox)) return (sandbox as readonly Value[]).map(String)
  if (isMessage(sandbox)) return Object.keys(sandbox)
  return []
}

function allowedOf(base: Message, fallback: readonly string[]): Set<string> {
  const listed = getKey(base, 'device-sandbox')
  if (listed === undefined) return new Set(fallback.map((name) => name.toLowerCase()))
  const names = Array.isArray(listed)
    ? (listed as readonly Value[]).map(String)
    : textOf(listed)
        .split(',')
        .map((name) => name.trim())
  return new Set([...names, 'structured@1.0'].map((name) => name.toLowerCase()))
}

function parametersOf(base: Message, req: Message): readonly Value[] | undefined {
  const body = getKey(req, 'body')
  const params =
    (isMessage(body) ? getKey(body, 'parameters') : undefined) ??
    getKey(req, 'parameters') ??
    getKey(base, 'parameters')
  return Array.isArray(params) ? (params as readonly Value[]) : undefined
}

/** `lua@5.3a` (alias `lua@5.4`): Lua process logic on wasmoon (Lua 5.4 in WASM). */
export function createLuaDevice(options: LuaDeviceOptions = {}): Device {
  const limits: LuaLimits = {
    maxInstructions: options.maxInstructions ?? DEFAULT_OPTIONS.maxInstructions,
    timeoutMs: options.timeoutMs ?? DEFAULT_OPTIONS.timeoutMs,
    memoryBytes: options.memoryBytes ?? DEFAULT_OPTIONS.memoryBytes,
    sliceMs: options.sliceMs ?? DEFAULT_OPTIONS.sliceMs,
  }
  const defaultSandbox = options.deviceSandbox ?? DEFAULT_OPTIONS.deviceSandbox

  async function spawn(base: Message, ctx: ResolveContext): Promise<LuaProcess> {
    const modules = await findModules(base, ctx)
    return LuaProcess.spawn(modules, sandboxOf(base), allowedOf(base, defaultSandbox), limits, ctx)
  }

  function requireLive(base: Message, key: string): LuaProcess {
    const live = liveOf(base)
    if (live === undefined) {
      throw new DeviceError(
        'BAD_REQUEST',
        `lua: ${key} needs a live Lua state under priv: call init (or normalize with a snapshot) first`,
        { device: DEVICE, key },
      )
    }
    return live
  }

  return defineDevice({
    info: {
      name: DEVICE,
      aliases: ['lua@5.4'],
      core: '^0.1.0',
      description: 'Lua process logic on wasmoon (Lua 5.4 in WASM); runs hyper-aos unmodified',
    },
    excludes: ['keys', 'set', 'remove', 'id', 'commit', 'verify', 'committers', 'path'],
    keys: {
      async init(base, _req, ctx) {
        return withLive(base, base, await spawn(base, ctx))
      },

      async compute(base, req, ctx) {
        const live = requireLive(base, 'compute')
        const fn = functionName('compute', base, req)
        const state = await live.exclusive(() => live.compute(fn, base, req, ctx))
        return withLive(state, base, live)
      },

      async [COMPUTE_BATCH_KEY](base, req, ctx) {
        const live = requireLive(base, COMPUTE_BATCH_KEY)
        const assignments = getOwn(req, 'assignments')
        if (!Array.isArray(assignments) || !assignments.every(isMessage)) {
          throw new DeviceError('BAD_REQUEST', 'lua: "assignments" must be a list of assignments', {
            device: DEVICE,
            key: COMPUTE_BATCH_KEY,
          })
        }
        const outcomes = await live.exclusive(() => live.computeBatch(base, assignments, ctx))
        const priv = privWith(base, live)
        return {
          outcomes: outcomes.map((outcome) =>
            'state' in outcome ? { state: { ...outcome.state, [PRIVATE_KEY]: priv } } : outcome,
          ),
        }
      },

      snapshot(base) {
        const live = requireLive(base, 'snapshot')
        return live.exclusive(() => Promise.resolve(live.vm.snapshot()))
      },

      async normalize(base, _req, ctx) {
        if (liveOf(base) !== undefined) return base
        const snapshot = getOwn(base, 'snapshot')
        const state: Record<string, Value> = { ...base }
        delete state['snapshot']
        if (!isMessage(snapshot)) return withLive(state, base, await spawn(state, ctx))
        const live = await LuaProcess.restore(snapshot, allowedOf(base, defaultSandbox), limits)
        return withLive(state, base, live)
      },

      functions(base) {
        const live = requireLive(base, 'functions')
        return live.exclusive(() => Promise.resolve(live.functions()))
      },
    },

    /** Any other key calls the Lua global of that name (keys present in the base are data). */
    async fallback(key, base, req, ctx) {
      const present = getKey(base, key)
      if (present !== undefined) return present
      const live = liveOf(base) ?? (await spawn(base, ctx))
      const fn = functionName(key, base, req)
      const params = parametersOf(base, req) ?? [withoutPrivate(base), req, {}]
      const value = await live.exclusive(() => live.invoke(fn, params, ctx))
      return isMessage(value) ? withLive(value, base, live) : value
    },
  })
}
