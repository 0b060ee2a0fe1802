/**
 * One live WASM instance and the host it needs, for the two module kinds: AssemblyScript
 * (`handle(msg: string, env: string): string`, strings made with the AS runtime) and ao
 * Emscripten modules (`handle(char*, char*) -> char*`, wasm32 or memory64, with the Emscripten/WASI
 * imports aos uses). Runs inside the process's worker thread. Every source of time or randomness is
 * a deterministic shim scoped to this instance: the clock is the current message's timestamp.
 */
import { instantiateSync } from '@assemblyscript/loader'
import type { ImageInfo, ValueType } from './wasm-binary.ts'

export type ModuleKind = 'assemblyscript' | 'emscripten'

/**
 * Everything that makes an instance resumable: linear memory plus every mutable global. Memory is
 * kept sparse: only its non-zero 64 KiB pages (an aos module's 64 MiB stack is mostly zeros).
 */
export interface InstanceSnapshot {
  /** Memory size in bytes. */
  readonly size: number
  /** Indices of the pages stored in `data`, ascending. */
  readonly pages: Uint32Array
  /** The stored pages, concatenated. */
  readonly data: Uint8Array
  /** Mutable global values in `ImageInfo.globals` order (i64 as decimal strings). */
  readonly globals: readonly string[]
}

export interface Runtime {
  readonly kind: ModuleKind
  /** Calls `handle(msg, env)` in place and returns the JSON it answered. */
  call(msg: Uint8Array, env: Uint8Array, timestamp: number): Uint8Array
  snapshot(): InstanceSnapshot
  /** Memory size in bytes. */
  memoryBytes(): number
}

export const PAGE = 65536
const ENOSYS = 52
const ENOENT = 44
const ESPIPE = 70

/** A trap or host failure inside the module; the instance must be rebuilt. */
export class ModuleTrap extends Error {
  override readonly name = 'ModuleTrap'
}

const exportsMissing = (kind: string, names: string[]): ModuleTrap =>
  new ModuleTrap(`the ${kind} module does not export ${names.join(', ')}`)

/** Detects the module kind from its exports; undefined when it is neither. */
export function detectKind(module: WebAssembly.Module): ModuleKind | undefined {
  const names = new Set(WebAssembly.Module.exports(module).map((e) => e.name))
  if (!names.has('handle') || !names.has('memory')) return undefined
  if (names.has('__new') && names.has('__pin') && names.has('__unpin')) return 'assemblyscript'
  if (names.has('_emscripten_stack_alloc') && names.has('emscripten_stack_get_current'))
    return 'emscripten'
  return undefined
}

export interface RuntimeOptions {
  readonly maxPages: number
}

export function createRuntime(
  module: WebAssembly.Module,
  info: ImageInfo,
  options: RuntimeOptions,
  snapshot?: InstanceSnapshot,
): Runtime {
  const kind = detectKind(module)
  if (kind === undefined) {
    throw exportsMissing('image', [
      '`handle` and `memory`, plus the AssemblyScript runtime (`__new`, `__pin`, `__unpin`: build with --exportRuntime) or the Emscripten stack helpers',
    ])
  }
  const clock = { now: 0 }
  const runtime =
    kind === 'assemblyscript'
      ? assemblyScript(module, clock)
      : emscripten(module, info, clock, options.maxPages, snapshot === undefined)
  if (snapshot !== undefined) restore(runtime.memory, runtime.exports, info, snapshot)
  return {
    kind,
    call(msg, env, timestamp) {
      clock.now = timestamp
      return runtime.call(msg, env)
    },
    snapshot() {
      const buffer = runtime.memory.buffer
      const pages = nonZeroPages(buffer)
      const heap = new Uint8Array(buffer)
      const data = new Uint8Array(pages.length * PAGE)
      pages.forEach((page, i) => data.set(heap.subarray(page * PAGE, (page + 1) * PAGE), i * PAGE))
      return {
        size: buffer.byteLength,
        pages,
        data,
        globals: info.globals.map((name) =>
          String((runtime.exports[name] as WebAssembly.Global).value),
        ),
      }
    },
    memoryBytes: () => runtime.memory.buffer.byteLength,
  }
}

