import {
  DeviceError,
  Link,
  getKey,
  isId,
  isMessage,
  type Message,
  type ResolveContext,
  type Value,
} from '@aonode/core'
import { textOf } from './text.ts'

export const DEVICE = 'lua@5.3a'

/** One Lua module: its chunk name (for error messages and tracebacks) and its source. */
export interface LuaModule {
  readonly name: string
  readonly code: Uint8Array
}

const LUA_TYPES = new Set(['application/lua', 'text/x-lua'])
const encoder = new TextEncoder()

/**
 * The modules of a definition's `module` key, in load order (HyperBEAM dev_lua `find_modules`):
 * inline source, a message `{content-type: application/lua, body | data}`, the ID of an uploaded
 * module (read through cache@1.0), or a list or map of these.
 */
export async function findModules(base: Message, ctx: ResolveContext): Promise<LuaModule[]> {
  const spec = getKey(base, 'module')
  if (spec === undefined || spec === null) {
    throw new DeviceError('BAD_REQUEST', 'lua: no modules found: the process has no "module" key', {
      device: DEVICE,
      key: 'module',
    })
  }
  const modules: LuaModule[] = []
  await collect(spec, 'module', modules, ctx, 0)
  if (modules.length === 0) {
    throw new DeviceError('BAD_REQUEST', 'lua: no modules found: "module" is empty', {
      device: DEVICE,
      key: 'module',
    })
  }
  return modules
}

async function collect(
  spec: Value,
  name: string,
  out: LuaModule[],
  ctx: ResolveContext,
  depth: number,
): Promise<void> {
  if (depth > 8) {
    throw new DeviceError('BAD_REQUEST', 'lua: "module" is nested too deeply', { device: DEVICE })
  }
  if (typeof spec === 'string') {
    if (isId(spec)) await collect(await readModule(spec, ctx), spec, out, ctx, depth + 1)
    else out.push({ name, code: encoder.encode(spec) })
  } else if (spec instanceof Uint8Array) {
    out.push({ name, code: spec })
  } else if (spec instanceof Link) {
    await collect(await readModule(spec.id, ctx), spec.id, out, ctx, depth + 1)
  } else if (Array.isArray(spec)) {
    const list = spec as readonly Value[]
    for (let i = 0; i < list.length; i++) {
      await collect(list[i] as Value, `${name}-${i + 1}`, out, ctx, depth + 1)
    }
  } else if (isMessage(spec)) {
    const code = getKey(spec, 'body') ?? getKey(spec, 'data')
    const ownName = getKey(spec, 'name')
    const moduleName = typeof ownName === 'string' ? ownName : name
    if (code === undefined) {
      // A map of modules: its values, in key order.
      for (const key of Object.keys(spec))
        await collect(spec[key] as Value, key, out, ctx, depth + 1)
      return
    }
    const type = getKey(spec, 'content-type')
    if (type !== undefined && !(typeof type === 'string' && LUA_TYPES.has(type.toLowerCase()))) {
      throw new DeviceError(
        'BAD_REQUEST',
        `lua: module ${moduleName} has content-type ${textOf(type)}, not application/lua`,
        { device: DEVICE, key: 'module' },
      )
    }
    if (typeof code === 'string') out.push({ name: moduleName, code: encoder.encode(code) })
    else if (code instanceof Uint8Array) out.push({ name: moduleName, code })
    else {
      throw new DeviceError('BAD_REQUEST', `lua: module ${moduleName} has no source in its body`, {
        device: DEVICE,
        key: 'module',
      })
    }
  } else {
    throw new DeviceError('BAD_REQUEST', `lua: "module" holds a ${typeof spec}, not Lua source`, {
      device: DEVICE,
      key: 'module',
    })
  }
}

async function readModule(id: string, ctx: ResolveContext): Promise<Value> {
  try {
    return await ctx.resolve({ device: 'cache@1.0' }, { path: 'read', target: id })
  } catch (error) {
    if (DeviceError.is(error) && error.status === 404) {
      throw new DeviceError('NOT_FOUND', `lua: module ${id} not found`, {
        device: DEVICE,
        key: 'module',
        cause: error,
      })
    }
    throw error
  }
}
