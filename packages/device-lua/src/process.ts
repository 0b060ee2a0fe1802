/**
 * The live Lua side of one process: its VM, the state table kept inside Lua between slots, and the
 * `ao.*` bridge back to the node. Only the keys that changed cross into Lua, and only the returned
 * table's keys cross back (tables that came from the host and were not replaced are reused as is).
 */
import {
  DeviceError,
  getKey,
  isMessage,
  isPrivateKey,
  normalizeKey,
  publicKeys,
  type Message,
  type ResolveContext,
  type Value,
} from '@aonode/core'
import { DEVICE, type LuaModule } from './modules.ts'
import { T_STRING, T_TABLE, type Pointer } from './raw.ts'
import { LuaVm, type HostRequest, type LuaLimits } from './vm.ts'
import { textOf } from './text.ts'

/** What `sandbox: true` removes (HyperBEAM dev_lua's default sandbox). */
export const SANDBOXED = [
  'io',
  'file',
  'os.execute',
  'os.exit',
  'os.getenv',
  'os.remove',
  'os.rename',
  'os.tmpname',
  'package',
  'loadfile',
  'require',
  'dofile',
  'load',
  'loadstring',
]

/** Key names remembered per process (a process with ever new keys decodes the rest each time). */
const MAX_KEY_NAMES = 1024

/** One assignment's outcome in `compute-batch`: the state after it, or its error. */
export type BatchOutcome = { state: Message } | { error: string; code?: string }

/** HyperBEAM: the function is `req.body.function` || `req.function` || `base.function` || the key. */
export function functionName(key: string, base: Message, req: Message): string {
  const body = getKey(req, 'body')
  const named =
    (isMessage(body) ? getKey(body, 'function') : undefined) ??
    getKey(req, 'function') ??
    getKey(base, 'function')
  return typeof named === 'string' && named !== '' ? named : key
}

export class LuaProcess {
  readonly vm: LuaVm
  /** Devices `ao.resolve` may reach (`device-sandbox`), lower-cased. */
  readonly allowed: ReadonlySet<string>
  /** The state this process last returned: keys still identical are not pushed again. */
  private last: Message | undefined
  /** Host values (tables, long strings) in the state table, pinned so their addresses stay theirs. */
  private readonly pinned = new Map<string, { address: number; value: Value }>()
  /** Names of the state's string keys by the key string's address (each string pinned in Lua). */
  private readonly keyNames = new Map<number, string>()
  /** The last call failed: the state table may hold its partial changes and is rebuilt. */
  private failed = false
  private queue: Promise<unknown> = Promise.resolve()

  private constructor(vm: LuaVm, allowed: ReadonlySet<string>) {
    this.vm = vm
    this.allowed = allowed
  }

  static async spawn(
    modules: readonly LuaModule[],
    sandbox: readonly string[],
    allowed: ReadonlySet<string>,
    limits: LuaLimits,
    ctx: ResolveContext,
  ): Promise<LuaProcess> {
    const vm = await LuaVm.create(limits)
    const process = new LuaProcess(vm, allowed)
    if (sandbox.length > 0) vm.callHost('sandbox', [sandbox])
    const onRequest = process.bridge(ctx)
    for (const module of modules) {
      try {
        await vm.runChunk(module.code, module.name, onRequest)
      } catch (error) {
        if (DeviceError.is(error) && error.status === 400) throw error
        throw new DeviceError(
          'BAD_REQUEST',
          `lua: module ${module.name} failed while loading: ${DeviceError.is(error) ? error.message : String(error)}`,
          { device: DEVICE, key: 'module', cause: error },
        )
      }
    }
    vm.callHost('install')
    return process
  }

  static async restore(
    snapshot: Message,
    allowed: ReadonlySet<string>,
    limits: LuaLimits,
  ): Promise<LuaProcess> {
    return new LuaProcess(await LuaVm.restore(snapshot, limits), allowed)
  }

