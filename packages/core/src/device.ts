import type { DeviceName, Message, Value } from './message.ts'
import type { Store } from './store.ts'

export interface DeviceInfo {
  /** Protocol identity, e.g. `process@1.0`. Not the npm version. */
  readonly name: DeviceName
  /** Other names the device answers to, e.g. `wasm-64@1.0` for `wasm64@1.0`. */
  readonly aliases?: readonly DeviceName[]
  /** Semver range of `@aonode/core` this device was written against. */
  readonly core: string
  readonly description?: string
  /** The npm package that provides the device (filled in by the loader when absent). */
  readonly package?: { readonly name: string; readonly version: string }
}

export interface Logger {
  debug(msg: string, data?: object): void
  info(msg: string, data?: object): void
  warn(msg: string, data?: object): void
  error(msg: string, data?: object): void
}

/** What a key handler gets besides base and request. */
export interface ResolveContext {
  /** The only way a device reaches another device. */
  resolve(base: Message, req: Message | string): Promise<Value>
  /** The node's store (see `Store`). */
  readonly store: Store
  /** Node-wide options (the node message): device options live under their device name. */
  readonly node: NodeOptions
  readonly log: Logger
  /** Names of the devices on the current resolution stack, outermost first. */
  readonly trace: readonly string[]
}

export type KeyHandler = (
  base: Message,
  req: Message,
  ctx: ResolveContext,
) => Value | Promise<Value>
export type FallbackHandler = (
  key: string,
  base: Message,
  req: Message,
  ctx: ResolveContext,
) => Value | Promise<Value>

export interface Device {
  readonly info: DeviceInfo
  /** Key handlers. Looked up by own property only: `__proto__` or `constructor` never match. */
  readonly keys: Readonly<Record<string, KeyHandler>>
  /** Handles keys absent from `keys` (HyperBEAM `default`); without it they fall to `message@1.0`. */
  readonly fallback?: FallbackHandler
  /** Keys that always fall to `message@1.0` even though `fallback` exists. */
  readonly excludes?: readonly string[]
  /** Called once when the node starts, before it serves. */
  start?(ctx: ResolveContext): Promise<void> | void
  /** Called once on shutdown: flush, snapshot, release. */
  stop?(ctx: ResolveContext): Promise<void> | void
}

/** Counters and gauges a device may report (the node app exposes them as Prometheus metrics). */
export interface MetricsHook {
  /** Adds `by` (default 1) to a counter, e.g. `slots_computed_total`. */
  count(name: string, by?: number): void
  /** Sets a gauge, e.g. `active_workers`. */
  gauge(name: string, value: number): void
}

/** Node configuration visible to devices. */
export interface NodeOptions {
  /** The node's address (43-character ID). */
  readonly address?: string
  readonly version?: string
  /** Per-device options, by device name (`process@1.0` -> {...}). */
  readonly devices?: Readonly<Record<string, Readonly<Record<string, unknown>>>>
  /** Where devices report counters and gauges; absent when the host collects none. */
  readonly metrics?: MetricsHook
  readonly [key: string]: unknown
}

/** Identity helper for type inference. */
export function defineDevice<const D extends Device>(device: D): D {
  return device
}
