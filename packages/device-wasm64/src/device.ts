import { createHash } from 'node:crypto'
import {
  COMPUTE_BATCH_KEY,
  RUN_AHEAD_KEY,
  DeviceError,
  Live,
  PRIVATE_KEY,
  defineDevice,
  getKey,
  getOwn,
  id,
  isId,
  isMessage,
  toInteger,
  type Device,
  type Message,
  type ResolveContext,
  type Value,
} from '@aonode/core'
import { bodyOf, envJson, messageJson, parseResult, type AoContext } from './ao-json.ts'
import {
  BootError,
  WasmInstance,
  batchOf,
  closeAllInstances,
  type BatchMessage,
  type CallOutcome,
  type Compiled,
  type Judge,
  type InstanceLimits,
} from './instance.ts'
import { PAGE, detectKind, type InstanceSnapshot } from './runtime.ts'
import { ImageFormatError, prepareImage, type ImageInfo } from './wasm-binary.ts'

export const WASM64_DEVICE = 'wasm64@1.0'
export const WASM64_ALIAS = 'wasm-64@1.0'
/** Where the live instance sits in the state's private keys (`priv/wasm64`). */
export const LIVE_KEY = 'wasm64'

export interface Wasm64Options {
  /** Memory cap in 64 KiB pages for every process (default 16384 = 1 GiB). */
  readonly maxMemoryPages?: number
  /** Wall-clock limit per message in ms (default 10,000); a process may only lower it. */
  readonly timeoutMs?: number
  /**
   * Compute time in ms after which the rollback base is refreshed (default 1000): the most an undo
   * replays. More = fewer memory scans, slower undo.
   */
  readonly rollbackReplayMs?: number
  /** Journal bytes that also force a new rollback base (default 16 MiB). */
  readonly rollbackBytes?: number
  /** How long a call may block the event loop before yielding, in ms (default 5; 0 = never). */
  readonly syncWaitMs?: number
  /** Compiled images kept in memory (default 16). */
  readonly imageCacheSize?: number
}

const DEFAULTS: Required<Wasm64Options> = {
  maxMemoryPages: 16384,
  timeoutMs: 10_000,
  rollbackReplayMs: 1000,
  rollbackBytes: 16 << 20,
  syncWaitMs: 5,
  imageCacheSize: 16,
}

/** What `priv/wasm64` holds. */
export interface LiveProcess {
  readonly instance: WasmInstance
  readonly ao: AoContext
  /** sha-256 of the original image, hex: a snapshot only restores onto the same image. */
  readonly imageHash: string
}

const fail = (
  code: 'BAD_REQUEST' | 'UNPROCESSABLE' | 'TOO_LARGE' | 'CONFLICT',
  message: string,
  key?: string,
): DeviceError =>
  new DeviceError(code, `wasm64: ${message}`, {
    device: WASM64_DEVICE,
    ...(key === undefined ? {} : { key }),
  })

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1024,
  mb: 1024 ** 2,
  gb: 1024 ** 3,
  tb: 1024 ** 4,
}

/** ao's `Memory-Limit` (`500-mb`, `1-gb`, `<n>-b`) or a byte count, in pages. */
export function memoryLimitPages(value: Value): number | undefined {
  const bytes = toInteger(value)
  if (bytes !== undefined) return Math.ceil(bytes / PAGE)
  if (typeof value !== 'string') return undefined
  const match = /^(\d+(?:\.\d+)?)-?([kmgt]?b)$/i.exec(value.trim())
  if (match === null) return undefined
  return Math.ceil(
    (Number(match[1]) * (UNITS[(match[2] as string).toLowerCase()] as number)) / PAGE,
  )
}

function privOf(state: Message): Message {
  const priv = getOwn(state, PRIVATE_KEY)
  return isMessage(priv) ? priv : {}
}

function liveOf(state: Message): LiveProcess | undefined {
  const live = getOwn(privOf(state), LIVE_KEY)
  return live instanceof Live ? (live.value as LiveProcess) : undefined
}

function withLive(state: Message, live: LiveProcess, extra: Message = {}): Message {
  const next: Record<string, Value> = { ...state, ...extra }
  delete next['snapshot']
  next[PRIVATE_KEY] = { ...privOf(state), [LIVE_KEY]: new Live(live) }
  return next
}

