import { describe, expect, it } from 'vitest'
import { createMetrics } from './metrics.ts'

describe('createMetrics', () => {
  it('renders request counts, a latency histogram and device-reported values', () => {
    const metrics = createMetrics()
    metrics.observeRequest('GET', 200, 0.003)
    metrics.observeRequest('GET', 200, 0.2)
    metrics.observeRequest('POST', 404, 2)
    metrics.count('slots_computed_total', 3)
    metrics.gauge('active_workers', 2)
    const text = metrics.render()
    expect(text).toContain('aonode_http_requests_total{method="GET",status="200"} 2')
    expect(text).toContain('aonode_http_requests_total{method="POST",status="404"} 1')
    expect(text).toContain('aonode_http_request_duration_seconds_bucket{le="0.005"} 1')
    expect(text).toContain('aonode_http_request_duration_seconds_bucket{le="0.25"} 2')
    expect(text).toContain('aonode_http_request_duration_seconds_bucket{le="+Inf"} 3')
    expect(text).toContain('aonode_http_request_duration_seconds_count 3')
    expect(text).toContain('# TYPE aonode_slots_computed_total counter')
    expect(text).toContain('aonode_slots_computed_total 3')
    expect(text).toContain('aonode_slots_scheduled_total 0')
    expect(text).toContain('aonode_active_workers 2')
    expect(text.endsWith('\n')).toBe(true)
  })

  it('refuses metric names Prometheus cannot parse', () => {
    expect(() => createMetrics().count('slots computed')).toThrow(/invalid metric name/)
  })
})
