import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { DeviceError } from './errors.ts'
import { hashpath } from './hashpath.ts'
import { id } from './id.ts'
import type { Message } from './message.ts'

interface HashpathVector {
  base?: Message
  base_hashpath?: string
  request: Message
  hashpath: string
}
const vectors = (
  JSON.parse(readFileSync(new URL('./fixtures/ids.json', import.meta.url), 'utf8')) as {
    hashpaths: HashpathVector[]
  }
).hashpaths

describe('hashpath', () => {
  it.each(vectors)('matches HyperBEAM: $hashpath', (vector) => {
    const base = vector.base ?? vector.base_hashpath
    if (base === undefined) throw new Error('vector without a base')
    expect(hashpath(base, vector.request)).toBe(vector.hashpath)
  })

  it('uses priv.hashpath of the base instead of its ID', () => {
    const carried = 'UfSqKA58Hwk99Jg5fsYGY4iKDfnnUAW9MQdMv2-Fw40/a'
    expect(hashpath({ x: 'y', priv: { hashpath: carried } }, { path: 'c' })).toBe(
      'a2-7IhM3hYFod4tiuYiaPLNIXMP_eK8RunVQ-adFZCw/c',
    )
  })

  it('ignores private keys of the request when choosing the raw key', () => {
    expect(hashpath({ a: 'b' }, { path: 'a', priv: { x: 1 } })).toBe(`${id({ a: 'b' })}/a`)
  })

  it('chains: each step compresses the previous two segments', () => {
    const first = hashpath({ a: 'b' }, { path: 'a' })
    const second = hashpath(first, { path: 'c' })
    const third = hashpath(second, { path: 'd' })
    expect(third.split('/')).toHaveLength(2)
    expect(third.endsWith('/d')).toBe(true)
    expect(third).not.toBe(hashpath(first, { path: 'd' }))
  })

  it('supports accumulate-256 when the base asks for it', () => {
    const base = {
      a: 'b',
      'hashpath-alg': 'accumulate-256',
      priv: { hashpath: `${id({})}/${id({ a: 1 })}` },
    }
    const result = hashpath(base, { path: 'k' })
    const sum =
      (BigInt(`0x${Buffer.from(id({}), 'base64url').toString('hex')}`) +
        BigInt(`0x${Buffer.from(id({ a: 1 }), 'base64url').toString('hex')}`)) %
      (1n << 256n)
    expect(result).toBe(
      `${Buffer.from(sum.toString(16).padStart(64, '0'), 'hex').toString('base64url')}/k`,
    )
  })

  it('rejects a base hashpath that does not start with an ID', () => {
    expect(() => hashpath('not-an-id/a', { path: 'b' })).toThrow(DeviceError)
    expect(() => hashpath('short', { path: 'b' })).toThrow(/not an ID/)
  })
})
