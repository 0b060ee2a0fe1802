/**
 * One Lua 5.4 state in its own WASM instance, driven through the raw C API: lossless marshalling,
 * calls run as a coroutine (so `ao.resolve` can await the host and a runaway loop can be suspended),
 * an instruction/wall-clock budget and a memory cap, and exact snapshots by copying the linear memory.
 */
import { brotliCompressSync, brotliDecompressSync, constants, inflateRawSync } from 'node:zlib'
import {
  DeviceError,
  Float,
  Link,
  Live,
  isMessage,
  isPrivateKey,
  normalizeKey,
  type Message,
  type Value,
} from '@aonode/core'
import { PRELUDE } from './prelude.ts'
import {
  LUA_ERRMEM,
  LUA_MASKCOUNT,
  LUA_OK,
  LUA_REGISTRYINDEX,
  LUA_YIELD,
  T_BOOLEAN,
  T_FUNCTION,
  T_NUMBER,
  T_STRING,
  T_TABLE,
  instantiateLua,
  type Pointer,
  type RawLua,
} from './raw.ts'
import { textOf } from './text.ts'

export interface LuaLimits {
  /** VM instructions one call may run (counted by a count hook). */
  readonly maxInstructions: number
  /** Wall-clock milliseconds one call may spend inside Lua (time awaiting the host excluded). */
  readonly timeoutMs: number
  /** Bytes the Lua allocator may hold at once. */
  readonly memoryBytes: number
  /** A long call yields to the event loop every this many milliseconds, so other processes run. */
  readonly sliceMs: number
}

/** `ao.resolve`/`ao.get` requests from Lua: the host answers with the values to return to Lua. */
export type HostRequest = (op: string, args: Value[]) => Promise<readonly Value[]>

/** Instructions between two hook calls: small enough to stop loops promptly, large enough to be free. */
const HOOK_EVERY = 10_000
const MAX_DEPTH = 100
const INT64_MAX = 2n ** 63n - 1n
const INT64_MIN = -(2n ** 63n)
const TWO_63 = 2 ** 63
/** Heap pages compressed with brotli (quality 0: about 3× faster than deflate, as small). */
const SNAPSHOT_FORMAT = 'aonode-lua-heap-2'
/** The first format (pages deflated): still restored. */
const SNAPSHOT_FORMAT_DEFLATE = 'aonode-lua-heap-1'
const BROTLI_FAST = { params: { [constants.BROTLI_PARAM_QUALITY]: 0 } }

/** Snapshots keep only the non-zero 4 KiB pages of the linear memory (most of it is never touched). */
const PAGE = 4096
/** Memory is scanned a WASM page (64 KiB) at a time: untouched ones are skipped with one compare. */
const SCAN = 65536
const ZEROS = Buffer.alloc(SCAN)

/** The non-zero pages, compared natively (memcmp) against zeros rather than word by word in JS. */
function readPages(memory: Buffer): Message {
  const pages: number[] = []
  for (let start = 0; start < memory.length; start += SCAN) {
    const end = Math.min(start + SCAN, memory.length)
    if (memory.compare(ZEROS, 0, end - start, start, end) === 0) continue
    for (let page = start; page < end; page += PAGE) {
      if (memory.compare(ZEROS, 0, PAGE, page, page + PAGE) !== 0) pages.push(page / PAGE)
    }
  }
  const data = Buffer.allocUnsafe(pages.length * PAGE)
  // Runs of consecutive pages are copied at once.
  for (let i = 0; i < pages.length;) {
    let j = i + 1
    while (j < pages.length && pages[j] === (pages[j - 1] as number) + 1) j++
    const first = pages[i] as number
    memory.copy(data, i * PAGE, first * PAGE, (first + j - i) * PAGE)
    i = j
  }
  return {
    'memory-size': memory.length,
    pages: new Uint8Array(Uint32Array.from(pages).buffer),
    heap: brotliCompressSync(data, BROTLI_FAST),
  }
}

