import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startChild } from './child.ts'

const dir = mkdtempSync(join(tmpdir(), 'aonode-bench-child-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('startChild', () => {
  it('starts a server, reports its URL and RSS, and stops its whole process group', async () => {
    const server = await startChild(new URL('hello-server.ts', import.meta.url).pathname)
    try {
      const answer = await fetch(server.url)
      expect(await answer.text()).toBe('hello world')
      expect(server.rssBytes()).toBeGreaterThan(1 << 20)
      expect(server.startMs).toBeGreaterThan(0)
    } finally {
      await server.stop()
    }
    expect(alive(server.pid)).toBe(false)
  })

  it('rejects with the output of a server that exits before listening', async () => {
    const script = join(dir, 'crash.ts')
    writeFileSync(script, "process.stderr.write('cannot open the store\\n')\nprocess.exit(3)\n")
    await expect(startChild(script)).rejects.toThrow(
      /exited early \(3\)[\s\S]*cannot open the store/,
    )
  })
})
