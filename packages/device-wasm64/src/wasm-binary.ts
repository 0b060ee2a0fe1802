/**
 * A small reader/rewriter for the WebAssembly binary format: just enough to find a module's
 * mutable globals and memory, and to export every mutable global so that a snapshot can save and
 * restore them (AssemblyScript keeps its GC and allocator state in globals; Emscripten keeps the
 * stack pointer in one). No engine API can read an unexported global, so the image is rewritten
 * once when it is loaded. Asyncify-instrumented images (aos) also get their instrumentation folded
 * out (`asyncify.ts`).
 */
import { foldAsyncifyState } from './asyncify.ts'
import { ImageFormatError, Reader } from './wasm-reader.ts'

export { ImageFormatError } from './wasm-reader.ts'

export interface ImageInfo {
  /** The image with every mutable global exported as `GLOBAL_EXPORT_PREFIX + index`. */
  readonly bytes: Uint8Array
  /** Export names of the mutable globals, in global-index order. */
  readonly globals: readonly string[]
  /** The module's own memory (or imported memory) is 64-bit addressed. */
  readonly memory64: boolean
  /** Declared initial memory size in 64 KiB pages. */
  readonly initialPages: number
  /** Result type of each imported function, by `module.name` (`i32`, `i64`, `f32`, `f64` or `void`). */
  readonly importResults: ReadonlyMap<string, ValueType>
  /** Reads of the Asyncify state folded to 0 (see `asyncify.ts`); 0 for other images. */
  readonly asyncifyFolded: number
}

export interface PrepareOptions {
  /** Fold Asyncify instrumentation out of the image (default true; false runs it as given). */
  readonly foldAsyncify?: boolean
}

export type ValueType = 'i32' | 'i64' | 'f32' | 'f64' | 'void' | 'ref'

const VALUE_TYPES: Record<number, ValueType> = {
  0x7f: 'i32',
  0x7e: 'i64',
  0x7d: 'f32',
  0x7c: 'f64',
}

export const GLOBAL_EXPORT_PREFIX = '__aonode_global_'

const MAGIC = [0x00, 0x61, 0x73, 0x6d]
const SECTION_TYPE = 1
const SECTION_IMPORT = 2
const SECTION_MEMORY = 5
const SECTION_GLOBAL = 6
const SECTION_EXPORT = 7
const EXPORT_KIND_GLOBAL = 3

function uleb(value: number): number[] {
  const out: number[] = []
  do {
    let b = value % 128
    value = Math.floor(value / 128)
    if (value !== 0) b |= 0x80
    out.push(b)
  } while (value !== 0)
  return out
}

/**
 * Reads the image's globals and memory, exports every mutable global and, with `maxPages`, lowers
 * the memory's declared maximum to it, so that no `memory.grow` inside a call can pass the cap.
 */