interface Live {
  readonly memory: WebAssembly.Memory
  readonly exports: WebAssembly.Exports
  call(msg: Uint8Array, env: Uint8Array): Uint8Array
}

function growTo(memory: WebAssembly.Memory, bytes: number, memory64: boolean): void {
  const missing = Math.ceil((bytes - memory.buffer.byteLength) / PAGE)
  if (missing <= 0) return
  // A memory64 memory takes its page delta as a BigInt.
  ;(memory.grow as (delta: number | bigint) => number)(memory64 ? BigInt(missing) : missing)
}

function restore(
  memory: WebAssembly.Memory,
  exports: WebAssembly.Exports,
  info: ImageInfo,
  snapshot: InstanceSnapshot,
): void {
  if (snapshot.globals.length !== info.globals.length) {
    throw new ModuleTrap('the snapshot does not match this image (different globals)')
  }
  if (snapshot.data.byteLength !== snapshot.pages.length * PAGE) {
    throw new ModuleTrap('the snapshot is malformed (page data does not match the page list)')
  }
  growTo(memory, snapshot.size, info.memory64)
  const heap = new Uint8Array(memory.buffer)
  // A fresh instance is zero except its data segments: clear those, then write the saved pages.
  for (const page of nonZeroPages(memory.buffer)) heap.fill(0, page * PAGE, (page + 1) * PAGE)
  snapshot.pages.forEach((page, i) =>
    heap.set(snapshot.data.subarray(i * PAGE, (i + 1) * PAGE), page * PAGE),
  )
  info.globals.forEach((name, i) => {
    const global = exports[name] as WebAssembly.Global
    const text = snapshot.globals[i] as string
    global.value = typeof global.value === 'bigint' ? BigInt(text) : Number(text)
  })
}

const ZERO_PAGE = new Uint8Array(PAGE)

/** Indices of the 64 KiB pages that hold any non-zero byte. */
export function nonZeroPages(buffer: ArrayBuffer): Uint32Array {
  // Buffer#compare is a memcmp against a zero page: several times faster than a JS word loop.
  const bytes = Buffer.from(buffer)
  const found: number[] = []
  for (let page = 0, start = 0; start < bytes.length; page++, start += PAGE) {
    const end = Math.min(start + PAGE, bytes.length)
    if (bytes.compare(ZERO_PAGE, 0, end - start, start, end) !== 0) found.push(page)
  }
  return Uint32Array.from(found)
}

const utf8 = new TextDecoder()
/** AssemblyScript's class id of `String`. */
const AS_STRING_ID = 2
/** UTF-8 text of a view that may sit on a SharedArrayBuffer (TextDecoder refuses those). */
const text = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')

function assemblyScript(module: WebAssembly.Module, clock: { now: number }): Live {
  // Math for `--use Math=JSMath` builds: the host's, except a fixed random.
  const deterministicMath = Object.assign(Object.create(Math) as Record<string, unknown>, {
    random: () => 0.5,
  })
  // AS's std imports `env.Date.now` and seeds Math.random from `env.seed`: both fixed here.
  const env: Record<string, unknown> = { seed: () => 0x5eed, 'Date.now': () => clock.now }
  const { instance } = instantiateSync(module, {
    env,
    Date: { now: () => clock.now },
    Math: deterministicMath,
  })
  // The raw exports: the loader's wrappers and string helpers cost more than the call itself.
  const exports = instance.exports as WebAssembly.Exports & {
    memory: WebAssembly.Memory
    __new(size: number, classId: number): number
    __pin(ptr: number): number
    __unpin(ptr: number): void
    handle(msg: number, env: number): number
  }
  const { memory } = exports
  let heap = Buffer.from(memory.buffer)
  const current = (): Buffer => {
    if (heap.buffer !== memory.buffer) heap = Buffer.from(memory.buffer)
    return heap
  }
  const newString = (value: string): number => {
    const ptr = exports.__new(value.length << 1, AS_STRING_ID)
    current().write(value, ptr, 'utf16le')
    return ptr
  }
  // A batch passes the same env bytes for every message: decoded once, not per message.
  let envBytes: Uint8Array | undefined
  let envText = ''
  return {
    memory,
    exports,
    call(msg, env) {
      if (env !== envBytes) {
        envText = text(env)
        envBytes = env
      }
      const msgPtr = exports.__pin(newString(text(msg)))
      const envPtr = exports.__pin(newString(envText))
      try {
        const out = exports.handle(msgPtr, envPtr)
        const view = current()
        // An AS string's byte length sits in its object header, 4 bytes before the data.
        return Buffer.from(view.toString('utf16le', out, out + view.readUInt32LE(out - 4)), 'utf8')
      } finally {
        exports.__unpin(msgPtr)
        exports.__unpin(envPtr)
      }
    },
  }
}