/**
 * A fresh instance of wasmoon's build has written only below ~1.1 MB (static data, stack, malloc
 * state); the rest of its memory is still zero. Restore zeroes unsaved pages only where something
 * may have been written, so it never touches (and faults in) the untouched bulk of the memory.
 */
const FRESH_DIRTY_BYTES = 4 << 20

/** Writes the saved pages and zeroes the unsaved, possibly dirty pages in `dirty` ranges. */
function writePages(
  memory: Uint8Array,
  data: Uint8Array,
  pages: Uint32Array,
  dirty: readonly (readonly [number, number])[],
): void {
  const words = new Uint32Array(memory.buffer, memory.byteOffset, memory.byteLength >> 2)
  const saved = new Set<number>()
  pages.forEach((page, i) => {
    saved.add(page)
    memory.set(data.subarray(i * PAGE, (i + 1) * PAGE), page * PAGE)
  })
  const wordsPerPage = PAGE >> 2
  for (const [from, to] of dirty) {
    const last = Math.min(Math.ceil(to / PAGE), memory.byteLength / PAGE)
    for (let page = Math.max(0, Math.floor(from / PAGE)); page < last; page++) {
      if (saved.has(page)) continue
      const start = page * wordsPerPage
      for (let w = start; w < start + wordsPerPage; w++) {
        if (words[w] !== 0) {
          words.fill(0, start, start + wordsPerPage)
          break
        }
      }
    }
  }
}

const textDecoder = new TextDecoder('utf-8', { fatal: true })
const textEncoder = new TextEncoder()

/** Bytes that make a Lua string a binary rather than text (controls other than \t \n \v \f \r ESC). */
function isTextByte(byte: number): boolean {
  return byte >= 0x20 || (byte >= 0x09 && byte <= 0x0d) || byte === 0x1b
}

interface Internals {
  L: Pointer
  thread: Pointer
  /** Registry refs: the prelude's helpers, and its `call` (used on every call). */
  host: number
  call: number
  pinned: number
  state: number
  scratch: Pointer
  scratchSize: number
  /** Two 4-byte out-parameters (string length, resume result count). */
  out: Pointer
  memoryUsed: number
}

type StopReason = 'budget' | 'timeout' | 'slice' | undefined

export class LuaVm {
  readonly lua: RawLua
  readonly limits: LuaLimits
  private readonly allocator: number
  private readonly hook: number
  private s: Internals = {
    L: 0,
    thread: 0,
    host: 0,
    call: 0,
    pinned: 0,
    state: 0,
    scratch: 0,
    scratchSize: 0,
    out: 0,
    memoryUsed: 0,
  }
  private instructions = 0
  private luaMs = 0
  private sliceStart = 0
  private stop: StopReason = undefined
  private memoryRefused = false
  private buffer: Buffer | undefined
  private bufferOf: Uint8Array | undefined
  /** Views of the linear memory; a grown memory detaches them (length 0), then they are renewed. */
  private u8: Uint8Array = new Uint8Array(0)
  private u32: Uint32Array = new Uint32Array(0)
  /**
   * The memory cap holds only while Lua code runs: a failed allocation in host-side pushes or error
   * handling would be outside any protected call, where Lua can only abort.
   */
  private enforcing = false

  /** Function-table slots are created first and in the same order on boot and on restore. */
  private constructor(lua: RawLua, limits: LuaLimits) {
    this.lua = lua
    this.limits = limits
    this.allocator = lua.addFunction((_ud, ptr, oldSize, newSize) => {
      if (newSize === 0) {
        if (ptr !== 0) {
          this.s.memoryUsed -= oldSize
          lua._free(ptr)
        }
        return 0
      }
      const grown = ptr !== 0 ? newSize - oldSize : newSize
      if (grown > 0 && this.enforcing && this.s.memoryUsed + grown > this.limits.memoryBytes) {
        this.memoryRefused = true
        return 0
      }
      const out = lua._realloc(ptr, newSize)
      if (out !== 0) this.s.memoryUsed += grown
      return out
    }, 'iiiii')
    this.hook = lua.addFunction((L) => this.onHook(L), 'vii')
  }

