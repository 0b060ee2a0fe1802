/**
 * The same node, in this process and without sockets (`node.app.handle`): used only to build large
 * processes fast (scheduling and computing 100,000 slots in bulk) on a data directory that a node
 * under test is then started on. Nothing measured goes through here.
 */
import { createNode, type AoNode } from '@aonode/node'
import { BENCH_DEVICE_PACKAGES, loadBenchDevices } from './devices.ts'
import { parseAnswer, type Client } from './load.ts'

export interface InProcessNode {
  readonly node: AoNode
  /** The app behind the same `Client` interface the HTTP benchmarks use. */
  readonly client: Client
}

export async function openInProcess(dataDir: string): Promise<InProcessNode> {
  const devices = await loadBenchDevices((pkg, why) => {
    throw new Error(`${pkg} does not load: ${why}`)
  })
  const node = await createNode({
    devices,
    dataDir,
    config: { devices: BENCH_DEVICE_PACKAGES, logLevel: 'warn' },
  })
  const call: Client['call'] = async (method, path, body, contentType) => {
    const bytes =
      body === undefined
        ? undefined
        : body instanceof Uint8Array
          ? body
          : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body))
    const type =
      body === undefined
        ? undefined
        : (contentType ??
          (body instanceof Uint8Array ? 'application/octet-stream' : 'application/json'))
    const answer = await node.app.handle({
      method,
      url: path,
      headers: type === undefined ? {} : { 'content-type': type },
      ...(bytes === undefined ? {} : { body: bytes }),
    })
    return {
      status: answer.status,
      headers: answer.headers,
      text:
        typeof answer.body === 'string' ? answer.body : Buffer.from(answer.body).toString('utf8'),
    }
  }
  return {
    node,
    client: {
      call,
      json: async (method, path, body, contentType) =>
        parseAnswer(`${method} ${path}`, await call(method, path, body, contentType)),
      close: () => undefined,
    },
  }
}