/** The Emscripten + WASI host that aos modules import (no filesystem, no network, no clock). */
function emscripten(
  module: WebAssembly.Module,
  info: ImageInfo,
  clock: { now: number },
  maxPages: number,
  boot: boolean,
): Live {
  const m64 = info.memory64
  const toPtr = (value: number): number | bigint => (m64 ? BigInt(value) : value)
  let exports: WebAssembly.Exports = {}
  let heap = new Uint8Array(0)
  let view = new DataView(heap.buffer)
  const views = (): void => {
    const buffer = memory.buffer
    if (heap.buffer !== buffer) {
      heap = new Uint8Array(buffer)
      view = new DataView(buffer)
    }
  }
  const fn = (name: string): ((...args: unknown[]) => unknown) => {
    const f = exports[name]
    if (typeof f !== 'function') throw exportsMissing('Emscripten', [name])
    return f as (...args: unknown[]) => unknown
  }
  const writeSize = (ptr: unknown, value: number): void => {
    views()
    if (m64) view.setBigUint64(Number(ptr), BigInt(value), true)
    else view.setUint32(Number(ptr), value, true)
  }
  const writeTm = (tmPtr: unknown, date: Date): void => {
    views()
    const p = Number(tmPtr)
    const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1)
    const fields = [
      date.getUTCSeconds(),
      date.getUTCMinutes(),
      date.getUTCHours(),
      date.getUTCDate(),
      date.getUTCMonth(),
      date.getUTCFullYear() - 1900,
      date.getUTCDay(),
      Math.floor((date.getTime() - yearStart) / 86_400_000),
      0,
    ]
    fields.forEach((value, i) => view.setInt32(p + i * 4, value, true))
  }
  const readTm = (tmPtr: unknown): number[] => {
    views()
    const p = Number(tmPtr)
    return Array.from({ length: 9 }, (_, i) => view.getInt32(p + i * 4, true))
  }
  const timeArg = (args: unknown[]): number =>
    args.length >= 3 ? (args[0] as number) + (args[1] as number) * 2 ** 32 : Number(args[0])
  const cString = (ptr: unknown): string => {
    views()
    const start = Number(ptr)
    return utf8.decode(heap.subarray(start, heap.indexOf(0, start)))
  }

  const host: Record<string, (...args: never[]) => unknown> = {
    _abort_js: () => {
      throw new ModuleTrap('the module aborted')
    },
    exit: (status: number) => {
      throw new ModuleTrap(`the module called exit(${status})`)
    },
    _emscripten_throw_longjmp: () => {
      // Emscripten's longjmp protocol: `invoke_*` catches this and calls setThrew.
      throw Infinity // eslint-disable-line @typescript-eslint/only-throw-error
    },
    _emscripten_memcpy_js: (dest: number, src: number, size: number) => {
      views()
      heap.copyWithin(Number(dest), Number(src), Number(src) + Number(size))
    },
    emscripten_date_now: () => clock.now,
    _emscripten_get_now_is_monotonic: () => 1,
    emscripten_resize_heap: (requested: number) => {
      const mem = memory
      const current = mem.buffer.byteLength
      const want = Number(requested)
      const cap = maxPages * PAGE
      if (want > cap) return 0
      // Emscripten's policy: grow by 20 % (at most 96 MiB) but at least to the request, capped.
      const target = Math.min(
        cap,
        Math.max(want, current + Math.min(current * 0.2, 96 * 1024 * 1024)),
      )
      try {
        growTo(mem, target, m64)
        return 1
      } catch {
        return 0
      }
    },
    _tzset_js: (_timezone: number, _daylight: number, stdName: number, dstName: number) => {
      views()
      heap.set([0x55, 0x54, 0x43, 0], Number(stdName))
      heap.set([0x55, 0x54, 0x43, 0], Number(dstName))
    },
    _gmtime_js: (...args: never[]) =>
      writeTm(args[args.length - 1], new Date(timeArg(args) * 1000)),
    _localtime_js: (...args: never[]) =>
      writeTm(args[args.length - 1], new Date(timeArg(args) * 1000)),
    _mktime_js: (tmPtr: number) => {
      const [sec, min, hour, mday, mon, year] = readTm(tmPtr) as [
        number,
        number,
        number,
        number,
        number,
        number,
      ]
      const ms = Date.UTC(year + 1900, mon, mday, hour, min, sec)
      writeTm(tmPtr, new Date(ms))
      const seconds = Math.floor(ms / 1000)
      if (!m64 && typeof exports['_emscripten_tempret_set'] === 'function') {
        fn('_emscripten_tempret_set')(Math.floor(seconds / 2 ** 32))
      }
      return seconds
    },
    strftime: (s: number, maxsize: number, format: number, tm: number) => {
      const [sec, min, hour, mday, mon, year, wday, yday] = readTm(tm) as [
        number,
        number,
        number,
        number,
        number,
        number,
        number,
        number,
      ]
      const pad = (n: number, width = 2): string => String(n).padStart(width, '0')
      const text = cString(format).replace(/%([a-zA-Z%])/g, (all, c: string) => {
        switch (c) {
          case 'Y':
            return String(year + 1900)
          case 'y':
            return pad((year + 1900) % 100)
          case 'm':
            return pad(mon + 1)
          case 'd':
            return pad(mday)
          case 'e':
            return String(mday).padStart(2, ' ')
          case 'H':
            return pad(hour)
          case 'I':
            return pad(hour % 12 === 0 ? 12 : hour % 12)
          case 'M':
            return pad(min)
          case 'S':
            return pad(sec)
          case 'p':
            return hour < 12 ? 'AM' : 'PM'
          case 'j':
            return pad(yday + 1, 3)
          case 'w':
            return String(wday)
          case 'a':
            return ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][wday] ?? ''
          case 'b':
            return (
              ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][
                mon
              ] ?? ''
            )
          case 'c':
            return `${pad(year + 1900, 4)}-${pad(mon + 1)}-${pad(mday)} ${pad(hour)}:${pad(min)}:${pad(sec)}`
          case 'x':
            return `${pad(mon + 1)}/${pad(mday)}/${pad((year + 1900) % 100)}`
          case 'X':
            return `${pad(hour)}:${pad(min)}:${pad(sec)}`
          case 'Z':
            return 'UTC'
          case 'z':
            return '+0000'
          case '%':
            return '%'
          default:
            return all
        }
      })
      const bytes = new TextEncoder().encode(text)
      if (bytes.byteLength + 1 > Number(maxsize)) return 0
      views()
      heap.set(bytes, Number(s))
      heap[Number(s) + bytes.byteLength] = 0
      return bytes.byteLength
    },
    _emscripten_system: (command: number) => (Number(command) === 0 ? 0 : -ENOSYS),
    __syscall_openat: () => -ENOENT,
    __asyncjs__weavedrive_open: () => 0,
    __asyncjs__weavedrive_read: () => 0,
    __asyncjs__weavedrive_close: () => 0,
    // WASI: no files, no environment; writes to stdout/stderr are counted and dropped.
    fd_write: (_fd: number, iov: number, iovcnt: number, pnum: number) => {
      views()
      const step = m64 ? 16 : 8
      let total = 0
      for (let i = 0; i < iovcnt; i++) {
        const at = Number(iov) + i * step
        total += m64 ? Number(view.getBigUint64(at + 8, true)) : view.getUint32(at + 4, true)
      }
      writeSize(pnum, total)
      return 0
    },
    fd_read: (_fd: number, _iov: number, _iovcnt: number, pnum: number) => {
      writeSize(pnum, 0)
      return 0
    },
    fd_close: () => 0,
    fd_seek: () => ESPIPE,
    environ_sizes_get: (count: number, size: number) => {
      writeSize(count, 0)
      writeSize(size, 0)
      return 0
    },
    environ_get: () => 0,
  }

  const stackSave = (): unknown => fn('emscripten_stack_get_current')()
  const invoke =
    (signature: string) =>
    (...[index, ...args]: unknown[]): unknown => {
      const sp = stackSave()
      try {
        const target = (exports['__indirect_function_table'] as WebAssembly.Table).get(
          Number(index),
        ) as (...a: unknown[]) => unknown
        return target(...args)
      } catch (error) {
        fn('_emscripten_stack_restore')(sp)
        if (error !== Infinity) throw error
        fn('setThrew')(toPtr(1), 0)
        return signature.startsWith('j') ? 0n : 0
      }
    }

  const imports: Record<string, Record<string, (...args: unknown[]) => unknown>> = {}
  for (const entry of WebAssembly.Module.imports(module)) {
    if (entry.kind !== 'function') {
      throw new ModuleTrap(`unsupported import ${entry.module}.${entry.name} (${entry.kind})`)
    }
    const result: ValueType = info.importResults.get(`${entry.module}.${entry.name}`) ?? 'void'
    const impl = entry.name.startsWith('invoke_')
      ? invoke(entry.name.slice('invoke_'.length))
      : ((host[entry.name] as ((...args: unknown[]) => unknown) | undefined) ??
        (entry.name.startsWith('__syscall_') ? () => -ENOSYS : undefined))
    const fail = (): never => {
      throw new ModuleTrap(
        `the module called ${entry.module}.${entry.name}, which this host does not provide`,
      )
    }
    const body = impl ?? fail
    const namespace = (imports[entry.module] ??= {})
    namespace[entry.name] =
      result === 'i64'
        ? (...args: unknown[]) => BigInt((body(...args) as number | bigint | undefined) ?? 0)
        : body
  }
  function writeCString(bytes: Uint8Array, at: number): void {
    views()
    heap.set(bytes, at)
    heap[at + bytes.byteLength] = 0
  }
  const instance = new WebAssembly.Instance(module, imports)
  exports = instance.exports
  const memory = exports['memory'] as WebAssembly.Memory
  views()
  if (boot) {
    // A restored instance gets memory and globals from the snapshot instead.
    fn('emscripten_stack_init')()
    fn('__wasm_call_ctors')()
    runMain()
  }

  /** As Emscripten's `callMain([])`: argv = ["./this.program"]; aos's main sets up its Lua state. */
  function runMain(): void {
    const sp = stackSave()
    const program = new TextEncoder().encode('./this.program')
    const programPtr = Number(fn('_emscripten_stack_alloc')(toPtr(program.byteLength + 1)))
    writeCString(program, programPtr)
    const width = m64 ? 8 : 4
    const argv = Number(fn('_emscripten_stack_alloc')(toPtr(width * 2)))
    writeSize(argv, programPtr)
    writeSize(argv + width, 0)
    fn('main')(1, toPtr(argv))
    fn('_emscripten_stack_restore')(sp)
  }
  const handle = fn('handle')
  const stackAlloc = fn('_emscripten_stack_alloc')
  const stackRestore = fn('_emscripten_stack_restore')
  return {
    memory,
    exports,
    call(msg, env) {
      // As Emscripten's ccall: both strings go on the wasm stack, which is restored afterwards.
      const sp = stackSave()
      try {
        const msgPtr = stackAlloc(toPtr(msg.byteLength + 1))
        writeCString(msg, Number(msgPtr))
        const envPtr = stackAlloc(toPtr(env.byteLength + 1))
        writeCString(env, Number(envPtr))
        const out = Number(handle(msgPtr, envPtr))
        views()
        return heap.slice(out, heap.indexOf(0, out))
      } finally {
        stackRestore(sp)
      }
    },
  }
}
