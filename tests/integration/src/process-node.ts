/**
 * A node for the process HTTP suite: the reference node (`startNode`, what `aonode start` runs) with
 * cache, scheduler and process devices plus test-exec@1.0 from `@aonode/testkit`. Reads AONODE_PORT
 * and AONODE_DATA like the CLI, and prints the same `aonode listening on <url>` line.
 */
import { createDevices as createCacheDevices } from '@aonode/device-cache'
import { createDevices as createProcessDevices } from '@aonode/device-process'
import { createDevices as createSchedulerDevices } from '@aonode/device-scheduler'
import { startNode } from '@aonode/node'
import { createTestExecDevice } from '@aonode/testkit'

await startNode({
  devices: [
    ...createCacheDevices(),
    ...createSchedulerDevices(),
    ...createProcessDevices({ snapshotEvery: 100 }),
    createTestExecDevice(),
  ],
  config: { logLevel: process.env['AONODE_LOG_LEVEL'] ?? 'warn' },
  port: Number(process.env['AONODE_PORT'] ?? '0'),
  ...(process.env['AONODE_DATA'] === undefined ? {} : { dataDir: process.env['AONODE_DATA'] }),
})
