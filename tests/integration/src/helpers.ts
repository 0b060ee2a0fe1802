/**
 * Test helpers for HTTP suites: start a REAL node process (the same `aonode start` users run) on a
 * free port with its own data directory, restart it, kill it, and talk to it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../../../apps/node/src/cli.ts', import.meta.url))
/** A pre-made node wallet, so test nodes skip generating an RSA-4096 key on first start. */
const WALLET = fileURLToPath(new URL('../fixtures/wallet.json', import.meta.url))
const READY = /aonode listening on (http:\/\/\S+)/
const START_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 15_000

export interface TestNodeOptions {
  /** Data directory to use (kept on `stop()`); default a fresh temp dir, removed on `stop()`. */
  readonly dataDir?: string
  /** Extra environment for the node process (e.g. `AONODE_CONFIG`). */
  readonly env?: Readonly<Record<string, string>>
  /** Extra `aonode start` arguments. */
  readonly args?: readonly string[]
}

export interface TestNode {
  /** `http://localhost:<port>` of the running node (the port stays the same across restarts). */
  readonly url: string
  readonly dataDir: string
  /** Everything the node printed on stdout and stderr since its last start. */
  readonly output: () => string
  /** The node's OS process id, while it runs. */
  readonly pid: number | undefined
  /** `fetch(url + path, init)`. */
  request(path: string, init?: RequestInit): Promise<Response>
  /** Graceful stop (SIGTERM), then start again on the same port and data directory. */
  restart(): Promise<void>
  /** Sends `signal` to the node's process group and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<number | null>
  /** SIGTERM (SIGKILL after 15 s), then removes the data directory if the helper created it. */
  stop(): Promise<void>
}

export async function startTestNode(options: TestNodeOptions = {}): Promise<TestNode> {
  const ownsDir = options.dataDir === undefined
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'aonode-test-'))
  mkdirSync(dataDir, { recursive: true })
  if (!existsSync(join(dataDir, 'wallet.json'))) copyFileSync(WALLET, join(dataDir, 'wallet.json'))

  let child: ChildProcess | undefined
  let output = ''
  let port = 0
  let url = ''

  async function launch(): Promise<void> {
    output = ''
    const proc = spawn(
      process.execPath,
      ['--conditions=source', CLI, 'start', ...(options.args ?? [])],
      {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          AONODE_PORT: String(port),
          AONODE_DATA: dataDir,
          AONODE_LOG_LEVEL: process.env['AONODE_LOG_LEVEL'] ?? 'warn',
          ...options.env,
        },
      },
    )
    child = proc
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        fail(new Error(`node did not start within ${START_TIMEOUT_MS} ms:\n${output}`))
      }, START_TIMEOUT_MS)
      const onData = (chunk: Buffer): void => {
        output += chunk.toString()
        const match = READY.exec(output)
        if (match !== null) {
          // Once ready, a later exit is expected (kill/stop) and no longer an error.
          clearTimeout(timer)
          proc.off('exit', onExit)
          resolve(match[1] as string)
        }
      }
      const onExit = (code: number | null, signal: string | null): void => {
        fail(new Error(`node exited (${signal ?? code}) before it was ready:\n${output}`))
      }
      function fail(error: Error): void {
        clearTimeout(timer)
        proc.off('exit', onExit)
        signalGroup(proc, 'SIGKILL')
        reject(error)
      }
      proc.stdout?.on('data', onData)
      proc.stderr?.on('data', onData)
      proc.once('exit', onExit)
      proc.once('error', fail)
    })
    port = Number(new URL(url).port)
  }

  async function kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const proc = child
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null)
      return proc?.exitCode ?? null
    const exited = new Promise<number | null>((resolve) => {
      proc.once('exit', (code) => resolve(code))
    })
    signalGroup(proc, signal)
    const timer = setTimeout(() => signalGroup(proc, 'SIGKILL'), STOP_TIMEOUT_MS)
    const code = await exited
    clearTimeout(timer)
    child = undefined
    return code
  }

  await launch()
  return {
    get url() {
      return url
    },
    dataDir,
    output: () => output,
    get pid() {
      return child?.pid
    },
    request: (path, init) => fetch(`${url}${path}`, init),
    async restart() {
      await kill('SIGTERM')
      await launch()
    },
    kill,
    async stop() {
      await kill('SIGTERM')
      if (ownsDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

function signalGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined) return
  try {
    process.kill(-proc.pid, signal)
  } catch {
    // Already gone.
  }
}
