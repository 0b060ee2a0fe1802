/**
 * Folding binaryen's Asyncify instrumentation out of an image.
 *
 * aos builds are instrumented with Asyncify so that a host may suspend them inside WeaveDrive's
 * `__asyncjs__*` imports: every instrumented function reads a state global on entry and after each
 * call that might suspend, to unwind or rewind its stack. This host answers those imports
 * synchronously and never calls `asyncify_start_unwind`/`asyncify_start_rewind`, so the state is 0
 * ("normal") at every read for an instance's whole life. Rewriting each read as the constant 0 lets
 * V8's optimising compiler drop the instrumentation: the module computes exactly as before (same
 * answers, same memory, same globals) and aos runs about 1.5 times as fast.
 *
 * The rewrite is made only when the image proves the state can change nowhere else: the state is a
 * module-defined mutable i32 starting at 0, `asyncify_get_state` returns it, and the only writes to
 * it are in the four exported control functions, which no code calls and no table holds. Each read,
 * `global.get` + index LEB, is replaced in place by `i32.const 0` padded to the same length, so no
 * function body changes size.
 */
import { ImageFormatError, Reader } from './wasm-reader.ts'

const SECTION_IMPORT = 2
const SECTION_GLOBAL = 6
const SECTION_EXPORT = 7
const SECTION_ELEMENT = 9
const SECTION_CODE = 10

const GET_STATE = 'asyncify_get_state'
const CONTROL = [
  'asyncify_start_unwind',
  'asyncify_stop_unwind',
  'asyncify_start_rewind',
  'asyncify_stop_rewind',
] as const

export interface AsyncifyFold {
  /** The image with every read of the Asyncify state folded (the input itself when `folded` is 0). */
  readonly bytes: Uint8Array
  /** Reads of the state rewritten; 0 when the image is not Asyncify-instrumented or not provably safe. */
  readonly folded: number
}

/** An opcode this scanner does not know: the image is then left as it is. */
class UnknownOpcode extends Error {}

/** Skips a value type (`ref null ht` / `ref ht` carry a heap type). */
function skipValueType(r: Reader): void {
  const type = r.byte()
  if (type === 0x63 || type === 0x64) r.skipLeb()
}

/** Skips a memory access's alignment (with the multi-memory index flag) and offset. */
function skipMemarg(r: Reader): void {
  const align = r.u()
  if ((align & 0x40) !== 0) r.u()
  r.u()
}

interface CodeVisitor {
  globalGet(index: number, at: number, end: number): void
  globalSet(index: number): void
  /** A direct call, tail call or `ref.func`. */
  functionRef(index: number): void
}

/** Walks one function body's instructions (after its locals) up to `r.end`. */
function scanInstructions(r: Reader, visit: CodeVisitor): void {
  while (r.pos < r.end) {
    const at = r.pos
    const op = r.byte()
    if (op >= 0x45 && op <= 0xc4) continue // numeric, conversions, sign extension
    if (op >= 0x28 && op <= 0x3e) {
      skipMemarg(r)
      continue
    }
    switch (op) {
      case 0x00: // unreachable, nop, else, end, return, drop, select, ref.is_null, ref.eq, ref.as_non_null
      case 0x01:
      case 0x05:
      case 0x0b:
      case 0x0f:
      case 0x19:
      case 0x1a:
      case 0x1b:
      case 0xd1:
      case 0xd3:
      case 0xd4:
        break
      case 0x02: // block, loop, if, try: a block type (value type or type index, as s33)
      case 0x03:
      case 0x04:
      case 0x06: {
        const type = r.bytes[r.pos]
        if (type === 0x63 || type === 0x64) skipValueType(r)
        else r.skipLeb()
        break
      }
      case 0x07: // catch, throw, rethrow, br, br_if, delegate, local.*, table.get/set, br_on_(non_)null
      case 0x08:
      case 0x09:
      case 0x0c:
      case 0x0d:
      case 0x18:
      case 0x20:
      case 0x21:
      case 0x22:
      case 0x25:
      case 0x26:
      case 0xd5:
      case 0xd6:
        r.u()
        break
      case 0x0e: // br_table
        for (let n = r.u(); n >= 0; n--) r.u()
        break
      case 0x10: // call, return_call
      case 0x12:
      case 0xd2: // ref.func
        visit.functionRef(r.u())
        break
      case 0x11: // call_indirect, return_call_indirect: type and table
      case 0x13:
        r.u()
        r.u()
        break
      case 0x14: // call_ref, return_call_ref: type
      case 0x15:
        r.u()
        break
      case 0x1c: // select with types
        for (let n = r.u(); n > 0; n--) skipValueType(r)
        break
      case 0x23: {
        const index = r.u()
        visit.globalGet(index, at, r.pos)
        break
      }
      case 0x24:
        visit.globalSet(r.u())
        break
      case 0x3f: // memory.size, memory.grow
      case 0x40:
        r.u()
        break
      case 0x41: // i32.const, i64.const
      case 0x42:
        r.skipLeb()
        break
      case 0x43:
        r.skip(4)
        break
      case 0x44:
        r.skip(8)
        break
      case 0xd0: // ref.null heap type
        r.skipLeb()
        break
      case 0xfc:
        skipMiscImmediates(r, r.u())
        break
      case 0xfd:
        skipSimdImmediates(r, r.u())
        break
      case 0xfe: {
        // Atomics: atomic.fence has one zero byte, every other a memarg.
        if (r.u() === 0x03) r.byte()
        else skipMemarg(r)
        break
      }
      default:
        throw new UnknownOpcode(`0x${op.toString(16)}`)
    }
  }
}

