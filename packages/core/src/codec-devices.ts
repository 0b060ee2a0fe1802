import type { Device, KeyHandler } from './device.ts'
import { DeviceError } from './errors.ts'
import { fromJSON, toJSON } from './json.ts'
import { getKey, isMessage } from './message.ts'
import type { Message, Value } from './message.ts'
import { fromTABM, toTABM } from './structured.ts'
import type { TABM } from './structured.ts'

function requestBody(req: Message, device: string, key: string): Value {
  const body = getKey(req, 'body')
  if (body === undefined) {
    throw new DeviceError('BAD_REQUEST', `${device} ${key} needs a body`, { device, key })
  }
  return body
}

function messageBody(req: Message, device: string, key: string): Message {
  const body = requestBody(req, device, key)
  if (!isMessage(body)) {
    throw new DeviceError('BAD_REQUEST', `${device} ${key} needs a message body`, { device, key })
  }
  return body
}

function isBundle(req: Message): boolean {
  const bundle = getKey(req, 'bundle')
  return bundle === true || bundle === 'true'
}

const structuredKeys: Record<string, KeyHandler> = {
  /** structured message → TABM (link mode, or nested with `bundle: true`). */
  from: (_base, req) =>
    toTABM(messageBody(req, 'structured@1.0', 'from'), { bundle: isBundle(req) }).tabm,
  /** TABM → structured message. */
  to: (_base, req) => fromTABM(messageBody(req, 'structured@1.0', 'to') as TABM),
}

const jsonKeys: Record<string, KeyHandler> = {
  /** message → JSON text. */
  to: (_base, req) => toJSON(messageBody(req, 'json@1.0', 'to')),
  /** JSON text (string or UTF-8 bytes) → message. */
  from: (_base, req) => {
    const body = requestBody(req, 'json@1.0', 'from')
    if (typeof body === 'string') return fromJSON(body)
    if (body instanceof Uint8Array) return fromJSON(Buffer.from(body).toString('utf8'))
    throw new DeviceError('BAD_REQUEST', 'json@1.0 from needs JSON text as body', {
      device: 'json@1.0',
      key: 'from',
    })
  },
}

/**
 * The codec devices: `structured@1.0` (HyperBEAM naming: `from` = message → TABM, `to` = TABM →
 * message) and `json@1.0` (`to` = message → JSON text, `from` = JSON text → message). Each takes
 * its input from the request's `body`.
 */
export function codecDevices(): Device[] {
  return [
    {
      info: {
        name: 'structured@1.0',
        core: '*',
        description: 'Messages ↔ type-annotated binary messages (TABM, ao-types)',
      },
      keys: structuredKeys,
    },
    {
      info: { name: 'json@1.0', core: '*', description: 'Messages ↔ JSON text' },
      keys: jsonKeys,
    },
  ]
}
