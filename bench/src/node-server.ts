/**
 * The node under test: the reference node (`@aonode/node` `startNode`, what `aonode start` runs)
 * with the default device packages plus `@aonode/testkit` (test-exec@1.0), so the test device can be
 * measured over HTTP too. Reads AONODE_PORT, AONODE_DATA and AONODE_LOG_LEVEL like the CLI.
 */
import { startNode } from '@aonode/node'
import { BENCH_DEVICE_PACKAGES, loadBenchDevices } from './devices.ts'

const devices = await loadBenchDevices((pkg, why) =>
  process.stderr.write(`bench node: ${pkg} not loaded: ${why}\n`),
)
await startNode({
  devices,
  config: {
    devices: BENCH_DEVICE_PACKAGES,
    logLevel: process.env['AONODE_LOG_LEVEL'] ?? 'warn',
  },
  host: '127.0.0.1',
  port: Number(process.env['AONODE_PORT'] ?? '0'),
  ...(process.env['AONODE_DATA'] === undefined ? {} : { dataDir: process.env['AONODE_DATA'] }),
})
