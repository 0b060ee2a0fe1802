const BRAND = Symbol.for('aonode.device-error')

/** Stable error codes. Third-party devices may add their own (SCREAMING_SNAKE with a prefix). */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'UNPROCESSABLE'
  | 'TOO_LARGE'
  | 'DEVICE_NOT_FOUND'
  | 'DEVICE_KEY_NOT_FOUND'
  | 'DEVICE_BAD_INFO'
  | 'DEVICE_CORE_MISMATCH'
  | 'DEVICE_DUPLICATE'
  | 'DEVICE_FAILED'
  | 'DEPTH_EXCEEDED'
  | 'PATH_INVALID'
  | 'CODEC_INVALID'
  | 'TIMEOUT'
  | 'UNAVAILABLE'

const STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  UNPROCESSABLE: 422,
  TOO_LARGE: 413,
  DEVICE_NOT_FOUND: 404,
  DEVICE_KEY_NOT_FOUND: 404,
  DEVICE_BAD_INFO: 500,
  DEVICE_CORE_MISMATCH: 500,
  DEVICE_DUPLICATE: 500,
  DEVICE_FAILED: 500,
  DEPTH_EXCEEDED: 508,
  PATH_INVALID: 400,
  CODEC_INVALID: 400,
  TIMEOUT: 504,
  UNAVAILABLE: 503,
}

export interface DeviceErrorOptions extends ErrorOptions {
  status?: number
  device?: string
  key?: string
}

/** Every failure a device or the resolver reports. `status` is the HTTP status the app answers. */
export class DeviceError extends Error {
  override readonly name = 'DeviceError'
  readonly code: ErrorCode | (string & {})
  readonly status: number
  readonly device: string | undefined
  readonly key: string | undefined

  constructor(code: ErrorCode | (string & {}), message: string, options: DeviceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.status = options.status ?? STATUS[code as ErrorCode] ?? 500
    this.device = options.device
    this.key = options.key
    Object.defineProperty(this, BRAND, { value: true })
  }

  /** Brand check, so errors from a second copy of @aonode/core are still recognised. */
  static is(value: unknown): value is DeviceError {
    return typeof value === 'object' && value !== null && BRAND in value
  }
}

export const badRequest = (message: string, options?: DeviceErrorOptions): DeviceError =>
  new DeviceError('BAD_REQUEST', message, options)
export const notFound = (message: string, options?: DeviceErrorOptions): DeviceError =>
  new DeviceError('NOT_FOUND', message, options)