  static async create(limits: LuaLimits): Promise<LuaVm> {
    const vm = new LuaVm(await instantiateLua(), limits)
    vm.boot()
    return vm
  }

  /** Rebuilds a VM from `snapshot()` output: same WASM build, same function slots, copied memory. */
  static async restore(snapshot: Message, limits: LuaLimits): Promise<LuaVm> {
    const { heap: packed, pages: pageList, format } = snapshot
    const size = snapshot['memory-size']
    if (
      (format !== SNAPSHOT_FORMAT && format !== SNAPSHOT_FORMAT_DEFLATE) ||
      !(packed instanceof Uint8Array) ||
      !(pageList instanceof Uint8Array) ||
      typeof size !== 'number'
    ) {
      throw new DeviceError('BAD_REQUEST', `lua: snapshot is not a ${SNAPSHOT_FORMAT} snapshot`)
    }
    const vm = new LuaVm(await instantiateLua(), limits)
    const lua = vm.lua
    const dirty: [number, number][] = [[0, FRESH_DIRTY_BYTES]]
    while (lua.HEAPU8.length < size) {
      // Growing through malloc keeps emscripten's views in step; the copy overwrites its
      // bookkeeping, and each chunk's header and footer pages are zeroed unless saved.
      const length = size - lua.HEAPU8.length + PAGE
      const grown = lua._malloc(length)
      if (grown === 0) {
        throw new DeviceError('TOO_LARGE', 'lua: cannot allocate memory to restore the snapshot')
      }
      dirty.push([grown - PAGE, grown + PAGE], [grown + length - PAGE, grown + length + 2 * PAGE])
    }
    const data = format === SNAPSHOT_FORMAT ? brotliDecompressSync(packed) : inflateRawSync(packed)
    writePages(lua.HEAPU8, data, new Uint32Array(pageList.slice().buffer), dirty)
    const int = (key: string): number => {
      const value = snapshot[key]
      if (typeof value !== 'number')
        throw new DeviceError('BAD_REQUEST', `lua: snapshot lacks ${key}`)
      return value
    }
    vm.s = {
      L: int('l'),
      thread: int('thread'),
      host: int('host'),
      call: int('call'),
      pinned: int('pinned'),
      state: int('state'),
      scratch: int('scratch'),
      scratchSize: int('scratch-size'),
      out: int('out'),
      memoryUsed: int('memory-used'),
    }
    return vm
  }

  private boot(): void {
    const lua = this.lua
    // Lua seeds its string hash and math.random from time(NULL): freeze the clock while it does.
    const realNow = Date.now
    Date.now = () => 0
    try {
      this.s.L = lua._lua_newstate(this.allocator, 0)
      if (this.s.L === 0) throw new DeviceError('TOO_LARGE', 'lua: cannot create a Lua state')
      lua._luaL_openlibs(this.s.L)
    } finally {
      Date.now = realNow
    }
    this.s.out = lua._malloc(8)
    this.ensureScratch(4096)
    const L = this.s.L
    this.load(L, textEncoder.encode(PRELUDE), '=prelude')
    if (lua._lua_pcallk(L, 0, 1, 0, 0, 0) !== LUA_OK) {
      throw new DeviceError('DEVICE_FAILED', `lua: prelude failed: ${this.errorText(L, -1)}`)
    }
    this.pushString(L, 'call')
    lua._lua_rawget(L, -2)
    this.s.call = lua._luaL_ref(L, LUA_REGISTRYINDEX)
    this.s.host = lua._luaL_ref(L, LUA_REGISTRYINDEX)
    lua._lua_createtable(L, 0, 8)
    this.s.pinned = lua._luaL_ref(L, LUA_REGISTRYINDEX)
    this.s.thread = lua._lua_newthread(L)
    lua._luaL_ref(L, LUA_REGISTRYINDEX)
    lua._lua_sethook(this.s.thread, this.hook, LUA_MASKCOUNT, HOOK_EVERY)
  }

