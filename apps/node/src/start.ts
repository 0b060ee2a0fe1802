import { createNode, type AoNode, type CreateNodeOptions } from './node.ts'

/**
 * Creates a node, serves it, prints what it loaded and where it listens, and shuts it down
 * gracefully on SIGTERM/SIGINT (stop accepting, finish in-flight requests, snapshot live workers,
 * close the store).
 */
export async function startNode(
  options: CreateNodeOptions & { out?: (line: string) => void } = {},
): Promise<AoNode> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`))
  const node = await createNode(options)
  let url: string
  try {
    url = await node.listen()
  } catch (error) {
    await node.close()
    throw error
  }
  out(`aonode ${node.info.version} (address ${node.info.address}, store ${node.info.store})`)
  for (const [name, pkg] of Object.entries(node.info.devices)) out(`  ${name} → ${pkg}`)
  out(`aonode listening on ${url}`)
  node.log.info({ url, devices: node.info.devices, dataDir: node.config.dataDir }, 'listening')

  const shutdown = (signal: NodeJS.Signals): void => {
    node.log.info({ signal }, 'shutting down')
    process.off('SIGTERM', shutdown)
    process.off('SIGINT', shutdown)
    node.close().then(
      () => {
        node.log.info('stopped')
        node.log.flush()
        process.exitCode = 0
      },
      (error: unknown) => {
        node.log.error({ err: error }, 'shutdown failed')
        node.log.flush()
        process.exitCode = 1
      },
    )
  }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)
  return node
}