/** Immediates of the 0xfc prefix: saturating truncations, bulk memory, tables. */
function skipMiscImmediates(r: Reader, sub: number): void {
  if (sub <= 7) return
  // memory.init, memory.copy, table.init, table.copy take two indices; the others up to 17 take one.
  if (sub === 8 || sub === 10 || sub === 12 || sub === 14) {
    r.u()
    r.u()
  } else if (sub <= 17) r.u()
  else throw new UnknownOpcode(`0xfc ${sub}`)
}

/** Immediates of the 0xfd prefix (fixed-width SIMD). */
function skipSimdImmediates(r: Reader, sub: number): void {
  if (sub <= 11 || sub === 92 || sub === 93) skipMemarg(r)
  else if (sub === 12 || sub === 13) r.skip(16)
  else if (sub >= 21 && sub <= 34) r.byte()
  else if (sub >= 84 && sub <= 91) {
    skipMemarg(r)
    r.byte()
  }
}

interface Layout {
  importedFunctions: number
  importedGlobals: number
  /** Mutability, value type and initialiser range of each module-defined global. */
  globals: { mutable: boolean; type: number; init: [number, number] }[]
  exports: Map<string, { kind: number; index: number }>
  /** Functions an element segment puts in a table. */
  inTables: Set<number>
  /** [start, end] of each function body (locals and code), in function order. */
  bodies: [number, number][]
}

function readLayout(image: Uint8Array): Layout {
  const layout: Layout = {
    importedFunctions: 0,
    importedGlobals: 0,
    globals: [],
    exports: new Map(),
    inTables: new Set(),
    bodies: [],
  }
  const decoder = new TextDecoder()
  const name = (r: Reader): string => {
    const length = r.u()
    const text = decoder.decode(image.subarray(r.pos, r.pos + length))
    r.skip(length)
    return text
  }
  const top = new Reader(image, 8, image.byteLength)
  while (top.pos < top.end) {
    const id = top.byte()
    const size = top.u()
    const r = new Reader(image, top.pos, top.pos + size)
    top.skip(size)
    if (id === SECTION_IMPORT) {
      for (let n = r.u(); n > 0; n--) {
        name(r)
        name(r)
        const kind = r.byte()
        if (kind === 0x00) {
          layout.importedFunctions++
          r.u()
        } else if (kind === 0x01) {
          skipValueType(r)
          r.limits()
        } else if (kind === 0x02) r.limits()
        else if (kind === 0x03) {
          layout.importedGlobals++
          skipValueType(r)
          r.byte()
        } else if (kind === 0x04) {
          r.byte()
          r.u()
        } else throw new ImageFormatError(`unknown import kind ${kind}`)
      }
    } else if (id === SECTION_GLOBAL) {
      for (let n = r.u(); n > 0; n--) {
        const type = r.bytes[r.pos] as number
        skipValueType(r)
        const mutable = r.byte() === 1
        const start = r.pos
        r.constExpr()
        layout.globals.push({ mutable, type, init: [start, r.pos] })
      }
    } else if (id === SECTION_EXPORT) {
      for (let n = r.u(); n > 0; n--) {
        const exported = name(r)
        layout.exports.set(exported, { kind: r.byte(), index: r.u() })
      }
    } else if (id === SECTION_ELEMENT) {
      const addFunction = (index: number): void => void layout.inTables.add(index)
      for (let n = r.u(); n > 0; n--) {
        const flags = r.u()
        const active = (flags & 0x01) === 0
        const explicit = (flags & 0x02) !== 0
        const expressions = (flags & 0x04) !== 0
        if (active) {
          if (explicit) r.u()
          r.constExpr(addFunction)
        }
        if (!active || explicit) {
          if (expressions) skipValueType(r)
          else r.byte()
        }
        for (let items = r.u(); items > 0; items--) {
          if (expressions) r.constExpr(addFunction)
          else addFunction(r.u())
        }
      }
    } else if (id === SECTION_CODE) {
      for (let n = r.u(); n > 0; n--) {
        const size = r.u()
        layout.bodies.push([r.pos, r.pos + size])
        r.skip(size)
      }
    }
  }
  return layout
}