  /** Exact copy of the Lua state: the whole linear memory (compressed) plus the host's pointers. */
  snapshot(): Message {
    const s = this.s
    return {
      format: SNAPSHOT_FORMAT,
      ...readPages(this.heapBuffer()),
      l: s.L,
      thread: s.thread,
      host: s.host,
      call: s.call,
      pinned: s.pinned,
      state: s.state,
      scratch: s.scratch,
      'scratch-size': s.scratchSize,
      out: s.out,
      'memory-used': s.memoryUsed,
    }
  }

  /** Loads a chunk (text only: precompiled bytecode could break the VM) onto `L`'s stack. */
  load(L: Pointer, code: Uint8Array, chunkName: string): void {
    const lua = this.lua
    const nameBytes = textEncoder.encode(chunkName)
    const size = code.length + nameBytes.length + 3
    this.ensureScratch(size)
    const heap = this.heap8()
    const base = this.s.scratch
    heap.set(code, base)
    const namePtr = base + code.length
    heap.set(nameBytes, namePtr)
    heap[namePtr + nameBytes.length] = 0
    const modePtr = namePtr + nameBytes.length + 1
    heap[modePtr] = 0x74 // "t"
    heap[modePtr + 1] = 0
    if (lua._luaL_loadbufferx(L, base, code.length, namePtr, modePtr) !== LUA_OK) {
      const message = this.errorText(L, -1)
      lua._lua_settop(L, -2)
      throw new DeviceError('BAD_REQUEST', `lua: cannot load ${chunkName.slice(1)}: ${message}`)
    }
  }

