/** Key helpers shared by the codecs and IDs: own-property writes, byte order, `hb_escape`. */

/**
 * Sets `key` as an own enumerable data property. Plain assignment of `__proto__` would replace
 * the prototype instead, so that one key is defined explicitly.
 */
export function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    })
  } else {
    target[key] = value
  }
}

/**
 * Orders strings by their UTF-8 bytes (Erlang binary order). UTF-16 order differs only when a
 * surrogate (an astral code point) meets a code unit in U+E000..U+FFFF.
 */
export function compareBytewise(a: string, b: string): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i)
    const y = b.charCodeAt(i)
    if (x === y) continue
    if (x >= 0xd800 && y >= 0xd800) {
      const xSurrogate = x <= 0xdfff
      const ySurrogate = y <= 0xdfff
      if (xSurrogate !== ySurrogate) return xSurrogate ? 1 : -1
    }
    return x - y
  }
  return a.length - b.length
}

const KEPT = /^[a-z0-9.\-_/?&]*$/

/** `hb_escape:encode`: keeps `a-z 0-9 . - _ / ? &`, every other UTF-8 byte becomes `%xx`. */
export function escapeKey(key: string): string {
  if (KEPT.test(key)) return key
  let out = ''
  for (const byte of Buffer.from(key, 'utf8')) {
    const char = String.fromCharCode(byte)
    out += KEPT.test(char) ? char : `%${byte.toString(16).padStart(2, '0')}`
  }
  return out
}

/** Reverses `escapeKey`; undefined when the text is not a valid escape of UTF-8 bytes. */
export function unescapeKey(escaped: string): string | undefined {
  if (!escaped.includes('%')) return escaped
  const bytes: number[] = []
  for (let i = 0; i < escaped.length; i++) {
    const char = escaped.charCodeAt(i)
    if (char === 0x25) {
      const hex = escaped.slice(i + 1, i + 3)
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined
      bytes.push(parseInt(hex, 16))
      i += 2
    } else if (char < 0x80) {
      bytes.push(char)
    } else {
      return undefined
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes))
  } catch {
    return undefined
  }
}
