import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DeviceError } from './errors.ts'
import { AsDevice, MAX_SEGMENT_BYTES, Subpath, parseHyperPath } from './hyperpath.ts'
import { Float } from './message.ts'

const ID = 'a3aXBKZ-2o7_IHk5GL7bT6RpKbULoaq-CmVQYZjDnjU'
const ID2 = 'Z-2o7_IHk5GL7bT6RpKbULoaq-CmVQYZjDnjUa3aXBK'

function pathError(path: string, extra?: Record<string, string>): DeviceError {
  try {
    parseHyperPath(path, extra)
  } catch (error) {
    if (DeviceError.is(error)) return error
    throw error
  }
  throw new Error(`expected ${path} to be refused`)
}

describe('parseHyperPath: spec §3.2 vectors', () => {
  it('/ID~process@1.0/compute&slot+integer=3/results', () => {
    expect(parseHyperPath(`/${ID}~process@1.0/compute&slot+integer=3/results`)).toStrictEqual([
      new AsDevice('process@1.0', { path: ID }),
      { path: 'compute', slot: 3 },
      { path: 'results' },
    ])
  })

  it('/~meta@1.0/info', () => {
    expect(parseHyperPath('/~meta@1.0/info')).toStrictEqual([
      new AsDevice('meta@1.0', { path: '' }),
      { path: 'info' },
    ])
  })

  it('/~message@1.0&a=1&b+integer=2/b', () => {
    expect(parseHyperPath('/~message@1.0&a=1&b+integer=2/b')).toStrictEqual([
      new AsDevice('message@1.0', { path: '', a: '1', b: 2 }),
      { path: 'b' },
    ])
  })

  it('/a/b&k=v/c?x=1&2.y+integer=5: global and scoped query keys', () => {
    expect(parseHyperPath('/a/b&k=v/c?x=1&2.y+integer=5')).toStrictEqual([
      { x: '1' },
      { x: '1', path: 'a' },
      { x: '1', path: 'b', k: 'v', y: 5 },
      { x: '1', path: 'c' },
    ])
  })

  it('/a/(/ID/now)/c: a nested path step', () => {
    expect(parseHyperPath(`/a/(/${ID}/now)/c`)).toStrictEqual([
      {},
      { path: 'a' },
      new Subpath([ID, { path: 'now' }]),
      { path: 'c' },
    ])
  })

  it('GET /ID/now/results: the ID is the base and gets no keys', () => {
    expect(parseHyperPath(`/${ID}/now/results`, { method: 'GET' })).toStrictEqual([
      ID,
      { method: 'GET', path: 'now' },
      { method: 'GET', path: 'results' },
    ])
  })

  it('/a&k=(/x/y): an inline subpath value', () => {
    expect(parseHyperPath('/a&k=(/x/y)')).toStrictEqual([
      {},
      { path: 'a', k: new Subpath([{}, { path: 'x' }, { path: 'y' }]) },
    ])
  })

  it('header k+resolve: /x/y reaches every message', () => {
    const k = new Subpath([{}, { path: 'x' }, { path: 'y' }])
    expect(parseHyperPath('/a/b', { 'k+resolve': '/x/y' })).toStrictEqual([
      { k },
      { k, path: 'a' },
      { k, path: 'b' },
    ])
  })

  it('/a?l+list=1,2: a typed list (kept inline: no store to offload it to)', () => {
    expect(parseHyperPath('/a?l+list=1,2')).toStrictEqual([{ l: [1, 2] }, { l: [1, 2], path: 'a' }])
  })

  it('/x&flag/y~lua@5.3a&fn=hello: flags and a device swap with keys', () => {
    expect(parseHyperPath('/x&flag/y~lua@5.3a&fn=hello')).toStrictEqual([
      {},
      { path: 'x', flag: true },
      new AsDevice('lua@5.3a', { path: 'y', fn: 'hello' }),
    ])
  })

  it('POST /schedule (target: ID): extra keys reach the base too', () => {
    expect(parseHyperPath('/schedule', { method: 'POST', target: ID })).toStrictEqual([
      { method: 'POST', target: ID },
      { method: 'POST', target: ID, path: 'schedule' },
    ])
  })

  it('/a&k+resolve=(/x/y): accepted inline (HyperBEAM crashes here)', () => {
    expect(parseHyperPath('/a&k+resolve=(/x/y)')).toStrictEqual([
      {},
      { path: 'a', k: new Subpath([{}, { path: 'x' }, { path: 'y' }]) },
    ])
  })

  it('values are taken literally: quotes stay', () => {
    expect(parseHyperPath('/a&greeting="Hello"')[1]).toStrictEqual({
      path: 'a',
      greeting: '"Hello"',
    })
  })
})

