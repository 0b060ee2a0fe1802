#!/usr/bin/env node
/**
 * `aonode`: run a node (`start`) or talk to one over HTTP (`spawn`, `send`, `now`, `schedule`).
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { startNode } from './start.ts'

const USAGE = `usage:
  aonode start [--config FILE] [--port N] [--data DIR]
  aonode spawn (--lua FILE | --wasm FILE) [Key=Value ...] [--url URL]
  aonode send ID Key=Value ... [--data TEXT] [--url URL]
  aonode now ID [PATH] [--url URL]
  aonode schedule ID [--url URL]

--url defaults to $AONODE_URL or http://localhost:10000.`

/** Above this many uncomputed slots, `now` computes in steps and shows progress. */
const PROGRESS_THRESHOLD = 100

class UsageError extends Error {}

export async function main(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: 'string' },
      config: { type: 'string' },
      port: { type: 'string' },
      data: { type: 'string' },
      lua: { type: 'string' },
      wasm: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const [command, ...args] = positionals
  if (values.help === true || command === undefined) {
    process.stdout.write(`${USAGE}\n`)
    return command === undefined && values.help !== true ? 2 : 0
  }
  const url = (values.url ?? process.env['AONODE_URL'] ?? 'http://localhost:10000').replace(
    /\/+$/,
    '',
  )
  switch (command) {
    case 'start': {
      if (values.port !== undefined && !/^\d+$/.test(values.port))
        throw new UsageError('--port must be a number')
      try {
        await startNode({
          ...(values.config === undefined ? {} : { config: values.config }),
          ...(values.port === undefined ? {} : { port: Number(values.port) }),
          ...(values.data === undefined ? {} : { dataDir: values.data }),
        })
      } catch (error) {
        throw new Error(`cannot start: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        })
      }
      return 0
    }
    case 'spawn':
      return spawn(url, values.lua, values.wasm, args)
    case 'send': {
      const [id, ...pairs] = args
      if (id === undefined) throw new UsageError('send needs a process ID')
      const message = keyValues(pairs)
      if (values.data !== undefined) message['data'] = values.data
      print(await call(url, `/${id}~process@1.0/schedule`, message))
      return 0
    }
    case 'now': {
      const [id, path] = args
      if (id === undefined) throw new UsageError('now needs a process ID')
      await computeWithProgress(url, id)
      print(
        await call(
          url,
          `/${id}~process@1.0/now${path === undefined ? '' : `/${path.replace(/^\/+/, '')}`}`,
        ),
      )
      return 0
    }
    case 'schedule': {
      const [id] = args
      if (id === undefined) throw new UsageError('schedule needs a process ID')
      print(await call(url, `/~scheduler@1.0/schedule?target=${encodeURIComponent(id)}`))
      return 0
    }
    default:
      throw new UsageError(`unknown command "${command}"`)
  }
}

/** Uploads the code to the node's cache, then schedules a process definition that runs it. */
async function spawn(
  url: string,
  lua: string | undefined,
  wasm: string | undefined,
  pairs: readonly string[],
): Promise<number> {
  if ((lua === undefined) === (wasm === undefined))
    throw new UsageError('spawn needs exactly one of --lua FILE or --wasm FILE')
  const file = (lua ?? wasm) as string
  const code = await readFile(file)
  const upload = await call(
    url,
    '/~cache@1.0/write',
    code,
    lua === undefined ? 'application/wasm' : 'application/lua',
  )
  const codeId = field(upload, 'id')
  const address = await call(url, '/~meta@1.0/info/address')
  const definition: Record<string, unknown> = {
    type: 'Process',
    device: 'process@1.0',
    'scheduler-device': 'scheduler@1.0',
    scheduler: address,
    authority: address,
    ...(lua === undefined
      ? { 'execution-device': 'wasm64@1.0', image: codeId }
      : { 'execution-device': 'lua@5.3a', module: codeId }),
    ...keyValues(pairs),
  }
  const assignment = await call(url, '/~process@1.0/schedule', definition)
  process.stdout.write(`${field(assignment, 'process')}\n`)
  return 0
}

/** On a terminal, computes a long backlog in steps with a progress bar (stderr); `now` is then quick. */
async function computeWithProgress(url: string, id: string): Promise<void> {
  if (process.stderr.isTTY !== true) return
  let current: number
  try {
    current = Number(field(await call(url, `/${id}~process@1.0/slot`), 'current'))
  } catch {
    return
  }
  if (!Number.isInteger(current) || current < PROGRESS_THRESHOLD) return
  const step = Math.max(10, Math.ceil(current / 50))
  for (let slot = step; slot < current; slot += step) {
    await call(url, `/${id}~process@1.0/compute&slot+integer=${slot}/at-slot`)
    progress(slot, current)
  }
  progress(current, current)
  process.stderr.write('\n')
}

function progress(done: number, total: number): void {
  const width = 30
  const filled = Math.round((done / total) * width)
  process.stderr.write(
    `\rcomputing [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] slot ${done}/${total}`,
  )
}

function keyValues(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    if (at <= 0) throw new UsageError(`expected Key=Value, got "${pair}"`)
    out[pair.slice(0, at)] = pair.slice(at + 1)
  }
  return out
}

/** One HTTP call: objects go as JSON, bytes as-is; JSON answers are parsed, others returned as text. */
async function call(
  url: string,
  path: string,
  body?: unknown,
  contentType?: string,
): Promise<unknown> {
  const init: RequestInit =
    body === undefined
      ? { method: 'GET' }
      : body instanceof Uint8Array
        ? {
            method: 'POST',
            body,
            headers: { 'content-type': contentType ?? 'application/octet-stream' },
          }
        : {
            method: 'POST',
            body: JSON.stringify(body),
            headers: { 'content-type': 'application/json' },
          }
  let response: Response
  try {
    response = await fetch(`${url}${path}`, init)
  } catch (error) {
    throw new Error(
      `cannot reach ${url}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`,
    )
  }
  const text = await response.text()
  const json = (response.headers.get('content-type') ?? '').startsWith('application/json')
  const value: unknown = json ? JSON.parse(text) : text
  if (!response.ok) {
    const reason =
      json && typeof value === 'object' && value !== null && 'error' in value
        ? String(value.error)
        : text
    throw new Error(`${path}: ${response.status} ${reason}`)
  }
  return value
}

function field(value: unknown, key: string): string {
  if (typeof value === 'object' && value !== null && key in value)
    return String((value as Record<string, unknown>)[key])
  throw new Error(`unexpected answer from the node (no "${key}"): ${JSON.stringify(value)}`)
}

function print(value: unknown): void {
  process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`)
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code !== 0) process.exitCode = code
    },
    (error: unknown) => {
      const usage =
        error instanceof UsageError ||
        (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
      const message = error instanceof Error ? error.message : String(error)
      process.stderr.write(`aonode: ${message}\n`)
      if (usage) process.stderr.write(`${USAGE}\n`)
      process.exitCode = usage ? 2 : 1
    },
  )
}