/** Skips a body's local declarations; the reader is then at its first instruction. */
function skipLocals(r: Reader): void {
  for (let n = r.u(); n > 0; n--) {
    r.u()
    skipValueType(r)
  }
}

/**
 * Folds the Asyncify state of an instrumented image to its constant 0 (see the module comment).
 * Images without Asyncify, or where the rewrite is not provably exact, come back unchanged.
 */
export function foldAsyncifyState(image: Uint8Array): AsyncifyFold {
  const unchanged: AsyncifyFold = { bytes: image, folded: 0 }
  const layout = readLayout(image)
  const functionIndex = (exported: string): number | undefined => {
    const entry = layout.exports.get(exported)
    return entry?.kind === 0x00 && entry.index >= layout.importedFunctions ? entry.index : undefined
  }
  const getState = functionIndex(GET_STATE)
  const control = CONTROL.map(functionIndex)
  if (getState === undefined || control.some((index) => index === undefined)) return unchanged
  const body = layout.bodies[getState - layout.importedFunctions]
  if (body === undefined) return unchanged

  // asyncify_get_state is exactly `global.get $state; end` with no locals.
  const getter = new Reader(image, body[0], body[1])
  if (getter.u() !== 0 || getter.byte() !== 0x23) return unchanged
  const state = getter.u()
  if (getter.byte() !== 0x0b || getter.pos !== getter.end) return unchanged
  const global = layout.globals[state - layout.importedGlobals]
  if (global === undefined || !global.mutable || global.type !== 0x7f) return unchanged
  const [initStart, initEnd] = global.init
  if (initEnd - initStart !== 3 || image[initStart] !== 0x41 || image[initStart + 1] !== 0x00)
    return unchanged

  const asyncify = new Set([getState, ...(control as number[])])
  if ([...asyncify].some((index) => layout.inTables.has(index))) return unchanged
  const writers = new Set(control as number[])
  const reads: [number, number][] = []
  let safe = true
  try {
    layout.bodies.forEach(([start, end], i) => {
      const index = layout.importedFunctions + i
      const r = new Reader(image, start, end)
      skipLocals(r)
      scanInstructions(r, {
        globalGet(global, at, after) {
          if (global === state && index !== getState) reads.push([at, after])
        },
        globalSet(global) {
          if (global === state && !writers.has(index)) safe = false
        },
        functionRef(target) {
          if (asyncify.has(target)) safe = false
        },
      })
    })
  } catch (error) {
    if (error instanceof UnknownOpcode) return unchanged
    throw error
  }
  if (!safe || reads.length === 0) return unchanged

  const bytes = image.slice()
  for (const [at, end] of reads) {
    // i32.const 0 as a signed LEB padded to the index's width: 0x80 … 0x80 0x00.
    bytes[at] = 0x41
    bytes.fill(0x80, at + 1, end - 1)
    bytes[end - 1] = 0x00
  }
  return { bytes, folded: reads.length }
}
