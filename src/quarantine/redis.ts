/**
 * The Redis quarantine: the list `<queue>.celeriac.invalid` next to the queue's own list, newest first,
 * each element a JSON record with the reason and the envelope (protocol/quarantine.ts).
 *
 * - put: one script pushes the record, trims the list to `worker_quarantine_max_messages`, drops records
 *   older than `worker_quarantine_max_age` from its tail, sets the key to expire after that age (a list
 *   nobody adds to goes away on its own), and, for a delivery, removes it from kombu's unacked hash and
 *   index, all at once: a message is either unacked or quarantined, never both, never neither. When the
 *   delivery is no longer unacked (a visibility restore took it back meanwhile) nothing is written.
 * - requeue: each selected element is removed and its envelope pushed (LPUSH, the back of the queue, as
 *   a publish does) to the list key it was taken from, in one script per element.
 * - Where the server refuses scripts, MULTI does the same without the age trim and the unacked check.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { decodeQuarantineElement, encodeQuarantineRecord, type QuarantinedMessage, type QuarantineReason } from '../../protocol/quarantine.ts';
import type { RedisKeys } from '../brokers/redis/keys.ts';
import { selects, type QuarantineBounds, type QuarantinedDetail, type QuarantineSelection, type QuarantineStore } from './store.ts';

/**
 * KEYS[1] the quarantine list   KEYS[2] unacked hash   KEYS[3] unacked_index
 * ARGV[1] the record ('' = only trim)   ARGV[2] delivery tag ('' = not a delivery)
 * ARGV[3] max messages   ARGV[4] age cutoff, unix seconds ('' = none)   ARGV[5] expiry, ms ('0' = none)
 * Returns 1 when pushed (or trimmed), 0 when the delivery is no longer unacked (nothing changed).
 */
export const QUARANTINE_PUT = `
local tag = ARGV[2]
if tag ~= '' and redis.call('HEXISTS', KEYS[2], tag) == 0 then
  return 0
end
if ARGV[1] ~= '' then
  redis.call('LPUSH', KEYS[1], ARGV[1])
  redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
  if ARGV[5] ~= '0' then
    redis.call('PEXPIRE', KEYS[1], ARGV[5])
  end
end
if ARGV[4] ~= '' then
  local cutoff = tonumber(ARGV[4])
  for i = 1, 1000 do
    local tail = redis.call('LINDEX', KEYS[1], -1)
    if not tail then break end
    local ok, rec = pcall(cjson.decode, tail)
    if ok and type(rec) == 'table' and type(rec.at) == 'number' and rec.at < cutoff then
      redis.call('RPOP', KEYS[1])
    else
      break
    end
  end
end
if tag ~= '' then
  redis.call('HDEL', KEYS[2], tag)
  redis.call('ZREM', KEYS[3], tag)
end
return 1
`;

/** KEYS[1] the quarantine list, KEYS[2] the queue's list; ARGV[1] the element, ARGV[2] the envelope. */
export const QUARANTINE_REQUEUE = `
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[2], ARGV[2])
  return 1
end
return 0
`;

interface ScriptedClient extends Redis {
  celeriacQuarantinePut(numKeys: number, ...args: string[]): Promise<number>;
  celeriacQuarantineRequeue(numKeys: number, ...args: Array<string | Buffer>): Promise<number>;
}

function scripted(client: Redis): ScriptedClient {
  const c = client as ScriptedClient;
  if (typeof c.celeriacQuarantinePut !== 'function') {
    client.defineCommand('celeriacQuarantinePut', { lua: QUARANTINE_PUT });
    client.defineCommand('celeriacQuarantineRequeue', { lua: QUARANTINE_REQUEUE });
  }
  return c;
}

/** A server without EVAL (some managed Redis): an error reply that names the command. */
function scriptsRefused(err: unknown): boolean {
  return /unknown command|NOSCRIPT|not allowed|NOPERM/i.test((err as Error)?.message ?? '');
}

/** Where a refused message was taken from, and what it was. */
export interface QuarantinePut extends QuarantineReason {
  queue: string;
  /** The list key (unprefixed) it came from. */
  key: string;
  envelope: Uint8Array;
  exchange?: string;
  routingKey?: string;
  /** Its tag in the unacked hash, when it had been recorded as unacked. */
  deliveryTag?: string;
}

