import {
  DeviceError,
  defineDevice,
  getKey,
  messageDevice,
  type Device,
  type Message,
  type Value,
} from '@aonode/core'
import { describe, expect, it } from 'vitest'
import {
  checkInfo,
  checkKeys,
  checkPackageJson,
  checkPrototypeKeys,
  checkUnknownKey,
  runCase,
} from './checks.ts'
import { describeDevice } from './describe-device.ts'

const PACKAGE_JSON = new URL('./fixtures/greeter.package.json', import.meta.url)

/** A small, well-behaved device: greets by name, counts words, refuses empty names. */
const greeter = defineDevice({
  info: { name: 'greeter@1.0', core: '^0.1.0' },
  keys: {
    greet: (base: Message, req: Message) => {
      const name = getKey(req, 'name') ?? getKey(base, 'name')
      if (typeof name !== 'string' || name === '') {
        throw new DeviceError('BAD_REQUEST', 'greet needs a "name"', { device: 'greeter@1.0' })
      }
      return `${(getKey(base, 'greeting') as string | undefined) ?? 'hello'}, ${name}`
    },
    words: (base: Message) => ({
      count: ((getKey(base, 'text') as string | undefined) ?? '')
        .split(/\s+/)
        .filter((w) => w !== '').length,
    }),
  },
})

describeDevice(messageDevice(), [
  { name: 'get', base: { a: '1' }, req: 'a', expect: '1' },
  { name: 'set', base: { a: '1' }, req: { path: 'set', b: '2' }, expect: { a: '1', b: '2' } },
  { name: 'missing key', base: {}, req: 'nope', error: { code: 'NOT_FOUND', status: 404 } },
  { name: 'private key', base: { priv: 'x' }, req: 'priv', error: 'NOT_FOUND' },
])

describeDevice(
  greeter,
  [
    {
      name: 'greets from the request',
      base: { device: 'greeter@1.0', greeting: 'hi' },
      req: { path: 'greet', name: 'ada' },
      expect: 'hi, ada',
    },
    {
      name: 'reads the base and falls back to message@1.0 for data',
      base: { device: 'greeter@1.0', text: 'one two  three' },
      req: 'words/count',
      expect: 3,
    },
    {
      name: 'refuses an empty name',
      base: { device: 'greeter@1.0' },
      req: { path: 'greet', name: '' },
      error: { code: 'BAD_REQUEST', status: 400, message: /needs a "name"/ },
    },
    {
      name: 'expect as a function',
      base: { device: 'greeter@1.0', name: 'bob' },
      req: 'greet',
      expect: (result: Value) => expect(result).toMatch(/bob$/),
    },
  ],
  { packageJson: PACKAGE_JSON },
)

const named = (name: string, device: Partial<Device>): Device =>
  ({ info: { name, core: '^0.1.0' }, keys: {}, ...device }) as Device

async function problem(check: () => unknown): Promise<string> {
  try {
    await check()
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
  throw new Error('expected the check to fail')
}

describe('the checks catch broken devices', () => {
  it('bad info and unsatisfied core ranges', async () => {
    expect(await problem(() => checkInfo(named('no-version', {})))).toContain('name@version')
    const future = { info: { name: 'future@1.0', core: '^9.0.0' }, keys: {} } as Device
    expect(await problem(() => checkInfo(future))).toContain('requires @aonode/core "^9.0.0"')
  })

  it('bad keys', async () => {
    const upper = named('upper@1.0', { keys: { Greet: () => 'x' } })
    expect(await problem(() => checkKeys(upper))).toContain('not lower-case')
    const notFn = named('notfn@1.0', { keys: { x: 'text' as unknown as () => Value } })
    expect(await problem(() => checkKeys(notFn))).toContain('not a function')
    const keys: Record<string, () => Value> = {}
    Object.defineProperty(keys, 'constructor', { value: () => 'x', enumerable: true })
    expect(await problem(() => checkKeys(named('proto@1.0', { keys })))).toContain('"constructor"')
  })

  it('an unknown key that crashes the fallback', async () => {
    const crashing = named('crash@1.0', {
      fallback: () => {
        throw new Error('undefined is not a function')
      },
    })
    expect(await problem(() => checkUnknownKey(crashing))).toContain('crashed')
    await expect(checkUnknownKey(greeter)).resolves.toBeUndefined()
  })

  it('prototype probes that crash', async () => {
    const crashing = named('crash@1.0', {
      fallback: (key) => {
        if (key === 'tostring') throw new TypeError('boom')
        return 'ok'
      },
    })
    expect(await problem(() => checkPrototypeKeys(crashing))).toContain('"toString" crashed')
  })

  it('a device that mutates its inputs', async () => {
    const mutating = named('mutating@1.0', {
      keys: {
        touch: (base) => {
          ;(base as Record<string, Value>)['touched'] = true
          return base
        },
      },
    })
    const message = await problem(() =>
      runCase(mutating, { name: 'touch', base: { device: 'mutating@1.0' }, req: 'touch' }),
    )
    expect(message).toContain('DEVICE_FAILED')
    const bytes = named('bytes@1.0', {
      keys: {
        zero: (base) => {
          ;(base['data'] as Uint8Array).fill(0)
          return 'done'
        },
      },
    })
    const data = new Uint8Array([1, 2, 3])
    expect(
      await problem(() =>
        runCase(bytes, { name: 'zero', base: { device: 'bytes@1.0', data }, req: 'zero' }),
      ),
    ).toContain('changed a binary')
  })

  it('results that are not Values, and non-deterministic results', async () => {
    const odd = named('odd@1.0', {
      keys: {
        date: () => new Date(0) as unknown as Value,
        random: () => String(Math.random()),
      },
    })
    expect(
      await problem(() => runCase(odd, { name: 'date', base: { device: 'odd@1.0' }, req: 'date' })),
    ).toContain('Date instance')
    expect(
      await problem(() =>
        runCase(odd, { name: 'random', base: { device: 'odd@1.0' }, req: 'random' }),
      ),
    ).toContain('second run')
    await expect(
      runCase(odd, {
        name: 'random',
        base: { device: 'odd@1.0' },
        req: 'random',
        nondeterministic: true,
      }),
    ).resolves.toMatch(/^0\./)
  })

  it('wrong outcomes', async () => {
    const base = { device: 'greeter@1.0', name: 'x' }
    expect(
      await problem(() => runCase(greeter, { name: 'n', base, req: 'greet', expect: 'nope' })),
    ).toContain('expected "nope"')
    expect(
      await problem(() => runCase(greeter, { name: 'n', base, req: 'greet', error: 'NOT_FOUND' })),
    ).toContain('expected an error')
    expect(
      await problem(() =>
        runCase(greeter, { name: 'n', base: {}, req: 'absent', error: 'BAD_REQUEST' }),
      ),
    ).toContain('expected error BAD_REQUEST, got NOT_FOUND')
  })

  it('a package.json that does not list the device', async () => {
    const other = named('other@1.0', {})
    expect(await problem(() => checkPackageJson(other, PACKAGE_JSON))).toContain(
      'does not list other@1.0',
    )
  })
})
