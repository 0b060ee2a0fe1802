import { hmacId } from './httpsig.ts'
import type { Message, Value } from './message.ts'
import { linkTABM } from './structured.ts'

/**
 * The unsigned message ID (HyperBEAM `hb_message:id(Msg, none)`): the httpsig@1.0 HMAC-SHA256
 * commitment (key `"ao"`) over the message's link-mode TABM, 43 characters base64url.
 * A list is identified as its numbered message. Private keys never count.
 */
export function id(message: Message | readonly Value[]): string {
  return hmacId(linkTABM(message))
}
