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
  _lua_rotate(L: Pointer, idx: number, n: number): void
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
export const LUA_ERRRUN = 2
export const LUA_ERRSYNTAX = 3
export const LUA_ERRMEM = 4
export const LUA_MASKCOUNT = 8

export const T_NIL = 0
export const T_BOOLEAN = 1
export const T_NUMBER = 3
export const T_STRING = 4
export const T_TABLE = 5
export const T_FUNCTION = 6

/**
 * A fresh emscripten instance of wasmoon's Lua (its own linear memory): one per process, so an
 * out-of-memory or a corrupted heap stays inside one process, and a heap copy captures exactly one.
 */
export async function instantiateLua(): Promise<RawLua> {
  const wasm = await new LuaFactory().getLuaModule()
  return wasm.module as unknown as RawLua
}
