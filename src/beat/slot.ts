/**
 * A slot's task id: a name-based UUID (RFC 9562 version 5) of the entry's name and the slot's due
 * instant, so every copy of one slot (a resend after a crash, a second beat that also thought it led)
 * carries the same id, and a worker that deduplicates by id runs it once.
 */
import { v5 as uuidv5 } from 'uuid';

/** The namespace of celeriac's slot ids (a fixed random UUID; changing it changes every id). */
export const SLOT_NAMESPACE = '3b0f6c8e-5d0a-4c59-9b2e-7f1c2d9a8e41';

/** The task id of entry `name`'s run due at `slot` (epoch ms). */
export function slotTaskId(name: string, slot: number): string {
  return uuidv5(`${name}\n${Math.round(slot)}`, SLOT_NAMESPACE);
}
