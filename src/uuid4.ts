/**
 * Random (version 4) UUIDs, as `crypto.randomUUID()` writes them, for the producer's hot path (a task id
 * and a Redis delivery tag per message): 16 bytes from a pool filled by the same CSPRNG, hex-written
 * into one small buffer and read back as one string, where randomUUID builds it from ~20 pieces.
 */
import { randomFillSync } from 'node:crypto';

const POOL_IDS = 256;
const pool = Buffer.allocUnsafe(16 * POOL_IDS);
let next = pool.length;
/** `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`: the dashes stay, the hex digits are overwritten. */
const text = Buffer.from('00000000-0000-4000-8000-000000000000', 'latin1') as Buffer & { latin1Slice(start: number, end: number): string };
const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Where the hex digits of byte i go in `text`. */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

export function uuid4(): string {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  for (let i = 0; i < 16; i++) {
    let b = pool[next + i]!;
    if (i === 6) b = (b & 0x0f) | 0x40; // version 4
    else if (i === 8) b = (b & 0x3f) | 0x80; // RFC 4122 variant
    const at = AT[i]!;
    text[at] = HEX[b >> 4]!;
    text[at + 1] = HEX[b & 15]!;
  }
  next += 16;
  return text.latin1Slice(0, 36);
}