  /** Runs `task` after every earlier call of this process (a Lua state runs one call at a time). */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task)
    this.queue = run.catch(() => undefined)
    return run
  }

  /**
   * One slot: `fn(state, assignment, {})` with the state table kept in Lua. Returns the new public
   * state (the returned table's keys) or throws that slot's error.
   */
  async compute(fn: string, base: Message, req: Message, ctx: ResolveContext): Promise<Message> {
    return this.computeOne(fn, base, req, this.bridge(ctx))
  }

  /**
   * `compute-batch`: each assignment as `compute` would run it, on the state the previous one left
   * as process@1.0 hands it over (its `results` removed, `at-slot` the previous assignment's slot; a
   * failed assignment leaves the state as before it). One outcome per assignment, in order.
   */
  async computeBatch(
    base: Message,
    assignments: readonly Message[],
    ctx: ResolveContext,
  ): Promise<BatchOutcome[]> {
    const onRequest = this.bridge(ctx)
    const outcomes: BatchOutcome[] = []
    const tracksSlot = Object.hasOwn(base, 'at-slot')
    let state = base
    let sliceStart = Date.now()
    for (const req of assignments) {
      try {
        state = await this.computeOne(functionName('compute', state, req), state, req, onRequest)
        outcomes.push({ state })
      } catch (error) {
        outcomes.push(
          DeviceError.is(error)
            ? { error: error.message, code: error.code }
            : { error: error instanceof Error ? error.message : String(error) },
        )
      }
      const next: Record<string, Value> = { ...state }
      delete next['results']
      if (tracksSlot) next['at-slot'] = req['slot'] ?? null
      state = next
      // A long batch still lets other processes run (as a long call does).
      if (Date.now() - sliceStart >= this.vm.limits.sliceMs) {
        await new Promise<void>((resolve) => setImmediate(resolve))
        sliceStart = Date.now()
      }
    }
    return outcomes
  }

  private async computeOne(
    fn: string,
    base: Message,
    req: Message,
    onRequest: HostRequest,
  ): Promise<Message> {
    const vm = this.vm
    const lua = vm.lua
    let index = 0
    try {
      const count = await vm.call(
        fn,
        seedOf(req),
        timeOf(req),
        (T) => {
          this.pushState(T, base)
          vm.pushValue(T, req, 0)
          lua._lua_createtable(T, 0, 0)
          return 3
        },
        onRequest,
      )
      index = this.outcome(vm.thread, count, fn)
      if (index === 0 || lua._lua_type(vm.thread, index) !== T_TABLE) {
        throw new DeviceError('UNPROCESSABLE', `lua: ${fn} must return the new state table`, {
          status: 422,
          device: DEVICE,
          key: fn,
        })
      }
    } catch (error) {
      // The failed call may have changed the state table in place: the next one gets a fresh
      // table built from its base, so a failed slot leaves the state as it was before it.
      this.last = undefined
      this.failed = true
      throw error
    }
    const T = vm.thread
    vm.setState(T, index)
    const state = this.readState(T, index)
    lua._lua_settop(T, 0)
    this.last = state
    return state
  }

  /** Any other key: `fn(base, req, {})` (or the request's `parameters`) on a copy of `base`. */
  async invoke(fn: string, params: readonly Value[], ctx: ResolveContext): Promise<Value> {
    const vm = this.vm
    const count = await vm.call(
      fn,
      [0, 0],
      0,
      (T) => {
        for (const param of params) vm.pushValue(T, param, 0)
        return params.length
      },
      this.bridge(ctx),
    )
    const T = vm.thread
    const index = this.outcome(T, count, fn)
    const value = index === 0 ? null : (vm.readValue(T, index) ?? null)
    vm.lua._lua_settop(T, 0)
    return value
  }

  functions(): Value {
    return this.vm.callHost('functions') ?? []
  }

  /**
   * HyperBEAM's return convention: `return status, value` with a status other than "ok" is an
   * error, a lone value is the result. Returns the result's index on the call thread (0: none).
   */
  private outcome(T: Pointer, count: number, fn: string): number {
    const vm = this.vm
    if (count >= 2 && vm.lua._lua_type(T, 1) === T_STRING) {
      const status = vm.readValue(T, 1)
      if (status !== 'ok') {
        const text = vm.errorText(T, 2)
        vm.lua._lua_settop(T, 0)
        throw new DeviceError('UNPROCESSABLE', text, { status: 422, device: DEVICE, key: fn })
      }
      return 2
    }
    return count === 0 ? 0 : 1
  }

  /** Pushes the state table, first bringing it in line with `base` (only changed keys cross). */
  private pushState(T: Pointer, base: Message): void {
    const vm = this.vm
    const lua = vm.lua
    const last = this.last
    if (this.failed || !vm.pushState(T)) {
      lua._lua_createtable(T, 0, 16)
      vm.setState(T, -1)
      this.failed = false
    }
    const table = lua._lua_gettop(T)
    for (const key of Object.keys(base)) {
      if (isPrivateKey(key)) continue
      const value = base[key] as Value
      if (last !== undefined && Object.hasOwn(last, key) && last[key] === value) continue
      vm.pushString(T, key)
      vm.pushValue(T, value, 0)
      const address = vm.identity(T, -1)
      if (address !== 0) {
        this.pinned.set(key, { address, value })
        vm.pin(T, key, -1)
      } else {
        this.pinned.delete(key)
      }
      lua._lua_rawset(T, table)
    }
    if (last === undefined) return
    for (const key of publicKeys(last)) {
      if (Object.hasOwn(base, key)) continue
      vm.pushString(T, key)
      lua._lua_pushnil(T)
      lua._lua_rawset(T, table)
      this.pinned.delete(key)
    }
  }

  /**
   * The returned table's keys; a value the host pushed that is still in place (same table or
   * string) is not read back (its value is reused), and key names are decoded once per key string.
   */
  private readState(T: Pointer, index: number): Message {
    const vm = this.vm
    const lua = vm.lua
    const out: Record<string, Value> = {}
    lua._lua_pushnil(T)
    while (lua._lua_next(T, index) !== 0) {
      const key = this.keyName(T)
      if (key !== undefined) {
        const pin = this.pinned.get(key)
        const value =
          pin !== undefined && vm.identity(T, -1) === pin.address ? pin.value : vm.readValue(T, -1)
        if (value !== undefined) out[key] = value
      }
      lua._lua_settop(T, -2)
    }
    return out
  }

  /**
   * The message key of the table key at -2 (undefined for tables and binary strings). A string key's
   * name is remembered by its address, the string pinned so the address stays its own.
   */
  private keyName(T: Pointer): string | undefined {
    const vm = this.vm
    const lua = vm.lua
    const type = lua._lua_type(T, -2)
    if (type === T_TABLE) return undefined
    const address = type === T_STRING ? lua._lua_tolstring(T, -2, 0) : 0
    const known = address === 0 ? undefined : this.keyNames.get(address)
    if (known !== undefined) return known
    const text = vm.readValue(T, -2)
    if (text === undefined || text instanceof Uint8Array) return undefined
    const key = normalizeKey(textOf(text))
    if (address !== 0 && this.keyNames.size < MAX_KEY_NAMES) {
      this.keyNames.set(address, key)
      vm.pinAt(T, this.keyNames.size, -2)
    }
    return key
  }

  /** `ao.resolve` / `ao.get` from Lua: through ctx.resolve, limited to the allowed devices. */
  private bridge(ctx: ResolveContext): HostRequest {
    return async (op, args) => {
      try {
        const value = op === 'get' ? await this.get(args, ctx) : await this.resolve(args, ctx)
        return ['ok', value]
      } catch (error) {
        const status = DeviceError.is(error) ? error.status : 500
        const body = error instanceof Error ? error.message : String(error)
        return ['error', { status, body }]
      }
    }
  }

  private async get(args: readonly Value[], ctx: ResolveContext): Promise<Value> {
    const [key, base] = args
    if (typeof key !== 'string' || !isMessage(base)) {
      throw new DeviceError('BAD_REQUEST', 'ao.get(key, base): key must be a string, base a table')
    }
    this.check(base)
    return ctx.resolve(base, key)
  }

  private async resolve(args: readonly Value[], ctx: ResolveContext): Promise<Value> {
    const [first, second] = args
    if (args.length >= 2 && isMessage(first) && (typeof second === 'string' || isMessage(second))) {
      this.check(first)
      this.check(second)
      return ctx.resolve(first, second)
    }
    if (Array.isArray(first)) {
      const steps = first as readonly Value[]
      let base = steps[0]
      if (!isMessage(base))
        throw new DeviceError('BAD_REQUEST', 'ao.resolve({...}): first is not a table')
      this.check(base)
      for (const step of steps.slice(1)) {
        if (!isMessage(base))
          throw new DeviceError('BAD_REQUEST', 'ao.resolve: a step answered a non-message')
        if (typeof step !== 'string' && !isMessage(step)) {
          throw new DeviceError('BAD_REQUEST', 'ao.resolve({...}): steps are tables or paths')
        }
        this.check(step)
        base = await ctx.resolve(base, step)
      }
      return base
    }
    if (isMessage(first)) {
      const { path, ...rest } = first
      if (typeof path !== 'string') {
        throw new DeviceError('BAD_REQUEST', 'ao.resolve(msg): the message has no path')
      }
      this.check(first)
      return ctx.resolve(rest, { path })
    }
    throw new DeviceError('BAD_REQUEST', 'ao.resolve: expected (msg), (base, path) or ({msg, ...})')
  }

  /** `device-sandbox`: the devices a message or path names must be allowed. */
  private check(target: Message | string): void {
    const named: string[] = []
    const path = typeof target === 'string' ? target : target['path']
    if (typeof path === 'string') {
      for (const match of path.matchAll(/~([^/?&~]+@[^/?&~]+)/g)) named.push(match[1] as string)
    }
    if (typeof target !== 'string') {
      const device = target['device']
      named.push(typeof device === 'string' ? device : 'message@1.0')
    }
    for (const device of named) {
      if (!this.allowed.has(device.toLowerCase())) {
        throw new DeviceError(
          'LUA_DEVICE_FORBIDDEN',
          `lua: device ${device} is not in this process's device-sandbox`,
          { status: 403, device: DEVICE },
        )
      }
    }
  }
}

/** FNV-1a over the text, twice with different offsets: a 64-bit seed as two 32-bit halves. */
function fnv(text: string, offset: number): number {
  let hash = offset
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash
}

/** `math.random` seed of a call: from the process, slot and hash chain of the assignment. */
export function seedOf(req: Message): [number, number] {
  const text = `${textOf(req['process'])}|${textOf(req['slot'])}|${textOf(req['hash-chain'])}`
  return [fnv(text, 0x811c9dc5), fnv(text, 0x01234567)]
}

/** `os.time()` of a call, in seconds: the assignment's timestamp (ms), else its block timestamp. */
export function timeOf(req: Message): number {
  const ms = Number(req['timestamp'])
  if (Number.isFinite(ms) && ms > 0) return Math.floor(ms / 1000)
  const block = Number(req['block-timestamp'])
  return Number.isFinite(block) && block > 0 ? Math.floor(block) : 0
}
