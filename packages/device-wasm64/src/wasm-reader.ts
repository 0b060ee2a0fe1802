/** A cursor over WebAssembly binary bytes, shared by the image rewriters. */

/** Thrown for bytes that are not a well-formed WebAssembly module. */
export class ImageFormatError extends Error {
  override readonly name = 'ImageFormatError'
}

export class Reader {
  pos: number
  readonly bytes: Uint8Array
  readonly end: number
  constructor(bytes: Uint8Array, pos: number, end: number) {
    this.bytes = bytes
    this.pos = pos
    this.end = end
  }
  byte(): number {
    if (this.pos >= this.end) throw new ImageFormatError('unexpected end of the wasm image')
    return this.bytes[this.pos++] as number
  }
  /** Unsigned LEB128 (up to 2^53, enough for sizes, counts and page limits). */
  u(): number {
    let result = 0
    let scale = 1
    for (;;) {
      const b = this.byte()
      result += (b & 0x7f) * scale
      if ((b & 0x80) === 0) return result
      scale *= 128
    }
  }
  /** Skips a signed LEB128. */
  skipLeb(): void {
    while ((this.byte() & 0x80) !== 0) {
      /* continuation bytes */
    }
  }
  skip(n: number): void {
    if (this.pos + n > this.end) throw new ImageFormatError('unexpected end of the wasm image')
    this.pos += n
  }
  /** Memory/table limits; returns [flags, initial, maximum?]. */
  limits(): [number, number, number | undefined] {
    const flags = this.byte()
    const initial = this.u()
    const maximum = (flags & 0x01) !== 0 ? this.u() : undefined
    return [flags, initial, maximum]
  }
  /** Skips a constant expression up to its `end` opcode, reporting any `ref.func` in it. */
  constExpr(onFunction?: (index: number) => void): void {
    for (;;) {
      const op = this.byte()
      if (op === 0x0b) return
      if (op === 0x41 || op === 0x42) this.skipLeb()
      else if (op === 0x43) this.skip(4)
      else if (op === 0x44) this.skip(8)
      else if (op === 0x23) this.u()
      else if (op === 0xd2) onFunction?.(this.u())
      else if (op === 0xd0) this.byte()
      else if (
        op === 0x6a ||
        op === 0x6b ||
        op === 0x6c ||
        op === 0x7c ||
        op === 0x7d ||
        op === 0x7e
      ) {
        /* extended-const arithmetic: no immediates */
      } else
        throw new ImageFormatError(
          `unsupported opcode 0x${op.toString(16)} in a global initialiser`,
        )
    }
  }
}
