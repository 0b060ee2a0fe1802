import { hmacId } from './httpsig.ts'
import type { FlatTABM } from './httpsig.ts'
import type { Message, Value } from './message.ts'
import { linkTABM } from './structured.ts'
import type { TABM } from './structured.ts'

/**
 * The unsigned message ID (HyperBEAM `hb_message:id(Msg, none)`): the httpsig@1.0 HMAC-SHA256
 * commitment (key `"ao"`) over the message's link-mode TABM, 43 characters base64url.
 * A list is identified as its numbered message. Private keys never count.
 */
export function id(message: Message | readonly Value[]): string {
  return hmacId(linkTABM(message))
}

/**
 * The ID of a link-mode TABM (`toTABM(message).tabm` or one of its `children`): `id(message)`
 * without encoding the message again. With `children`, a whole tree is identified in one pass.
 */
export function tabmId(tabm: TABM): string {
  return hmacId(tabm as FlatTABM)
}
