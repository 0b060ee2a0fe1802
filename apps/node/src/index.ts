export { createNode, VERSION, type AoNode, type CreateNodeOptions } from './node.ts'
export { startNode } from './start.ts'
export {
  createApp,
  DEFAULT_LIMITS,
  encodeResult,
  errorResponse,
  type App,
  type AppRequest,
  type AppResponse,
  type Limits,
  type PathResolver,
} from './app.ts'
export {
  CONFIG_FILE,
  CONFIG_FILES,
  ConfigError,
  DEFAULT_CONFIG,
  DEFAULT_DEVICES,
  loadConfig,
  mergeConfig,
  type DevicePackageSpec,
  type NodeConfig,
} from './config.ts'
export { createMetaDevice, type NodeInfo } from './meta.ts'
export { createMetrics, type Metrics, type MetricsHook } from './metrics.ts'
export { createHttpServer, type HttpServer } from './server.ts'
export { addressOf, loadOrCreateWallet } from './wallet.ts'
