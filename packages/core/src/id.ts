import type { Message, Value } from './message.ts'

/** The unsigned message ID (HyperBEAM httpsig HMAC commitment ID), 43 characters base64url. */
export function id(_message: Message | readonly Value[]): string {
  throw new Error('not implemented yet')
}
