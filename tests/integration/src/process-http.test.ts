/**
 * process@1.0 over HTTP with test-exec@1.0 (issue 4): spawn, 1,000 schedules from 16 concurrent
 * clients, `now` against the sequential fold, the schedule listing with its hash chain; and a node
 * killed with SIGKILL under a 10,000-message load keeps every acknowledged slot, with no gaps or
 * duplicates, and computes the same state as a replay.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { id, type Device, type Message, type ResolveContext } from '@aonode/core'
import { createTestExecDevice } from '@aonode/testkit'
import { afterAll, describe, expect, it } from 'vitest'

const ENTRY = fileURLToPath(new URL('./process-node.ts', import.meta.url))
const WALLET = fileURLToPath(new URL('../fixtures/wallet.json', import.meta.url))
const READY = /aonode listening on (http:\/\/\S+)/

interface Node {
  url: string
  readonly dir: string
  start(): Promise<void>
  /** Signals the node's process group and waits for it to exit. */
  kill(signal: NodeJS.Signals): Promise<void>
}

const nodes: Node[] = []
afterAll(async () => {
  for (const node of nodes) {
    await node.kill('SIGKILL')
    rmSync(node.dir, { recursive: true, force: true })
  }
})

/** A node process of our own (its own process group), restartable on the same port and data. */
async function startProcessNode(): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), 'aonode-process-http-'))
  copyFileSync(WALLET, join(dir, 'wallet.json'))
  let child: ChildProcess | undefined
  let port = 0
  const node: Node = {
    url: '',
    dir,
    async start() {
      const proc = spawn(process.execPath, ['--conditions=source', ENTRY], {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, AONODE_PORT: String(port), AONODE_DATA: dir },
      })
      child = proc
      let output = ''
      node.url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`node did not start:\n${output}`)), 30_000)
        const onData = (chunk: Buffer): void => {
          output += chunk.toString()
          const match = READY.exec(output)
          if (match === null) return
          clearTimeout(timer)
          proc.off('exit', onExit)
          resolve(match[1] as string)
        }
        const onExit = (): void => {
          clearTimeout(timer)
          reject(new Error(`node exited before it was ready:\n${output}`))
        }
        proc.stdout?.on('data', onData)
        proc.stderr?.on('data', onData)
        proc.once('exit', onExit)
      })
      port = Number(new URL(node.url).port)
    },
    async kill(signal) {
      const proc = child
      if (proc?.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      process.kill(-proc.pid, signal)
      await exited
      child = undefined
    },
  }
  nodes.push(node)
  await node.start()
  return node
}