export function prepareImage(
  original: Uint8Array,
  maxPages?: number,
  options: PrepareOptions = {},
): ImageInfo {
  if (original.byteLength < 8 || MAGIC.some((b, i) => original[i] !== b)) {
    throw new ImageFormatError('the image is not a WebAssembly module (bad magic bytes)')
  }
  const { bytes: image, folded: asyncifyFolded } =
    options.foldAsyncify === false ? { bytes: original, folded: 0 } : foldAsyncifyState(original)
  let importedGlobals = 0
  let memory64 = false
  let initialPages = 0
  const mutable: number[] = []
  const exportNames = new Set<string>()
  let exportSection: { start: number; end: number; bodyStart: number; count: number } | undefined
  let insertAt = image.byteLength
  /** Byte ranges of the image to replace, in order. */
  const splices: { start: number; end: number; bytes: Uint8Array }[] = []
  const typeResults: ValueType[] = []
  const importResults = new Map<string, ValueType>()
  const decoder = new TextDecoder()
  const top = new Reader(image, 8, image.byteLength)
  while (top.pos < top.end) {
    const sectionStart = top.pos
    const id = top.byte()
    const size = top.u()
    const bodyStart = top.pos
    const end = bodyStart + size
    if (end > image.byteLength)
      throw new ImageFormatError('a section runs past the end of the image')
    const r = new Reader(image, bodyStart, end)
    if (id === SECTION_TYPE) {
      for (let n = r.u(); n > 0; n--) {
        if (r.byte() !== 0x60) throw new ImageFormatError('unsupported type section entry')
        r.skip(r.u())
        const results = r.u()
        const first = results > 0 ? r.byte() : undefined
        r.skip(Math.max(0, results - 1))
        typeResults.push(first === undefined ? 'void' : (VALUE_TYPES[first] ?? 'ref'))
      }
    } else if (id === SECTION_IMPORT) {
      for (let n = r.u(); n > 0; n--) {
        const moduleLength = r.u()
        const moduleName = decoder.decode(image.subarray(r.pos, r.pos + moduleLength))
        r.skip(moduleLength)
        const fieldLength = r.u()
        const fieldName = decoder.decode(image.subarray(r.pos, r.pos + fieldLength))
        r.skip(fieldLength)
        const kind = r.byte()
        if (kind === 0x00) {
          importResults.set(`${moduleName}.${fieldName}`, typeResults[r.u()] ?? 'void')
        } else if (kind === 0x01) {
          r.byte()
          r.limits()
        } else if (kind === 0x02) {
          const [flags, initial] = r.limits()
          memory64 = (flags & 0x04) !== 0
          initialPages = initial
        } else if (kind === 0x03) {
          r.byte()
          r.byte()
          importedGlobals++
        } else if (kind === 0x04) {
          r.byte()
          r.u()
        } else throw new ImageFormatError(`unknown import kind ${kind}`)
      }
    } else if (id === SECTION_MEMORY) {
      if (r.u() > 0) {
        const [flags, initial, maximum] = r.limits()
        memory64 = (flags & 0x04) !== 0
        initialPages = initial
        if (maxPages !== undefined) {
          if (initial > maxPages) {
            throw new ImageFormatError(
              `the module starts with ${initial} memory pages, above the cap of ${maxPages}`,
            )
          }
          if (maximum === undefined || maximum > maxPages) {
            const limits = [flags | 0x01, ...uleb(initial), ...uleb(maxPages)]
            const body = [1, ...limits, ...image.subarray(r.pos, end)]
            splices.push({
              start: sectionStart,
              end,
              bytes: new Uint8Array([SECTION_MEMORY, ...uleb(body.length), ...body]),
            })
          }
        }
      }
    } else if (id === SECTION_GLOBAL) {
      const count = r.u()
      for (let i = 0; i < count; i++) {
        r.byte()
        if (r.byte() === 1) mutable.push(importedGlobals + i)
        r.constExpr()
      }
    } else if (id === SECTION_EXPORT) {
      const count = r.u()
      const entriesStart = r.pos
      for (let i = 0; i < count; i++) {
        const len = r.u()
        exportNames.add(decoder.decode(image.subarray(r.pos, r.pos + len)))
        r.skip(len)
        r.byte()
        r.u()
      }
      exportSection = { start: sectionStart, end, bodyStart: entriesStart, count }
    }
    // Sections with id > export (start, element, code, data...) come after: a new export section goes before them.
    if (
      id !== 0 &&
      id > SECTION_EXPORT &&
      insertAt === image.byteLength &&
      exportSection === undefined
    ) {
      insertAt = sectionStart
    }
    top.pos = end
  }

  const encoder = new TextEncoder()
  const globals: string[] = []
  const added: number[] = []
  for (const index of mutable) {
    const name = `${GLOBAL_EXPORT_PREFIX}${index}`
    globals.push(name)
    if (exportNames.has(name)) continue
    const nameBytes = encoder.encode(name)
    added.push(...uleb(nameBytes.byteLength), ...nameBytes, EXPORT_KIND_GLOBAL, ...uleb(index))
  }
  if (added.length > 0) {
    const addedCount =
      globals.length - mutable.filter((i) => exportNames.has(`${GLOBAL_EXPORT_PREFIX}${i}`)).length
    const oldEntries =
      exportSection === undefined
        ? new Uint8Array(0)
        : image.subarray(exportSection.bodyStart, exportSection.end)
    const body = [...uleb((exportSection?.count ?? 0) + addedCount), ...oldEntries, ...added]
    splices.push({
      start: exportSection?.start ?? insertAt,
      end: exportSection?.end ?? insertAt,
      bytes: new Uint8Array([SECTION_EXPORT, ...uleb(body.length), ...body]),
    })
  }
  if (splices.length === 0)
    return { bytes: image, globals, memory64, initialPages, importResults, asyncifyFolded }
  splices.sort((a, b) => a.start - b.start)
  const parts: Uint8Array[] = []
  let at = 0
  for (const splice of splices) {
    parts.push(image.subarray(at, splice.start), splice.bytes)
    at = splice.end
  }
  parts.push(image.subarray(at))
  const out = new Uint8Array(parts.reduce((n, part) => n + part.byteLength, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.byteLength
  }
  return { bytes: out, globals, memory64, initialPages, importResults, asyncifyFolded }
}
