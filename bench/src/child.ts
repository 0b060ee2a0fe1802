/**
 * Servers under test run as child processes of this Node binary (`process.execPath`, never the
 * `.bin/node` shell wrapper, whose PID is not the server's) in their own process group, so stopping
 * one kills everything it started.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

export interface ChildServer {
  readonly url: string
  readonly pid: number
  /** Milliseconds from spawning the process to its "listening" line. */
  readonly startMs: number
  /** Resident set size of the server process now, in bytes (Linux `/proc`). */
  rssBytes(): number
  /** The last few KB the server wrote to stderr (to explain a failure). */
  stderrTail(): string
  /** SIGTERM to the process group, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>
}

const running = new Set<ChildProcess>()

// A crashed or interrupted bench must not leave servers behind.
process.on('exit', () => {
  for (const child of running) killGroup(child, 'SIGKILL')
})

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    // already gone
  }
}

/**
 * Starts `node --conditions=source <script> ...args` and resolves once it prints
 * `listening on http://...` on stdout.
 */
export async function startChild(
  script: string,
  args: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
  timeoutMs = 60_000,
): Promise<ChildServer> {
  const started = performance.now()
  const child = spawn(process.execPath, ['--conditions=source', script, ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  running.add(child)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  void exited.then(() => running.delete(child))
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000)
  })
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = ''
    const timer = setTimeout(() => fail(`no "listening on" line after ${timeoutMs} ms`), timeoutMs)
    const fail = (why: string): void => {
      clearTimeout(timer)
      killGroup(child, 'SIGKILL')
      reject(new Error(`${script}: ${why}\n${stderr}${stdout.slice(-2000)}`))
    }
    child.stdout?.setEncoding('utf8')
    const onData = (text: string): void => {
      stdout = (stdout + text).slice(-8000)
      const match = /listening on (http:\/\/\S+)/.exec(stdout)
      if (match?.[1] === undefined) return
      clearTimeout(timer)
      // Keep draining stdout so a chatty server never blocks on a full pipe.
      child.stdout?.off('data', onData)
      child.stdout?.resume()
      resolve(match[1])
    }
    child.stdout?.on('data', onData)
    child.once('exit', (code, signal) => fail(`exited early (${code ?? signal})`))
  })
  const startMs = performance.now() - started
  const pid = child.pid as number
  return {
    url,
    pid,
    startMs,
    stderrTail: () => stderr,
    rssBytes: () => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
      if (kb === undefined) throw new Error(`no VmRSS for pid ${pid}`)
      return Number(kb) * 1024
    },
    async stop(graceMs = 15_000) {
      killGroup(child, 'SIGTERM')
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
      // The server may have started processes of its own: end what is left of its group.
      try {
        process.kill(-pid, 'SIGKILL')
      } catch {
        // nothing left
      }
    },
  }
}
