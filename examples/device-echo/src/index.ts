import { badRequest, defineDevice, publicKeys, type Device, type Message } from '@aonode/core'

export interface Options {
  /** Prepended to every `greet` answer. */
  readonly greeting?: string
}

/**
 * `echo@1.0`: the smallest useful device, kept as the template for third-party devices.
 * `echo` answers the request's own keys; `greet` answers `<greeting>, <name>`.
 */
export function createEchoDevice(options: Options = {}): Device {
  const greeting = options.greeting ?? 'Hello'
  return defineDevice({
    info: { name: 'echo@1.0', core: '^0.1.0', description: 'answers what it is sent' },
    keys: {
      echo: (_base, req) => {
        const out: Record<string, Message[string]> = {}
        for (const key of publicKeys(req))
          if (key !== 'path') out[key] = req[key] as Message[string]
        return out
      },
      greet: (base, req) => {
        const name = req['name'] ?? base['name']
        if (typeof name !== 'string' || name === '') throw badRequest('greet needs a `name` string')
        return `${greeting}, ${name}`
      },
    },
  })
}

/** The loader contract: the node's config names this package, the loader calls this. */
export function createDevices(options?: Options): Device[] {
  return [createEchoDevice(options)]
}