async function request(node: Node, path: string, body?: Message): Promise<Response> {
  return fetch(`${node.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
}

async function json(node: Node, path: string, body?: Message): Promise<Message> {
  const response = await request(node, path, body)
  const text = await response.text()
  if (response.status !== 200) throw new Error(`${path}: ${response.status} ${text}`)
  return JSON.parse(text) as Message
}

const definition = (name: string): Message => ({
  device: 'process@1.0',
  type: 'Process',
  'execution-device': 'test-exec@1.0',
  name,
})

/** Every assignment of a process, page by page, in slot order. */
async function fullSchedule(node: Node, pid: string): Promise<Message[]> {
  const out: Message[] = []
  for (;;) {
    const page = await json(node, `/${pid}~process@1.0/schedule?from=${out.length}`)
    out.push(...Object.values(page['assignments'] as Record<string, Message>))
    if (page['continues'] !== true) return out
  }
}

function expectValidSchedule(assignments: readonly Message[]): void {
  expect(assignments.map((a) => a['slot'])).toEqual(assignments.map((_, i) => i))
  let chain: Buffer = Buffer.alloc(0)
  for (const assignment of assignments) {
    chain = createHash('sha256')
      .update(chain)
      .update(id(assignment['body'] as Message))
      .digest()
    expect(assignment['hash-chain']).toBe(chain.toString('base64url'))
  }
}

/** test-exec folded over the schedule in slot order, outside any node. */
async function sequentialFold(assignments: readonly Message[]): Promise<Message> {
  const exec = createTestExecDevice()
  const key = (name: string) => exec.keys[name] as NonNullable<Device['keys'][string]>
  const ctx = {} as ResolveContext
  let state = (await key('init')({}, { path: 'init' }, ctx)) as Message
  for (const assignment of assignments) {
    state = (await key('compute')(state, { ...assignment, path: 'compute' }, ctx)) as Message
  }
  return { count: state['count'] as number, hash: state['hash'] as string }
}

describe('process@1.0 over HTTP', () => {
  it('spawns, takes 1,000 messages from 16 clients, and computes the sequential fold', async () => {
    const node = await startProcessNode()
    const spawned = await request(node, '/~process@1.0/schedule', definition('http'))
    expect(spawned.status).toBe(200)
    const assignment = (await spawned.json()) as Message
    const pid = assignment['process'] as string
    expect(assignment['slot']).toBe(0)
    expect(spawned.headers.get('process')).toBe(pid)
    expect(pid).toBe(id(definition('http')))
    expect((await request(node, '/~process@1.0/schedule', definition('http'))).status).toBe(409)

    await Promise.all(
      Array.from({ length: 16 }, async (_, client) => {
        for (let i = client; i < 1000; i += 16) {
          const action = i % 9 === 4 ? 'Noop' : 'Increment'
          const answer = await json(node, `/${pid}~process@1.0/schedule`, { action, i })
          expect(answer['process']).toBe(pid)
        }
      }),
    )
    const assignments = await fullSchedule(node, pid)
    expect(assignments).toHaveLength(1001)
    expectValidSchedule(assignments)

    const now = await json(node, `/${pid}~process@1.0/now`)
    expect(now['at-slot']).toBe(1000)
    expect({ count: now['count'], hash: now['hash'] }).toEqual(await sequentialFold(assignments))
    expect(await json(node, `/${pid}~process@1.0/now/results/output`)).toEqual({
      count: now['count'],
    })
    const count3 = await request(node, `/${pid}~process@1.0/compute&slot=3/count`)
    const folded3 = await sequentialFold(assignments.slice(0, 4))
    expect(Number(await count3.text())).toBe(folded3['count'])
    expect((await request(node, `/${pid}~process@1.0/compute&slot=5000`)).status).toBe(404)
  }, 120_000)

  it('keeps every acknowledged slot through a SIGKILL under a 10,000-message load', async () => {
    const node = await startProcessNode()
    const pid = (await json(node, '/~process@1.0/schedule', definition('crash')))[
      'process'
    ] as string
    const acknowledged = new Map<number, number>() // slot -> message number
    let next = 0
    let killed = false
    const clients = Array.from({ length: 32 }, async () => {
      while (next < 10_000 && !killed) {
        const i = next++
        try {
          const response = await request(node, `/${pid}~process@1.0/schedule`, {
            action: 'Increment',
            i,
          })
          if (response.status === 200) {
            const answer = (await response.json()) as Message
            acknowledged.set(answer['slot'] as number, i)
          }
        } catch {
          // The connection died with the node: this message was never acknowledged.
        }
      }
    })
    while (acknowledged.size < 1000) await new Promise((resolve) => setTimeout(resolve, 10))
    await node.kill('SIGKILL')
    killed = true
    await Promise.all(clients)
    expect(acknowledged.size).toBeLessThan(10_000)

    await node.start()
    const assignments = await fullSchedule(node, pid)
    expectValidSchedule(assignments)
    const numbers = assignments.slice(1).map((a) => (a['body'] as Message)['i'])
    expect(new Set(numbers).size).toBe(numbers.length) // no duplicates
    for (const [slot, i] of acknowledged) {
      expect((assignments[slot]?.['body'] as Message | undefined)?.['i']).toBe(i)
    }
    const now = await json(node, `/${pid}~process@1.0/now`)
    expect(now['at-slot']).toBe(assignments.length - 1)
    expect({ count: now['count'], hash: now['hash'] }).toEqual(await sequentialFold(assignments))
  }, 120_000)
})