/** The process definition: the state's `process` key, or the base itself. */
function definitionOf(base: Message): Message {
  const process = getOwn(base, 'process')
  return isMessage(process) ? process : base
}

const u32Bytes = (values: Uint32Array): Uint8Array => {
  const out = new Uint8Array(values.length * 4)
  const view = new DataView(out.buffer)
  values.forEach((v, i) => view.setUint32(i * 4, v, true))
  return out
}

const u32Values = (bytes: Uint8Array): Uint32Array => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return Uint32Array.from({ length: bytes.byteLength >> 2 }, (_, i) => view.getUint32(i * 4, true))
}

const judge =
  (ao: AoContext): Judge<Message> =>
  (answer) => {
    const parsed = parseResult(answer, ao)
    return { value: parsed.results, rollback: parsed.rollback }
  }

function batchMessage(assignment: Message, ao: AoContext): BatchMessage {
  const { json, timestamp } = messageJson(assignment, ao)
  return { msg: json, timestamp }
}

function withResults(state: Message, outcome: CallOutcome<Message>): Message {
  const results = outcome.status === 'ok' ? outcome.value : { error: `wasm64: ${outcome.message}` }
  return { ...state, results }
}

/** `wasm64@1.0`: AssemblyScript and ao (Emscripten, wasm32/memory64) modules as process logic. */
export function createWasm64Device(options: Wasm64Options = {}): Device {
  const compiled = new Map<string, Promise<Compiled>>()

  function settings(ctx: ResolveContext): Required<Wasm64Options> {
    const node = ctx.node?.devices?.[WASM64_DEVICE] as Wasm64Options | undefined
    return { ...DEFAULTS, ...options, ...node }
  }

  async function imageBytes(
    base: Message,
    ctx: ResolveContext,
  ): Promise<{ bytes: Uint8Array; module: string }> {
    const definition = definitionOf(base)
    const image =
      getKey(base, 'image') ??
      getKey(base, 'wasm-image') ??
      getKey(definition, 'image') ??
      getKey(definition, 'wasm-image')
    if (image === undefined)
      throw fail('BAD_REQUEST', 'the process names no "image" (or "wasm-image")', 'image')
    if (image instanceof Uint8Array) return { bytes: image, module: '' }
    if (isMessage(image)) {
      const body = getKey(image, 'body') ?? getKey(image, 'data')
      if (body instanceof Uint8Array) return { bytes: body, module: '' }
      throw fail('BAD_REQUEST', 'the inline image message has no binary "body"', 'image')
    }
    if (!isId(image))
      throw fail(
        'BAD_REQUEST',
        '"image" must be a 43-character message ID or the WASM binary',
        'image',
      )
    const stored = await ctx.resolve({ device: 'cache@1.0' }, { path: 'read', target: image })
    const body =
      stored instanceof Uint8Array
        ? stored
        : isMessage(stored)
          ? (getKey(stored, 'body') ?? getKey(stored, 'data'))
          : undefined
    if (body instanceof Uint8Array) return { bytes: body, module: image }
    if (typeof body === 'string') return { bytes: new TextEncoder().encode(body), module: image }
    throw fail('BAD_REQUEST', `the image ${image} has no binary body`, 'image')
  }

  async function compile(
    bytes: Uint8Array,
    hash: string,
    maxPages: number,
    cacheSize: number,
  ): Promise<Compiled> {
    const cacheKey = `${hash}:${maxPages}`
    let entry = compiled.get(cacheKey)
    if (entry === undefined) {
      entry = (async () => {
        let prepared
        try {
          prepared = prepareImage(bytes, maxPages)
        } catch (error) {
          if (error instanceof ImageFormatError)
            throw fail('BAD_REQUEST', `invalid image: ${error.message}`, 'image')
          throw error
        }
        let module: WebAssembly.Module
        try {
          module = await WebAssembly.compile(prepared.bytes as Uint8Array<ArrayBuffer>)
        } catch (error) {
          throw fail('BAD_REQUEST', `invalid image: ${(error as Error).message}`, 'image')
        }
        const kind = detectKind(module)
        if (kind === undefined) {
          throw fail(
            'BAD_REQUEST',
            'the image exports no usable entry point: it needs `handle` and `memory`, plus the AssemblyScript runtime (`__new`, `__pin`, `__unpin`: build with --exportRuntime) or the Emscripten stack helpers',
            'image',
          )
        }
        const info: Omit<ImageInfo, 'bytes'> = {
          globals: prepared.globals,
          memory64: prepared.memory64,
          initialPages: prepared.initialPages,
          importResults: prepared.importResults,
          asyncifyFolded: prepared.asyncifyFolded,
        }
        return { module, info, kind }
      })()
      compiled.set(cacheKey, entry)
      entry.catch(() => compiled.delete(cacheKey))
      while (compiled.size > cacheSize) compiled.delete(compiled.keys().next().value as string)
    }
    return entry
  }

  function limitsFor(definition: Message, ctx: ResolveContext): InstanceLimits {
    const s = settings(ctx)
    let maxPages = s.maxMemoryPages
    const memoryLimit = getKey(definition, 'memory-limit')
    if (memoryLimit !== undefined) {
      const pages = memoryLimitPages(memoryLimit)
      if (pages === undefined)
        throw fail(
          'BAD_REQUEST',
          `"memory-limit" ${JSON.stringify(memoryLimit)} is not a size like 500-mb`,
          'memory-limit',
        )
      if (pages > s.maxMemoryPages) {
        throw fail(
          'TOO_LARGE',
          `"memory-limit" ${JSON.stringify(memoryLimit)} is above this node's cap of ${s.maxMemoryPages} pages`,
          'memory-limit',
        )
      }
      maxPages = pages
    }
    let timeoutMs = s.timeoutMs
    const timeLimit = getKey(definition, 'time-limit')
    if (timeLimit !== undefined) {
      const ms = toInteger(timeLimit)
      if (ms === undefined || ms <= 0)
        throw fail(
          'BAD_REQUEST',
          '"time-limit" must be a positive number of milliseconds',
          'time-limit',
        )
      timeoutMs = Math.min(ms, s.timeoutMs)
    }
    return {
      maxPages,
      timeoutMs,
      rollbackReplayMs: s.rollbackReplayMs,
      rollbackBytes: s.rollbackBytes,
      syncWaitMs: s.syncWaitMs,
    }
  }

  async function start(
    base: Message,
    ctx: ResolveContext,
    snapshot?: InstanceSnapshot,
    expectHash?: string,
  ): Promise<LiveProcess> {
    const definition = definitionOf(base)
    const limits = limitsFor(definition, ctx)
    const { bytes, module } = await imageBytes(base, ctx)
    const imageHash = createHash('sha256').update(bytes).digest('hex')
    if (expectHash !== undefined && expectHash !== imageHash) {
      throw fail('CONFLICT', 'the snapshot was taken from a different image', 'snapshot')
    }
    const image = await compile(bytes, imageHash, limits.maxPages, settings(ctx).imageCacheSize)
    if (snapshot !== undefined && snapshot.size > limits.maxPages * PAGE) {
      throw fail('TOO_LARGE', 'the snapshot memory is larger than the memory cap', 'snapshot')
    }
    let instance: WasmInstance
    try {
      instance = await WasmInstance.start(image, limits, snapshot)
    } catch (error) {
      if (error instanceof BootError)
        throw fail('BAD_REQUEST', `the image cannot be instantiated: ${error.message}`, 'image')
      throw error
    }
    const pid = id(definition)
    const ownerKey = getKey(definition, 'owner')
    const owner = typeof ownerKey === 'string' ? ownerKey : (ctx.node?.address ?? pid)
    return {
      instance,
      imageHash,
      ao: { process: pid, module, owner, env: envJson(pid, definition, module, owner) },
    }
  }

  function snapshotOf(value: Value | undefined): { snapshot: InstanceSnapshot; hash: string } {
    if (!isMessage(value))
      throw fail('BAD_REQUEST', 'normalize needs a "snapshot" message', 'snapshot')
    const size = toInteger(getOwn(value, 'memory-size'))
    const pages = getOwn(value, 'pages')
    const data = getOwn(value, 'body')
    const globals = getOwn(value, 'globals')
    const hash = getOwn(value, 'image-hash')
    if (
      size === undefined ||
      !(pages instanceof Uint8Array) ||
      !(data instanceof Uint8Array) ||
      !Array.isArray(globals) ||
      !globals.every((g) => typeof g === 'string') ||
      typeof hash !== 'string' ||
      pages.byteLength % 4 !== 0 ||
      data.byteLength !== (pages.byteLength / 4) * PAGE
    ) {
      throw fail(
        'BAD_REQUEST',
        'the snapshot is not a wasm64 snapshot (memory-size, pages, body, globals, image-hash)',
        'snapshot',
      )
    }
    return { snapshot: { size, pages: u32Values(pages), data, globals }, hash }
  }

  /** The state's live instance; without one, as HyperBEAM, restored from `snapshot` or booted. */
  async function ensureLive(
    base: Message,
    ctx: ResolveContext,
  ): Promise<{ live: LiveProcess; state: Message }> {
    const live = liveOf(base)
    if (live !== undefined) return { live, state: base }
    const snapshot = getOwn(base, 'snapshot')
    let started: LiveProcess
    if (snapshot !== undefined) {
      const parsed = snapshotOf(snapshot)
      started = await start(base, ctx, parsed.snapshot, parsed.hash)
    } else started = await start(base, ctx)
    return { live: started, state: withLive(base, started) }
  }

  return defineDevice({
    info: {
      name: WASM64_DEVICE,
      aliases: [WASM64_ALIAS],
      core: '^0.1.0',
      description:
        'AssemblyScript and ao (Emscripten, wasm32/memory64) WASM modules as AO process logic',
    },
    keys: {
      async init(base, _req, ctx) {
        return withLive(base, await start(base, ctx))
      },

      async compute(base, req, ctx) {
        const { live, state } = await ensureLive(base, ctx)
        const message = batchMessage(req, live.ao)
        const [outcome] = await live.instance.computeBatch(
          batchOf(1, () => message),
          live.ao.env,
          judge(live.ao),
        )
        return withResults(state, outcome as CallOutcome<Message>)
      },

      async [COMPUTE_BATCH_KEY](base, req, ctx) {
        const assignments = getOwn(req, 'assignments')
        if (!Array.isArray(assignments) || !assignments.every(isMessage))
          throw fail('BAD_REQUEST', '"assignments" must be a list of assignments', 'assignments')
        const { live, state } = await ensureLive(base, ctx)
        // A message without a body fails alone, as its `compute` would have. The others' JSON is
        // built as the batch reaches them, while the worker computes the messages before.
        const outcomes: Message[] = []
        const runnable: Message[] = []
        const slots: number[] = []
        for (const assignment of assignments) {
          try {
            bodyOf(assignment)
          } catch (error) {
            if (!DeviceError.is(error)) throw error
            outcomes.push({ error: error.message, code: error.code })
            continue
          }
          slots.push(outcomes.length)
          runnable.push(assignment)
          outcomes.push({})
        }
        const computed = await live.instance.computeBatch(
          batchOf(runnable.length, (i) => batchMessage(runnable[i] as Message, live.ao)),
          live.ao.env,
          judge(live.ao),
        )
        computed.forEach((outcome, i) => {
          outcomes[slots[i] as number] = { state: withResults(state, outcome) }
        })
        // Calls queue on the instance in call order, and a state is the base plus `results`: the
        // next run may come before this answer, and its first messages then go out early.
        return { outcomes, [RUN_AHEAD_KEY]: true }
      },

      async snapshot(base) {
        const live = liveOf(base)
        if (live === undefined)
          throw fail(
            'UNPROCESSABLE',
            'the state has no live instance to snapshot (init or normalize first)',
          )
        const snapshot = await live.instance.snapshot()
        return {
          kind: live.instance.kind,
          'image-hash': live.imageHash,
          'memory-size': snapshot.size,
          pages: u32Bytes(snapshot.pages),
          globals: [...snapshot.globals],
          body: snapshot.data,
        }
      },

      async normalize(base, _req, ctx) {
        const snapshot = getOwn(base, 'snapshot')
        if (snapshot === undefined) {
          if (liveOf(base) !== undefined) return base
          throw fail('BAD_REQUEST', 'normalize needs a "snapshot" message', 'snapshot')
        }
        const parsed = snapshotOf(snapshot)
        liveOf(base)?.instance.close()
        return withLive(base, await start(base, ctx, parsed.snapshot, parsed.hash))
      },
    },
    async stop() {
      await closeAllInstances()
    },
  })
}

/** Loader contract: the devices this package provides. */
export function createDevices(options?: Wasm64Options): Device[] {
  return [createWasm64Device(options)]
}