  /** Calls a prelude helper by name on the main state (no budget: prelude code is bounded). */
  callHost(name: string, args: readonly Value[] = []): Value | undefined {
    const lua = this.lua
    const L = this.s.L
    lua._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.s.host))
    this.pushString(L, name)
    lua._lua_rawget(L, -2)
    for (const arg of args) this.pushValue(L, arg, 0)
    if (lua._lua_pcallk(L, args.length, 1, 0, 0, 0) !== LUA_OK) {
      const message = this.errorText(L, -1)
      lua._lua_settop(L, -3)
      throw new DeviceError('DEVICE_FAILED', `lua: host helper ${name} failed: ${message}`)
    }
    const result = this.readValue(L, -1)
    lua._lua_settop(L, -3)
    return result
  }

  /** Loads a module chunk and runs it on the call thread, under the limits. */
  async runChunk(code: Uint8Array, name: string, onRequest: HostRequest): Promise<void> {
    const T = this.s.thread
    this.lua._lua_settop(T, 0)
    this.load(T, code, `=${name}`)
    await this.resume(T, 0, onRequest)
    this.lua._lua_settop(T, 0)
  }

  /**
   * Calls the global function `fn` through the prelude's `host.call` (deterministic seed and time)
   * on the call thread. `pushArgs` pushes the arguments and returns their count. The results stay on
   * the thread (indices 1..n, n returned) until the next call.
   */
  async call(
    fn: string,
    seed: readonly [number, number],
    time: number,
    pushArgs: (T: Pointer) => number,
    onRequest: HostRequest,
  ): Promise<number> {
    const lua = this.lua
    const T = this.s.thread
    lua._lua_settop(T, 0)
    lua._lua_rawgeti(T, LUA_REGISTRYINDEX, BigInt(this.s.call))
    if (lua._lua_getglobal(T, this.cString(fn)) !== T_FUNCTION) {
      lua._lua_settop(T, 0)
      throw new DeviceError('NOT_FOUND', `lua: no global function ${fn}`, { key: fn })
    }
    lua._lua_pushinteger(T, BigInt(seed[0]))
    lua._lua_pushinteger(T, BigInt(seed[1]))
    lua._lua_pushinteger(T, BigInt(Math.trunc(time)))
    const n = pushArgs(T)
    return this.resume(T, 4 + n, onRequest)
  }

  /** The call thread (results of the last `call` are at 1..n). */
  get thread(): Pointer {
    return this.s.thread
  }

  /** Pushes the process state table (or nil) on `L`. */
  pushState(L: Pointer): boolean {
    if (this.s.state === 0) return false
    this.lua._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.s.state))
    return true
  }

  /** Keeps the table at `idx` of `L` as the process state table. */
  setState(L: Pointer, idx: number): void {
    const lua = this.lua
    if (this.s.state !== 0) {
      lua._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.s.state))
      const same = lua._lua_rawequal(L, -1, idx < 0 ? idx - 1 : idx) === 1
      lua._lua_settop(L, -2)
      if (same) return
      lua._lua_pushvalue(L, idx)
      lua._lua_rawseti(L, LUA_REGISTRYINDEX, BigInt(this.s.state))
      return
    }
    lua._lua_pushvalue(L, idx)
    this.s.state = lua._luaL_ref(L, LUA_REGISTRYINDEX)
  }

  /**
   * An address that stays the value's own while the value is pinned: a table's, or a string's
   * (Lua never moves objects, and equal short strings are one object). 0 for anything else.
   */
  identity(L: Pointer, idx: number): number {
    const type = this.lua._lua_type(L, idx)
    return type === T_TABLE
      ? this.lua._lua_topointer(L, idx)
      : type === T_STRING
        ? this.lua._lua_tolstring(L, idx, 0)
        : 0
  }

  /** Keeps `pinned[key] = value at idx` so a table the host pushed keeps its address while tracked. */
  pin(L: Pointer, key: string, idx: number): void {
    const lua = this.lua
    const abs = lua._lua_absindex(L, idx)
    lua._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.s.pinned))
    this.pushString(L, key)
    lua._lua_pushvalue(L, abs)
    lua._lua_rawset(L, -3)
    lua._lua_settop(L, -2)
  }

  /** Keeps `pinned[n] = value at idx` (integer slots, apart from `pin`'s string keys). */
  pinAt(L: Pointer, n: number, idx: number): void {
    const lua = this.lua
    const abs = lua._lua_absindex(L, idx)
    lua._lua_rawgeti(L, LUA_REGISTRYINDEX, BigInt(this.s.pinned))
    lua._lua_pushvalue(L, abs)
    lua._lua_rawseti(L, -2, BigInt(n))
    lua._lua_settop(L, -2)
  }

  // ---- the resume loop, hook and errors ----

  private async resume(T: Pointer, nargs: number, onRequest: HostRequest): Promise<number> {
    const lua = this.lua
    this.instructions = 0
    this.luaMs = 0
    this.stop = undefined
    this.memoryRefused = false
    let args = nargs
    for (;;) {
      this.sliceStart = Date.now()
      this.enforcing = true
      let status: number
      try {
        status = lua._lua_resume(T, 0, args, this.s.out + 4)
      } finally {
        this.enforcing = false
      }
      this.luaMs += Date.now() - this.sliceStart
      const nres = this.heap32()[(this.s.out + 4) >> 2] as number
      if (status === LUA_OK) return nres
      if (status !== LUA_YIELD) throw this.callError(T, status)
      if (this.stop === 'slice') {
        this.stop = undefined
        lua._lua_settop(T, -1 - nres)
        await new Promise<void>((resolve) => setImmediate(resolve))
        args = 0
        continue
      }
      if (this.stop !== undefined) throw this.abandon(T, this.limitError())
      const first = lua._lua_gettop(T) - nres + 1
      if (nres < 2 || !this.isSentinel(T, first)) {
        throw this.abandon(
          T,
          new DeviceError('UNPROCESSABLE', 'lua: the process yielded outside a coroutine', {
            status: 422,
          }),
        )
      }
      const op = this.readValue(T, first + 1)
      const opArgs: Value[] = []
      for (let i = first + 2; i <= first + nres - 1; i++) {
        opArgs.push(this.readValue(T, i) ?? null)
      }
      lua._lua_settop(T, first - 1)
      const answer = await onRequest(textOf(op), opArgs)
      for (const value of answer) this.pushValue(T, value, 0)
      args = answer.length
    }
  }

  private isSentinel(T: Pointer, idx: number): boolean {
    const lua = this.lua
    lua._lua_rawgeti(T, LUA_REGISTRYINDEX, BigInt(this.s.host))
    this.pushString(T, 'sentinel')
    lua._lua_rawget(T, -2)
    const same = lua._lua_rawequal(T, -1, idx) === 1
    lua._lua_settop(T, -3)
    return same
  }

  /** Count hook: stops a call over budget (by yielding it, which no Lua pcall can catch). */
  private onHook(L: Pointer): void {
    const lua = this.lua
    this.instructions += HOOK_EVERY
    const now = Date.now()
    if (this.instructions > this.limits.maxInstructions) this.stop = 'budget'
    else if (this.luaMs + now - this.sliceStart > this.limits.timeoutMs) this.stop = 'timeout'
    else if (now - this.sliceStart >= this.limits.sliceMs) {
      if (lua._lua_isyieldable(L) === 1) {
        this.stop = 'slice'
        lua._lua_yieldk(L, 0, 0, 0)
      }
      return
    } else return
    if (lua._lua_isyieldable(L) === 1) {
      lua._lua_yieldk(L, 0, 0, 0)
      return
    }
    // Inside a C boundary (a sort comparator, a metamethod): raise instead; it repeats until out.
    this.pushString(L, this.limitError().message)
    lua._lua_error(L)
  }

  private limitError(): DeviceError {
    if (this.stop === 'timeout') {
      return new DeviceError(
        'UNPROCESSABLE',
        `lua: the call ran longer than ${this.limits.timeoutMs} ms and was stopped`,
        { status: 422 },
      )
    }
    return new DeviceError(
      'UNPROCESSABLE',
      `lua: the call exceeded its budget of ${this.limits.maxInstructions} instructions and was stopped`,
      { status: 422 },
    )
  }

  /** A suspended or failed call is dropped: the thread is reset for the next call. */
  private abandon(T: Pointer, error: DeviceError): DeviceError {
    this.lua._lua_resetthread(T)
    this.lua._lua_settop(T, 0)
    return error
  }

  private callError(T: Pointer, status: number): DeviceError {
    const lua = this.lua
    const L = this.s.L
    if (this.stop === 'budget' || this.stop === 'timeout') return this.abandon(T, this.limitError())
    const message = this.errorText(T, -1)
    lua._luaL_traceback(L, T, 0, 0)
    const trace = this.errorText(L, -1)
    lua._lua_settop(L, -2)
    this.abandon(T, new DeviceError('UNPROCESSABLE', ''))
    if (status === LUA_ERRMEM || this.memoryRefused) {
      return new DeviceError(
        'TOO_LARGE',
        `lua: the call needed more than the ${this.limits.memoryBytes}-byte memory cap: ${message}`,
      )
    }
    return new DeviceError('UNPROCESSABLE', `${message}\n${trace}`, { status: 422 })
  }

  /** Text of an error value (a string, or a table/message rendered by its `message`/`body`). */
  errorText(L: Pointer, idx: number): string {
    const value = this.readValue(L, idx)
    if (typeof value === 'string') return value
    if (value instanceof Uint8Array) return new TextDecoder().decode(value)
    if (isMessage(value)) {
      const text = value['message'] ?? value['body'] ?? value['error']
      if (typeof text === 'string') return text
      return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))
    }
    return textOf(value)
  }

  // ---- marshalling ----

  private ensureScratch(size: number): void {
    if (size <= this.s.scratchSize) return
    const next = Math.max(size, this.s.scratchSize * 2, 4096)
    if (this.s.scratch !== 0) this.lua._free(this.s.scratch)
    this.s.scratch = this.lua._malloc(next)
    if (this.s.scratch === 0) {
      this.s.scratchSize = 0
      throw new DeviceError('TOO_LARGE', `lua: cannot allocate ${next} bytes`)
    }
    this.s.scratchSize = next
  }

  /** A NUL-terminated copy of `text` in the scratch buffer. */
  private cString(text: string): Pointer {
    this.ensureScratch(text.length * 3 + 1)
    const { written } = textEncoder.encodeInto(
      text,
      this.heap8().subarray(this.s.scratch, this.s.scratch + this.s.scratchSize - 1),
    )
    this.heap8()[this.s.scratch + written] = 0
    return this.s.scratch
  }

  pushString(L: Pointer, text: string): void {
    const length = text.length
    this.ensureScratch(length * 3)
    const heap = this.heap8()
    const base = this.s.scratch
    let i = 0
    // ASCII fast path: most keys and values are short ASCII.
    for (; i < length; i++) {
      const code = text.charCodeAt(i)
      if (code >= 0x80) break
      heap[base + i] = code
    }
    if (i === length) {
      this.lua._lua_pushlstring(L, base, length)
      return
    }
    const { written } = textEncoder.encodeInto(text, heap.subarray(base, base + this.s.scratchSize))
    this.lua._lua_pushlstring(L, base, written)
  }

  private pushBytes(L: Pointer, bytes: Uint8Array): void {
    this.ensureScratch(bytes.length)
    this.heap8().set(bytes, this.s.scratch)
    this.lua._lua_pushlstring(L, this.s.scratch, bytes.length)
  }

  /** Pushes a message value as its Lua counterpart (private keys and live handles are left out). */
  pushValue(L: Pointer, value: Value | undefined, depth: number): void {
    const lua = this.lua
    if (depth > MAX_DEPTH) {
      throw new DeviceError('UNPROCESSABLE', `lua: value nested deeper than ${MAX_DEPTH} levels`)
    }
    switch (typeof value) {
      case 'string':
        this.pushString(L, value)
        return
      case 'number':
        if (Number.isInteger(value) && Math.abs(value) < TWO_63) {
          lua._lua_pushinteger(L, BigInt(value))
        } else {
          lua._lua_pushnumber(L, value)
        }
        return
      case 'bigint':
        if (value >= INT64_MIN && value <= INT64_MAX) lua._lua_pushinteger(L, value)
        else this.pushString(L, value.toString())
        return
      case 'boolean':
        lua._lua_pushboolean(L, value ? 1 : 0)
        return
      case 'undefined':
        lua._lua_pushnil(L)
        return
      default:
        break
    }
    if (value === null || value instanceof Live) {
      lua._lua_pushnil(L)
    } else if (value instanceof Uint8Array) {
      this.pushBytes(L, value)
    } else if (value instanceof Float) {
      lua._lua_pushnumber(L, value.value)
    } else if (value instanceof Link) {
      this.pushString(L, value.id)
    } else if (Array.isArray(value)) {
      const list = value as readonly Value[]
      lua._lua_createtable(L, list.length, 0)
      for (let i = 0; i < list.length; i++) {
        this.pushValue(L, list[i], depth + 1)
        lua._lua_rawseti(L, -2, BigInt(i + 1))
      }
    } else {
      const message = value as Message
      const keys = Object.keys(message)
      lua._lua_createtable(L, 0, keys.length)
      for (const key of keys) {
        if (isPrivateKey(key)) continue
        const item = message[key]
        if (item === null || item instanceof Live) continue
        this.pushString(L, key)
        this.pushValue(L, item, depth + 1)
        lua._lua_rawset(L, -3)
      }
    }
  }

  private heap8(): Uint8Array {
    if (this.u8.length === 0) this.u8 = this.lua.HEAPU8
    return this.u8
  }

  private heap32(): Uint32Array {
    if (this.u32.length === 0) this.u32 = this.lua.HEAPU32
    return this.u32
  }

  /** A Buffer over the current linear memory (renewed when the memory grows). */
  private heapBuffer(): Buffer {
    const heap = this.heap8()
    if (this.bufferOf !== heap || this.buffer === undefined) {
      this.buffer = Buffer.from(heap.buffer, heap.byteOffset, heap.byteLength)
      this.bufferOf = heap
    }
    return this.buffer
  }

  /** A Lua string: text if it is UTF-8 without stray control bytes, else a binary (copied). */
  private readString(L: Pointer, idx: number): string | Uint8Array {
    const lua = this.lua
    const lenPtr = this.s.out
    const ptr = lua._lua_tolstring(L, idx, lenPtr)
    const end = ptr + (this.heap32()[lenPtr >> 2] as number)
    const heap = this.heap8()
    let ascii = true
    for (let i = ptr; i < end; i++) {
      const byte = heap[i] as number
      if (byte >= 0x80) ascii = false
      else if (byte < 0x20 && !isTextByte(byte)) return heap.slice(ptr, end)
    }
    if (ascii) return this.heapBuffer().toString('latin1', ptr, end)
    try {
      return textDecoder.decode(heap.subarray(ptr, end))
    } catch {
      return heap.slice(ptr, end)
    }
  }

  private readNumber(L: Pointer, idx: number): number | bigint | Float {
    const lua = this.lua
    if (lua._lua_isinteger(L, idx) === 1) {
      const big = lua._lua_tointegerx(L, idx, 0)
      const small = Number(big)
      return Number.isSafeInteger(small) ? small : big
    }
    const float = lua._lua_tonumberx(L, idx, 0)
    return Number.isInteger(float) && Math.abs(float) < TWO_63 ? new Float(float) : float
  }

  /**
   * Reads the Lua value at `idx`: tables whose keys are exactly 1..n become lists, other tables
   * messages; functions, userdata and threads are left out (undefined).
   */
  readValue(L: Pointer, idx: number, depth = 0, seen?: Set<number>): Value | undefined {
    const lua = this.lua
    switch (lua._lua_type(L, idx)) {
      case T_STRING:
        return this.readString(L, idx)
      case T_NUMBER:
        return this.readNumber(L, idx)
      case T_BOOLEAN:
        return lua._lua_toboolean(L, idx) === 1
      case T_TABLE:
        return this.readTable(L, lua._lua_absindex(L, idx), depth, seen)
      default:
        return undefined
    }
  }

  private readTable(L: Pointer, abs: number, depth: number, parents?: Set<number>): Value {
    const lua = this.lua
    const seen = parents ?? new Set<number>()
    const address = lua._lua_topointer(L, abs)
    if (depth > MAX_DEPTH || seen.has(address)) {
      throw new DeviceError(
        'UNPROCESSABLE',
        'lua: a returned table is cyclic or nested too deeply',
        {
          status: 422,
        },
      )
    }
    seen.add(address)
    const keys: (string | number)[] = []
    const values: Value[] = []
    let sequential = true
    lua._lua_pushnil(L)
    while (lua._lua_next(L, abs) !== 0) {
      const value = this.readValue(L, -1, depth + 1, seen)
      if (value !== undefined) {
        const keyType = lua._lua_type(L, -2)
        let key: string | number | undefined
        if (keyType === T_STRING) {
          const text = this.readString(L, -2)
          key = typeof text === 'string' ? text : new TextDecoder().decode(text)
        } else if (keyType === T_NUMBER) {
          const n = this.readNumber(L, -2)
          key = typeof n === 'number' ? n : String(n instanceof Float ? n.value : n)
        } else if (keyType === T_BOOLEAN) key = String(lua._lua_toboolean(L, -2) === 1)
        if (key !== undefined) {
          if (typeof key !== 'number') sequential = false
          keys.push(key)
          values.push(value)
        }
      }
      lua._lua_settop(L, -2)
    }
    seen.delete(address)
    const count = keys.length
    if (sequential && count > 0) {
      const list: Value[] = new Array<Value>(count)
      let ok = true
      for (let i = 0; i < count; i++) {
        const k = keys[i] as number
        if (k < 1 || k > count || list[k - 1] !== undefined) {
          ok = false
          break
        }
        list[k - 1] = values[i] as Value
      }
      if (ok) return list
    }
    const out: Record<string, Value> = {}
    for (let i = 0; i < count; i++) {
      const k = keys[i] as string | number
      out[typeof k === 'number' ? String(k) : normalizeKey(k)] = values[i] as Value
    }
    return out
  }
}
