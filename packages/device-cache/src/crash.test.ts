import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir } from './fixtures/backends.ts'
import { crashMessage } from './fixtures/crash-messages.ts'
import { createLmdbStore } from './lmdb-store.ts'
import { readMessage } from './message-cache.ts'

const WRITER = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url))
const COUNT = 10_000

let child: ChildProcess | undefined
const dir = tempDir()

afterAll(() => {
  // The child runs in its own process group: kill the whole group if a failure left it running.
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(-child.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true })
})

/** Runs the writer and SIGKILLs it once `killAfter` writes were acknowledged. */
function writeUntilKilled(
  killAfter: number,
): Promise<{ acked: Map<number, string>; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const acked = new Map<number, string>()
    let killed = false
    let pending = ''
    const proc = spawn(process.execPath, ['--conditions=source', WRITER, dir, String(COUNT)], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    child = proc
    proc.stdout.setEncoding('utf8')
    proc.stdout.on('data', (chunk: string) => {
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        const [index, id] = line.split(' ')
        if (id !== undefined) acked.set(Number(index), id)
      }
      if (!killed && acked.size >= killAfter && proc.pid !== undefined) {
        killed = true
        try {
          process.kill(-proc.pid, 'SIGKILL')
        } catch {
          // It finished first: the exit signal below tells.
        }
      }
    })
    proc.on('error', reject)
    proc.on('close', (_code, signal) => resolve({ acked, signal }))
  })
}

describe('crash safety of the LMDB store', () => {
  it('keeps every acknowledged write through a SIGKILL and opens without repair', async () => {
    const killAfter = 500 + Math.floor(Math.random() * 8000)
    const { acked, signal } = await writeUntilKilled(killAfter)
    expect(signal).toBe('SIGKILL')
    expect(acked.size).toBeGreaterThanOrEqual(killAfter)

    const store = createLmdbStore({ path: dir })
    try {
      for (const [index, id] of acked) {
        expect(readMessage(store, id), `message ${index}`).toEqual(crashMessage(index))
      }
      // Whatever else landed is whole: every stored message reads back with all its parts.
      const ids = store.list('messages')
      expect(ids.length).toBeGreaterThanOrEqual(acked.size)
      for (const id of ids) expect(readMessage(store, id)).toBeTypeOf('object')
      for (const hash of store.list('data'))
        expect(store.read(`data/${hash}`)?.byteLength).toBe(5000)
    } finally {
      await store.close()
    }
  }, 120_000)
})