describe('parseHyperPath: hb_singleton cases (§9.2)', () => {
  it('parse_explicit_message / single_message: global keys on the base and every step', () => {
    expect(parseHyperPath('/a', { a: 'b' })).toStrictEqual([{ a: 'b' }, { a: 'b', path: 'a' }])
    expect(parseHyperPath(`/${ID}/a`, { a: 'b' })).toStrictEqual([ID, { a: 'b', path: 'a' }])
  })

  it('multiple_messages: /a/b/c gives 4 messages with the global key', () => {
    const steps = parseHyperPath('/a/b/c', { 'test-key': 'v' })
    expect(steps).toHaveLength(4)
    for (const step of steps) expect(step).toMatchObject({ 'test-key': 'v' })
  })

  it('scoped_key: 2.test-key lands on b only; 0.key on the base', () => {
    expect(parseHyperPath('/a/b/c', { '2.test-key': 'v', '0.base-key': 'w' })).toStrictEqual([
      { 'base-key': 'w' },
      { path: 'a' },
      { path: 'b', 'test-key': 'v' },
      { path: 'c' },
    ])
  })

  it('typed_key: 2.test-key+integer', () => {
    expect(parseHyperPath('/a/b/c', { '2.test-key+integer': '123' })[2]).toStrictEqual({
      path: 'b',
      'test-key': 123,
    })
  })

  it('subpath_in_key: 2.test-key+resolve', () => {
    const steps = parseHyperPath('/a/b/c', { '2.test-key+resolve': '/x/y/z' })
    expect(steps[2]).toStrictEqual({
      path: 'b',
      'test-key': new Subpath([{}, { path: 'x' }, { path: 'y' }, { path: 'z' }]),
    })
    expect(steps[1]).toStrictEqual({ path: 'a' })
  })

  it('subpath_in_path: /a/(x/y/z)/z', () => {
    expect(parseHyperPath('/a/(x/y/z)/z')[2]).toStrictEqual(
      new Subpath([{}, { path: 'x' }, { path: 'y' }, { path: 'z' }]),
    )
  })

  it('inlined_keys / multiple_inlined_keys / subpath_in_inlined', () => {
    expect(parseHyperPath('/a/b&k1=v1/c&k2=v2')).toStrictEqual([
      {},
      { path: 'a' },
      { path: 'b', k1: 'v1' },
      { path: 'c', k2: 'v2' },
    ])
    expect(parseHyperPath('/a/b&k1=v1&k2=v2')[2]).toStrictEqual({ path: 'b', k1: 'v1', k2: 'v2' })
    expect(parseHyperPath('/part1/part2&test=1&b=(/x/y)/part3')[2]).toStrictEqual({
      path: 'part2',
      test: '1',
      b: new Subpath([{}, { path: 'x' }, { path: 'y' }]),
    })
  })

  it('path_parts: splits on / outside parentheses, keeps IDs, drops empty parts', () => {
    expect(parseHyperPath(`//a//(${ID}/b/(c/d))///${ID2}/`)).toStrictEqual([
      {},
      { path: 'a' },
      new Subpath([ID, { path: 'b' }, new Subpath([{}, { path: 'c' }, { path: 'd' }])]),
      ID2,
    ])
    expect(parseHyperPath('/')).toStrictEqual([{}])
  })
})

describe('parseHyperPath: decoding', () => {
  it('percent-decodes segments and query pairs; + in a query is a space', () => {
    expect(parseHyperPath('/a%20b?k=x%26y+z')).toStrictEqual([
      { k: 'x&y z' },
      { k: 'x&y z', path: 'a b' },
    ])
  })

  it('normalises keys to lower case', () => {
    expect(parseHyperPath('/a&Key=V?Other=1')[1]).toStrictEqual({ other: '1', path: 'a', key: 'V' })
  })

  it('decodes typed values', () => {
    const [, step] = parseHyperPath(
      '/a&i+integer=-42&big+integer=9007199254740993&f+float=1.5&g+float=2&t+atom=true&n+atom=null' +
        '&s+atom=ok&m+map=x=1,y="two"',
    )
    expect(step).toStrictEqual({
      path: 'a',
      i: -42,
      big: 9007199254740993n,
      f: 1.5,
      g: new Float(2),
      t: true,
      n: null,
      s: 'ok',
      m: { x: 1, y: 'two' },
    })
    expect(parseHyperPath('/a?l+list="a,b",1,2.5,?1,token,"(ao-type-integer) 7"')[1]).toStrictEqual(
      { l: ['a,b', 1, 2.5, true, 'token', 7], path: 'a' },
    )
  })
})

describe('parseHyperPath: bad input is PATH_INVALID (400)', () => {
  const cases: [string, string, Record<string, string>?][] = [
    ['long segment', `/${'x'.repeat(MAX_SEGMENT_BYTES + 1)}`],
    ['multi-byte long segment', `/${'é'.repeat(MAX_SEGMENT_BYTES / 2 + 1)}`],
    ['unclosed parenthesis', '/a/(b/c'],
    ['stray closing parenthesis', '/a)/b'],
    ['bad percent-encoding', '/a%zz'],
    ['bad integer', '/a&n+integer=x'],
    ['bad float', '/a&n+float=1.2.3'],
    ['unknown type', '/a&n+wibble=1'],
    ['bad device name', '/a~not-a-device'],
    ['scope past the end', '/a', { '5.k': 'v' }],
    ['scope onto an ID', `/${ID}/a`, { '1.k': 'v' }],
  ]
  for (const [name, path, extra] of cases) {
    it(name, () => {
      const error = pathError(path, extra)
      expect([error.code, error.status]).toEqual(['PATH_INVALID', 400])
    })
  }

  it('names the problem', () => {
    expect(pathError('/a/(b').message).toContain('unbalanced "("')
    expect(pathError(`/${'x'.repeat(600)}`).message).toContain('longer than 512 bytes')
    expect(pathError('/a&n+wibble=1').message).toContain('unknown type "wibble"')
  })

  it('accepts a segment of exactly the limit', () => {
    expect(parseHyperPath(`/${'x'.repeat(MAX_SEGMENT_BYTES)}`)).toHaveLength(2)
  })

  it('fuzz: random paths parse or fail with a DeviceError, never anything else', () => {
    const char = fc.constantFrom(...'ab/()&~+=?%.,"1 @-_é'.split(''), '%2', '%41', 'x+integer=')
    const path = fc.array(char, { maxLength: 40 }).map((chars) => chars.join(''))
    const extra = fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), {
      maxKeys: 3,
    })
    fc.assert(
      fc.property(path, extra, (p, e) => {
        try {
          parseHyperPath(p, e)
        } catch (error) {
          if (!DeviceError.is(error)) throw error
        }
      }),
      { numRuns: 10_000 },
    )
  })
})
