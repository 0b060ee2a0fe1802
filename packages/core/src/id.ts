import { hmacId } from './httpsig.ts'
import type { FlatTABM } from './httpsig.ts'
import type { Message, Value } from './message.ts'
import { encodeLevel, levelId } from './structured.ts'
import type { NestedEncoder, TABM } from './structured.ts'

/**
 * The unsigned message ID (HyperBEAM `hb_message:id(Msg, none)`): the httpsig@1.0 HMAC-SHA256
 * commitment (key `"ao"`) over the message's link-mode TABM, 43 characters base64url.
 * A list is identified as its numbered message. Private keys never count.
 *
 * Each level is signed straight from its keys and values (no TABM objects), nested levels first.
 */
export function id(message: Message | readonly Value[]): string {
  return levelId(encodeLevel(message, '', false, nestedId))
}

const nestedId: NestedEncoder = (child, path) => levelId(encodeLevel(child, path, false, nestedId))

/** A message's ID with the IDs of its nested messages and lists (`idTree`). */
export interface IdTree {
  readonly id: string
  /** The ID of a nested message or list of the tree (the same object); undefined for others. */
  idOf(nested: Message | readonly Value[]): string | undefined
}

/**
 * `id(message)` plus every nested message's and list's ID, from the same single pass: what a
 * writer that stores nested messages under their own IDs needs, without hashing any level twice.
 */
export function idTree(message: Message | readonly Value[]): IdTree {
  const ids = new Map<Message | readonly Value[], string>()
  const nested: NestedEncoder = (child, path) => {
    const childId = levelId(encodeLevel(child, path, false, nested))
    ids.set(child, childId)
    return childId
  }
  const rootId = levelId(encodeLevel(message, '', false, nested))
  return { id: rootId, idOf: (value) => ids.get(value) }
}

/**
 * The ID of a link-mode TABM (`toTABM(message).tabm` or one of its `children`): `id(message)`
 * without encoding the message again. With `children`, a whole tree is identified in one pass.
 */
export function tabmId(tabm: TABM): string {
  return hmacId(tabm as FlatTABM)
}
