/**
 * Prometheus text-format metrics without a client library: a handful of counters, gauges and one
 * latency histogram, rendered on demand by `meta@1.0/metrics`.
 */

/** The hook devices reach through `ctx.node.metrics` to report what only they know. */
import type { MetricsHook } from '@aonode/core'

export type { MetricsHook }

const LATENCY_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const METRIC_NAME = /^[a-z_][a-z0-9_]*$/

/** Counters and gauges every node exposes, with their help text (others appear when first used). */
const KNOWN: Record<string, { type: 'counter' | 'gauge'; help: string }> = {
  slots_scheduled_total: { type: 'counter', help: 'Messages assigned a slot by scheduler@1.0.' },
  slots_computed_total: { type: 'counter', help: 'Slots evaluated by process@1.0.' },
  active_workers: { type: 'gauge', help: 'Processes with live state in memory.' },
}

export interface Metrics extends MetricsHook {
  /** Records one finished HTTP request. */
  observeRequest(method: string, status: number, seconds: number): void
  /** The Prometheus text exposition (version 0.0.4). */
  render(): string
}

export function createMetrics(prefix = 'aonode_'): Metrics {
  const requests = new Map<string, number>()
  const buckets = new Array<number>(LATENCY_BUCKETS_SECONDS.length).fill(0)
  let latencyCount = 0
  let latencySum = 0
  const values = new Map<string, number>()
  for (const name of Object.keys(KNOWN)) values.set(name, 0)

  const checked = (name: string): string => {
    if (!METRIC_NAME.test(name)) throw new TypeError(`invalid metric name "${name}"`)
    return name
  }

  return {
    count(name, by = 1) {
      // Checked only when new: process@1.0 counts every computed slot.
      const current = values.get(name) ?? values.get(checked(name)) ?? 0
      values.set(name, current + by)
    },
    gauge(name, value) {
      values.set(checked(name), value)
    },
    observeRequest(method, status, seconds) {
      const key = `${method}|${status}`
      requests.set(key, (requests.get(key) ?? 0) + 1)
      latencyCount += 1
      latencySum += seconds
      for (let i = 0; i < LATENCY_BUCKETS_SECONDS.length; i++) {
        if (seconds <= (LATENCY_BUCKETS_SECONDS[i] as number))
          buckets[i] = (buckets[i] as number) + 1
      }
    },
    render() {
      const lines: string[] = []
      const requestsName = `${prefix}http_requests_total`
      lines.push(`# HELP ${requestsName} HTTP requests answered, by method and status.`)
      lines.push(`# TYPE ${requestsName} counter`)
      for (const [key, count] of requests) {
        const [method, status] = key.split('|')
        lines.push(`${requestsName}{method="${method}",status="${status}"} ${count}`)
      }
      const latency = `${prefix}http_request_duration_seconds`
      lines.push(`# HELP ${latency} HTTP request latency.`)
      lines.push(`# TYPE ${latency} histogram`)
      LATENCY_BUCKETS_SECONDS.forEach((le, i) => {
        lines.push(`${latency}_bucket{le="${le}"} ${buckets[i]}`)
      })
      lines.push(`${latency}_bucket{le="+Inf"} ${latencyCount}`)
      lines.push(`${latency}_sum ${latencySum}`)
      lines.push(`${latency}_count ${latencyCount}`)
      for (const [name, value] of values) {
        const known = KNOWN[name]
        const type = known?.type ?? (name.endsWith('_total') ? 'counter' : 'gauge')
        lines.push(`# HELP ${prefix}${name} ${known?.help ?? 'Reported by a device.'}`)
        lines.push(`# TYPE ${prefix}${name} ${type}`)
        lines.push(`${prefix}${name} ${value}`)
      }
      return `${lines.join('\n')}\n`
    },
  }
}
