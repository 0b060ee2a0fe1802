/**
 * The few node calls the benchmarks make, over HTTP exactly as users and `aonode` CLI do.
 */
import type { Client } from './load.ts'

export interface NodeInfo {
  readonly address: string
  /** `name@version` → `package@version` of every loaded device. */
  readonly devices: Readonly<Record<string, string>>
}

export async function nodeInfo(client: Client): Promise<NodeInfo> {
  return (await client.json('GET', '/~meta@1.0/info')) as NodeInfo
}

function field(value: unknown, key: string): unknown {
  if (typeof value === 'object' && value !== null && key in value)
    return (value as Record<string, unknown>)[key]
  throw new Error(`unexpected answer from the node (no "${key}"): ${JSON.stringify(value)}`)
}

/** Stores code through cache@1.0 (as `aonode spawn` does) and returns its ID. */
export async function upload(
  client: Client,
  code: Uint8Array,
  contentType: string,
): Promise<string> {
  return String(field(await client.json('POST', '/~cache@1.0/write', code, contentType), 'id'))
}

/** Spawns a process with `execution` as its execution device; returns the process ID. */
export async function spawnProcess(
  client: Client,
  address: string,
  execution: Readonly<Record<string, unknown>>,
): Promise<string> {
  const definition = {
    type: 'Process',
    device: 'process@1.0',
    'scheduler-device': 'scheduler@1.0',
    scheduler: address,
    authority: address,
    // Every bench process is new, also when the store of an earlier run is reused.
    nonce: `${process.pid}-${Date.now()}-${Math.random()}`,
    ...execution,
  }
  return String(field(await client.json('POST', '/~process@1.0/schedule', definition), 'process'))
}

export const schedulePath = (pid: string): string => `/${pid}~process@1.0/schedule`

export async function schedule(client: Client, pid: string, message: unknown): Promise<number> {
  return Number(field(await client.json('POST', schedulePath(pid), message), 'slot'))
}

/** `now`, returning the slot the state is at (computing whatever is not computed yet). */
export async function nowSlot(client: Client, pid: string): Promise<number> {
  const answer = await client.json('GET', `/${pid}~process@1.0/now/at-slot`)
  return Number(answer)
}
