/**
 * The raw Lua 5.4 C API as exported by wasmoon's emscripten build. We call the exports directly
 * (not wasmoon's `cwrap`/`ccall` wrappers or its JS proxies): every crossing is a plain WASM call,
 * values are marshalled by our own code, and no wasmoon JS-side reference table ever holds process
 * state, which is what lets a heap copy restore a process exactly.
 */
import { LuaFactory } from 'wasmoon'

export type Pointer = number

export interface RawLua {
  HEAPU8: Uint8Array
  HEAPU32: Uint32Array
  addFunction(fn: (...args: number[]) => number | void, signature: string): number
  _malloc(size: number): Pointer
  _free(ptr: Pointer): void
  _realloc(ptr: Pointer, size: number): Pointer
  _lua_newstate(alloc: number, ud: Pointer): Pointer
  _luaL_openlibs(L: Pointer): void
  _lua_newthread(L: Pointer): Pointer
  _lua_resetthread(L: Pointer): number
  _lua_gettop(L: Pointer): number
  _lua_settop(L: Pointer, idx: number): void
  _lua_pushvalue(L: Pointer, idx: number): void
  _lua_absindex(L: Pointer, idx: number): number
  _lua_type(L: Pointer, idx: number): number
  _lua_isinteger(L: Pointer, idx: number): number
  _lua_isyieldable(L: Pointer): number
  _lua_tonumberx(L: Pointer, idx: number, isnum: Pointer): number
  _lua_tointegerx(L: Pointer, idx: number, isnum: Pointer): bigint
  _lua_toboolean(L: Pointer, idx: number): number
  _lua_tolstring(L: Pointer, idx: number, len: Pointer): Pointer
  _lua_topointer(L: Pointer, idx: number): Pointer
  _lua_rawequal(L: Pointer, a: number, b: number): number
  _lua_pushnil(L: Pointer): void
  _lua_pushnumber(L: Pointer, n: number): void
  _lua_pushinteger(L: Pointer, n: bigint): void
  _lua_pushlstring(L: Pointer, s: Pointer, len: number): Pointer
  _lua_pushboolean(L: Pointer, b: number): void
  _lua_createtable(L: Pointer, narr: number, nrec: number): void
  _lua_rawget(L: Pointer, idx: number): number
  _lua_rawgeti(L: Pointer, idx: number, n: bigint): number
  _lua_rawset(L: Pointer, idx: number): void
  _lua_rawseti(L: Pointer, idx: number, n: bigint): void
  _lua_getglobal(L: Pointer, name: Pointer): number
  _lua_setglobal(L: Pointer, name: Pointer): void
  _lua_next(L: Pointer, idx: number): number
  _lua_resume(L: Pointer, from: Pointer, nargs: number, nres: Pointer): number
  _lua_yieldk(L: Pointer, nres: number, ctx: number, k: Pointer): number
  _lua_error(L: Pointer): number
  _lua_sethook(L: Pointer, fn: number, mask: number, count: number): void
  _luaL_ref(L: Pointer, t: number): number
  _luaL_loadbufferx(L: Pointer, buf: Pointer, size: number, name: Pointer, mode: Pointer): number
  _luaL_traceback(L: Pointer, L1: Pointer, msg: Pointer, level: number): void
  _lua_pcallk(
    L: Pointer,
    nargs: number,
    nres: number,
    errfunc: number,
    ctx: number,
    k: Pointer,
  ): number
}

export const LUA_REGISTRYINDEX = -1001000
export const LUA_OK = 0
export const LUA_YIELD = 1
export const LUA_ERRMEM = 4
export const LUA_MASKCOUNT = 8

export const T_BOOLEAN = 1
export const T_NUMBER = 3
export const T_STRING = 4
export const T_TABLE = 5
export const T_FUNCTION = 6

/** The slice of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
interface WasmInstance {
  readonly exports: Record<string, unknown>
}
interface WasmApi {
  instantiate: (
    this: unknown,
    source: unknown,
    imports?: Record<string, unknown>,
  ) => Promise<unknown>
  compile: (this: void, bytes: Uint8Array) => Promise<object>
  validate: (this: void, bytes: Uint8Array) => boolean
}
const wasmGlobal = globalThis as unknown as { WebAssembly: WasmApi }

let compiled: { bytes: Uint8Array; module: object } | undefined
let creating: Promise<unknown> = Promise.resolve()

/**
 * A fresh emscripten instance of wasmoon's Lua (its own linear memory): one per process, so an
 * out-of-memory or a corrupted heap stays inside one process, and a heap copy captures exactly one.
 *
 * wasmoon exposes the C API only through assertion wrappers (`function(){...; return f.apply(...)}`),
 * which cost more than the calls themselves on the hot path. While wasmoon instantiates its own
 * `glue.wasm` we catch the instance to call its exports directly, and reuse the compiled module.
 * Creations are serialised so that each instance is matched to its own factory.
 */
export function instantiateLua(): Promise<RawLua> {
  const run = creating.then(create)
  creating = run.catch(() => undefined)
  return run
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

async function create(): Promise<RawLua> {
  const api = wasmGlobal.WebAssembly
  const original = api.instantiate
  let exports: Record<string, unknown> | undefined
  const patched = async (source: unknown, imports?: Record<string, unknown>): Promise<unknown> => {
    const bytes = ArrayBuffer.isView(source)
      ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
      : source instanceof ArrayBuffer
        ? new Uint8Array(source)
        : undefined
    // Only wasmoon's glue.wasm is ours; anything else instantiating meanwhile passes through.
    const env = imports?.['env'] as Record<string, unknown> | undefined
    const ours =
      exports === undefined &&
      bytes !== undefined &&
      typeof env?.['_emscripten_throw_longjmp'] === 'function' &&
      (compiled === undefined ? api.validate(bytes) : sameBytes(bytes, compiled.bytes))
    if (!ours) return original.call(api, source, imports)
    compiled ??= { bytes: bytes.slice(), module: await api.compile(bytes) }
    const instance = (await original.call(api, compiled.module, imports)) as WasmInstance
    exports = instance.exports
    return { module: compiled.module, instance }
  }
  api.instantiate = patched
  let module: Record<string, unknown>
  try {
    module = (await new LuaFactory().getLuaModule()).module as unknown as Record<string, unknown>
  } finally {
    api.instantiate = original
  }
  if (exports === undefined || typeof exports['lua_newstate'] !== 'function') {
    // wasmoon is pinned (1.16.0); another build may instantiate its WASM differently.
    throw new Error("lua: could not reach the exports of wasmoon's WASM instance")
  }
  const raw: Record<string, unknown> = {
    addFunction: module['addFunction'],
    get HEAPU8() {
      return module['HEAPU8']
    },
    get HEAPU32() {
      return module['HEAPU32']
    },
  }
  for (const [name, value] of Object.entries(exports)) {
    if (typeof value === 'function') raw[`_${name}`] = value
  }
  return raw as unknown as RawLua
}
