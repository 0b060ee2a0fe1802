/** Store layout owned by scheduler@1.0 (docs/architecture.md, "Store keys"). */

/** Slots are zero-padded so that byte order is slot order. */
export const SLOT_DIGITS = 12

export function padSlot(slot: number): string {
  return String(slot).padStart(SLOT_DIGITS, '0')
}

export const processKey = (pid: string): string => `processes/${pid}`
export const assignmentsGroup = (pid: string): string => `assignments/${pid}`
export const assignmentKey = (pid: string, slot: number): string =>
  `assignments/${pid}/${padSlot(slot)}`
/** The schedule head record earlier versions wrote: no longer written, deleted on the next write. */
export const latestKey = (pid: string): string => `assignments/${pid}/latest`
