import { isMessage, type Value } from '@aonode/core'
import { describeDevice } from '@aonode/testkit'
import { expect } from 'vitest'
import { createLuaDevice } from './device.ts'

const DEVICE = 'lua@5.3a'
const HELLO = 'function hello(base, req) return "hello " .. (req.name or "world") end'

describeDevice(
  createLuaDevice(),
  [
    {
      name: 'init loads the modules and keeps the live state under priv',
      base: { device: DEVICE, module: HELLO },
      req: 'init',
      expect: (state: Value) => {
        expect(isMessage(state) && isMessage(state['priv'])).toBe(true)
      },
      // Each run holds its own live Lua state (a different WASM instance): not comparable.
      nondeterministic: true,
    },
    {
      name: 'a key absent from the base calls the Lua global of that name',
      base: { device: DEVICE, module: HELLO },
      req: { path: 'hello', name: 'AO' },
      expect: 'hello AO',
    },
    {
      name: 'a key present in the base is data',
      base: { device: DEVICE, module: HELLO, hello: 'stored' },
      req: 'hello',
      expect: 'stored',
    },
    {
      name: 'init without modules is refused',
      base: { device: DEVICE },
      req: 'init',
      error: { code: 'BAD_REQUEST', status: 400, message: /no modules/ },
    },
    {
      name: 'a syntax error is refused at init',
      base: { device: DEVICE, module: 'function broken(' },
      req: 'init',
      error: { code: 'BAD_REQUEST', status: 400, message: /cannot load/ },
    },
    {
      name: 'compute before init is refused',
      base: { device: DEVICE, module: HELLO },
      req: { path: 'compute', slot: 0, body: {} },
      error: { status: 400, message: /init/ },
    },
  ],
  { packageJson: new URL('../package.json', import.meta.url) },
)