export class RedisQuarantine implements QuarantineStore {
  private readonly client: ScriptedClient;
  constructor(client: Redis, private readonly keys: RedisKeys, readonly bounds: QuarantineBounds, private readonly now: () => number = Date.now) {
    this.client = scripted(client);
  }

  /** The list of `queue` (prefixed). */
  key(queue: string): string {
    return this.keys.invalidKey(queue);
  }

  /**
   * Keeps a refused message. Returns the list it went to; null when the bounds keep none (it was only
   * removed from the unacked hash) or when it was no longer unacked (a restore took it back first).
   */
  async put(p: QuarantinePut): Promise<string | null> {
    const at = this.now() / 1000;
    const dest = this.key(p.queue);
    const { unacked, unackedIndex } = this.keys;
    const keep = this.bounds.maxMessages > 0;
    const record = keep ? encodeQuarantineRecord({ ...p, id: randomUUID(), at }) : '';
    const cutoff = this.bounds.maxAge === null ? '' : String(at - this.bounds.maxAge);
    const ttl = this.bounds.maxAge === null ? '0' : String(Math.ceil(this.bounds.maxAge * 1000));
    try {
      const done = await this.client.celeriacQuarantinePut(3, dest, unacked, unackedIndex, record, p.deliveryTag ?? '', String(this.bounds.maxMessages), keep ? cutoff : '', ttl);
      return done === 1 && keep ? dest : null;
    } catch (err) {
      if (!scriptsRefused(err)) throw err;
      const m = this.client.multi();
      if (keep) {
        m.lpush(dest, record).ltrim(dest, 0, this.bounds.maxMessages - 1);
        if (ttl !== '0') m.pexpire(dest, Number(ttl));
      }
      if (p.deliveryTag) m.hdel(unacked, p.deliveryTag).zrem(unackedIndex, p.deliveryTag);
      const res = await m.exec();
      const failed = res?.find(([e]) => e);
      if (!res || failed) throw failed?.[0] ?? new Error('MULTI aborted');
      return keep ? dest : null;
    }
  }

  /** Drops what is past the age limit (put does it too; list does it first). */
  private async trim(queue: string): Promise<void> {
    if (this.bounds.maxAge === null) return;
    const cutoff = String(this.now() / 1000 - this.bounds.maxAge);
    await this.client.celeriacQuarantinePut(3, this.key(queue), this.keys.unacked, this.keys.unackedIndex, '', '', '0', cutoff, '0').catch((err: unknown) => {
      if (!scriptsRefused(err)) throw err;
    });
  }

  private async read(queue: string): Promise<Array<{ element: Buffer; detail: QuarantinedDetail; listKey: string }>> {
    await this.trim(queue);
    const elements = await this.client.lrangeBuffer(this.key(queue), 0, -1);
    return elements.map((element) => {
      const d = decodeQuarantineElement(element, queue);
      return { element, listKey: d.key, detail: { ...d.message, envelope: d.envelope } };
    });
  }

  async list(queue: string): Promise<QuarantinedDetail[]> {
    return (await this.read(queue)).map((e) => e.detail);
  }

  async requeue(queue: string, selection: QuarantineSelection): Promise<QuarantinedMessage[]> {
    const done: QuarantinedMessage[] = [];
    // oldest first, so they go back in the order they first arrived
    for (const e of (await this.read(queue)).reverse()) {
      if (!selects(selection, e.detail)) continue;
      const target = this.keys.prefixed(e.listKey);
      let moved: number;
      try {
        moved = await this.client.celeriacQuarantineRequeue(2, this.key(queue), target, e.element, e.detail.envelope);
      } catch (err) {
        if (!scriptsRefused(err)) throw err;
        moved = await this.client.lrem(this.key(queue), 1, e.element);
        if (moved === 1) await this.client.lpush(target, e.detail.envelope);
      }
      if (moved === 1) {
        const { envelope: _, ...m } = e.detail;
        done.push(m);
      }
    }
    return done;
  }

  async purge(queue: string, selection: QuarantineSelection): Promise<number> {
    if ('all' in selection) {
      const res = await this.client.multi().llen(this.key(queue)).del(this.key(queue)).exec();
      return Number(res?.[0]?.[1] ?? 0);
    }
    let n = 0;
    for (const e of await this.read(queue)) {
      if (selects(selection, e.detail)) n += await this.client.lrem(this.key(queue), 1, e.element);
    }
    return n;
  }
}
