import { Float, type Value } from '@aonode/core'

/** Text of a scalar (for keys, seeds and messages); '' for anything else. */
export function textOf(value: Value | undefined): string {
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    return String(value)
  }
  if (value instanceof Float) return String(value.value)
  return ''
}
