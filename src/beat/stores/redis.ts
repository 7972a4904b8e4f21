/**
 * The Redis store (`-S redis`, `beat_scheduler = 'redbeat.RedBeatScheduler'`): entries in RedBeat's
 * layout, so a Python RedBeat and a celeriac beat share one schedule and one leader lock.
 *
 *   <prefix><name>                 hash: `definition`, `meta` (RedBeat's JSON, ./redbeat-codec.ts)
 *   <prefix>:schedule              sorted set of entry keys, score = next due time, whole UTC seconds
 *   <prefix>:statics               set of the names that came from `beat_schedule`
 *   <prefix>:lock                  the leader lease (src/beat/lock.ts)
 *   <prefix>:pending               hash `<name>\n<slot ms>` -> claim (kombu JSON): claimed, not yet confirmed
 *   <prefix><name> `celeriac_claimed`  the last slot claimed (ms), a field RedBeat ignores
 *
 * The last two are celeriac's; RedBeat never reads them (one field per entry rather than a key per slot,
 * so 10,000 one-second entries do not leave 864 million markers a day). Scores are RedBeat's (`calendar.timegm`, so
 * truncated to the second, -1 for never) because Python reads them; the exact due instant comes from the
 * meta and the schedule after loading (`dueAt`), so sub-second entries stay on time.
 *
 * A claim is one Lua script per batch. For each slot it checks, atomically: the lease (when fenced: the
 * lock key still holds our token), that the entry still exists and its `meta` is the text we read (the
 * lastRunAt the scheduler saw), and that the slot's claim marker is new; then it writes the new meta, the
 * new score, the marker and the pending claim. Not supported: Redis Cluster (the script spans keys
 * RedBeat does not hash-tag).
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { parseKombuJson, stringifyKombuJson } from '../../../protocol/serialization/index.ts';
import type { PyValue } from '../../../protocol/values.ts';
import type { WorkerLogger } from '../../worker/log.ts';
import type { LeaderLock } from '../lock.ts';
import type { Schedule, ScheduleJSON } from '../schedules/base.ts';
import { initialRunState, type BeatStore, type Claim, type ClaimRequest, type DueEntries, type Entry, type EntryDefinition, type EntryMeta } from '../store.ts';
import { decodeDefinition, decodeMeta, encodeDefinition, encodeMeta, redbeatScore } from './redbeat-codec.ts';

export interface RedisStoreOptions {
  client: Redis;
  /** `redbeat_key_prefix`. @default 'redbeat:' */
  keyPrefix?: string;
  /** `redbeat_lock_key`; prefixed when it does not start with the prefix (RedBeat's rule). @default '<prefix>:lock' */
  lockKey?: string;
  fromJSON: (json: ScheduleJSON) => Schedule;
  /** When an entry is next due (RedBeat's `due_at`), epoch ms, null for never. */
  dueAt: (entry: Entry, now: number) => number | null;
  /** Fencing: claims succeed only while this lease's token is the one in Redis. */
  lock?: LeaderLock;
  /** False when no Python RedBeat shares the store (see redbeat-codec.ts). @default true */
  redbeatCompatible?: boolean;
  /**
   * The app's time zone: `last_run_at` is written in it (as Python's beat does; Celery's crontab reads
   * its wall clock), and a crontab in it is stored as RedBeat's plain crontab. @default 'UTC'
   */
  timezone?: string;
  logger?: Pick<WorkerLogger, 'warning' | 'error'>;
  /** The wall clock, epoch ms. @default Date.now */
  now?: () => number;
  /** For the banner (a redacted URL). */
  location?: string;
  /** Quit the client on close(). @default false */
  closeClient?: boolean;
}

/** RedBeat's keys for a prefix. */
export function redbeatKeys(prefix = 'redbeat:', lockKey?: string) {
  let lock = lockKey ?? `${prefix}:lock`;
  if (!lock.startsWith(prefix)) lock = prefix + lock;
  return {
    schedule: `${prefix}:schedule`,
    statics: `${prefix}:statics`,
    pending: `${prefix}:pending`,
    /** celeriac's: a channel that wakes running beats when an entry is changed at run time. */
    changes: `${prefix}:celeriac:changes`,
    lock,
    entry: (name: string) => prefix + name,
  };
}

/** Why a claim was refused (the script's codes). */
export const CLAIM_REFUSED = { 1: 'entry removed', 2: 'entry changed since read (lastRunAt)', 3: 'slot claimed already', 4: 'lock not ours' } as const;

/**
 * KEYS: schedule, pending, lock, then per request: entry key.
 * ARGV: token ('' = not fenced), then per request: expected meta ('n' absent, 'v'..text),
 *   new meta, score, pending field, pending value, slot ms.
 * Returns a code per request: 0 claimed, else a key of CLAIM_REFUSED.
 */
const CLAIM = `
local out = {}
local n = #KEYS - 3
if ARGV[1] ~= '' and redis.call('get', KEYS[3]) ~= ARGV[1] then
  for i = 1, n do out[i] = 4 end
  return out
end
for i = 1, n do
  local ek = KEYS[3 + i]
  local a = 1 + (i - 1) * 6
  local expected = ARGV[a + 1]
  local cur = redis.call('hget', ek, 'meta')
  if redis.call('hexists', ek, 'definition') == 0 then
    out[i] = 1
  elseif (expected == 'n' and cur) or (expected ~= 'n' and cur ~= string.sub(expected, 2)) then
    out[i] = 2
  elseif tonumber(redis.call('hget', ek, 'celeriac_claimed') or '-1') >= tonumber(ARGV[a + 6]) then
    out[i] = 3
  else
    redis.call('hset', ek, 'meta', ARGV[a + 2], 'celeriac_claimed', ARGV[a + 6])
    redis.call('zadd', KEYS[1], ARGV[a + 3], ek)
    redis.call('hset', KEYS[2], ARGV[a + 4], ARGV[a + 5])
    out[i] = 0
  end
end
return out`;

const pendingField = (name: string, slot: number) => `${name}\n${Math.round(slot)}`;

export class RedisBeatStore implements BeatStore {
  readonly kind = 'redis';
  readonly location: string;
  readonly keys: ReturnType<typeof redbeatKeys>;
  /** Refusals since start, by reason (for logs and tests). */
  readonly refused: Record<keyof typeof CLAIM_REFUSED, number> = { 1: 0, 2: 0, 3: 0, 4: 0 };
  private readonly client: Redis;
  private readonly opts: RedisStoreOptions;
  private readonly prefix: string;
  private readonly now: () => number;
  /** Entries that could not be read, by key, with the text logged (so each is logged once). */
  private readonly unreadable = new Map<string, string>();

  constructor(options: RedisStoreOptions) {
    this.opts = options;
    this.client = options.client;
    this.prefix = options.keyPrefix ?? 'redbeat:';
    this.keys = redbeatKeys(this.prefix, options.lockKey);
    this.now = options.now ?? (() => Date.now());
    this.location = options.location ?? `redis ${this.prefix}`;
  }

  /** The zone `last_run_at` is written in: the app's, as Python's beat writes it. */
  private get zone(): string {
    return this.opts.timezone ?? 'UTC';
  }

  private get codec() {
    return { redbeatCompatible: this.opts.redbeatCompatible ?? true, timezone: this.opts.timezone };
  }

  async setup(statics: readonly EntryDefinition[], now: number): Promise<void> {
    const names = new Set(statics.map((d) => d.name));
    const encoded = statics.map((d) => encodeDefinition(d, this.codec)); // refuses before anything is written
    const previous = await this.client.smembers(this.keys.statics);
    const removed = previous.filter((name) => !names.has(name));
    const metas = await this.readMetas(statics.map((d) => d.name));
    const tx = this.client.multi();
    for (const name of removed) {
      tx.zrem(this.keys.schedule, this.keys.entry(name)).del(this.keys.entry(name)).srem(this.keys.statics, name);
    }
    statics.forEach((def, i) => this.writeDefinition(tx, def, encoded[i]!, metas[i]!, now));
    if (names.size > 0) tx.sadd(this.keys.statics, ...names);
    await tx.exec();
  }

  async due(until: number): Promise<DueEntries> {
    const untilSec = Math.floor(until / 1000);
    const [due, next] = (await this.client.pipeline()
      .zrangebyscore(this.keys.schedule, 0, untilSec, 'WITHSCORES')
      .zrangebyscore(this.keys.schedule, `(${untilSec}`, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
      .exec())!.map(([err, v]) => {
      if (err) throw err;
      return v as string[];
    }) as [string[], string[]];
    let nextAt = next.length > 0 ? Number(next[1]) * 1000 : null;
    const keys: string[] = [];
    const scores: number[] = [];
    for (let i = 0; i < due.length; i += 2) {
      keys.push(due[i]!);
      scores.push(Number(due[i + 1]));
    }
    const loaded = await this.load(keys);
    const entries: Entry[] = [];
    const fix = this.client.pipeline();
    loaded.forEach((entry, i) => {
      if (!entry) return;
      const at = this.nextDue(entry, until);
      if (at === null) {
        fix.zadd(this.keys.schedule, 'XX', -1, keys[i]!);
      } else if (at <= until) {
        entries.push(entry);
      } else {
        nextAt = nextAt === null ? at : Math.min(nextAt, at);
        // the score says due, the run state says later: move the score so it is not loaded every tick
        if (redbeatScore(at) > scores[i]!) fix.zadd(this.keys.schedule, 'XX', redbeatScore(at), keys[i]!);
      }
    });
    if (fix.length > 0) await fix.exec();
    return { entries, nextAt };
  }

  async claim(requests: readonly ClaimRequest[]): Promise<Claim[]> {
    if (requests.length === 0) return [];
    const metas = await this.readMetas(requests.map((r) => r.entry.name));
    const now = this.now();
    const keys = [this.keys.schedule, this.keys.pending, this.keys.lock];
    const args: string[] = [this.opts.lock?.token ?? ''];
    const sent: { claim: Claim; i: number }[] = [];
    requests.forEach((r, i) => {
      const stored = metas[i]!;
      const unreadable = stored.raw !== null && stored.meta === null;
      if (unreadable || (stored.meta?.lastRunAt ?? null) !== r.entry.lastRunAt) {
        this.refused[2]++;
        return;
      }
      const { entry } = r;
      const claim: Claim = {
        name: entry.name, slot: r.slot, taskId: r.taskId, claimedAt: now,
        task: entry.task, args: entry.args, kwargs: entry.kwargs, options: entry.options,
      };
      keys.push(this.keys.entry(entry.name));
      args.push(
        stored.raw === null ? 'n' : `v${stored.raw}`,
        encodeMeta({ lastRunAt: r.meta.lastRunAt ?? now, totalRunCount: r.meta.totalRunCount }, this.zone),
        String(redbeatScore(r.nextDueAt)),
        pendingField(entry.name, r.slot),
        stringifyKombuJson(claim as unknown as PyValue),
        String(Math.round(r.slot)),
      );
      sent.push({ claim, i });
    });
    if (sent.length === 0) return [];
    const codes = (await this.client.eval(CLAIM, keys.length, ...keys, ...args)) as number[];
    const out: Claim[] = [];
    sent.forEach(({ claim }, j) => {
      const code = Number(codes[j]);
      if (code === 0) out.push(claim);
      else this.refused[code as keyof typeof CLAIM_REFUSED]++;
    });
    if (codes.length > 0 && Number(codes[0]) === 4) {
      this.opts.logger?.warning(`beat: the lock ${this.keys.lock} is not ours: claimed nothing (another beat leads)`);
      this.opts.lock?.lost(); // the beat stops leading now and tries to take the lock again, not at its next renewal
    }
    return out;
  }

  async reschedule(name: string, nextDueAt: number | null): Promise<void> {
    await this.client.zadd(this.keys.schedule, 'XX', redbeatScore(nextDueAt), this.keys.entry(name));
  }

  async sent(claims: readonly Claim[]): Promise<void> {
    if (claims.length === 0) return;
    await this.client.hdel(this.keys.pending, ...claims.map((c) => pendingField(c.name, c.slot)));
  }

  async pending(): Promise<Claim[]> {
    const all = await this.client.hgetall(this.keys.pending);
    const out: Claim[] = [];
    for (const [field, text] of Object.entries(all)) {
      try {
        out.push(parseKombuJson(text) as unknown as Claim);
      } catch (err) {
        this.opts.logger?.error(`beat: pending claim ${JSON.stringify(field)} in ${this.keys.pending} cannot be read (${(err as Error).message}); dropped`);
        await this.client.hdel(this.keys.pending, field);
      }
    }
    return out.sort((a, b) => a.claimedAt - b.claimedAt);
  }

  async list(): Promise<Entry[]> {
    const keys = await this.client.zrange(this.keys.schedule, '0', '-1');
    return (await this.load(keys, false)).filter((e): e is Entry => e !== null);
  }

  async get(name: string): Promise<Entry | null> {
    const [entry] = await this.load([this.keys.entry(name)], false);
    return entry ?? null;
  }

  async save(definition: EntryDefinition): Promise<void> {
    const text = encodeDefinition(definition, this.codec);
    const [meta] = await this.readMetas([definition.name]);
    const tx = this.client.multi();
    this.writeDefinition(tx, definition, text, meta!, this.now());
    tx.publish(this.keys.changes, definition.name);
    await tx.exec();
  }

  async remove(name: string): Promise<boolean> {
    const key = this.keys.entry(name);
    const res = await this.client.multi().zrem(this.keys.schedule, key).del(key).publish(this.keys.changes, name).exec();
    return Number(res?.[1]?.[1] ?? 0) > 0;
  }

  /** Calls `onChange` when an entry is saved or removed at run time (by any process); resolves with the unsubscribe. */
  async watch(onChange: (name: string) => void): Promise<() => Promise<void>> {
    const sub = this.client.duplicate();
    sub.on('error', () => {}); // reconnects on its own; a missed wake only delays a change to the next tick
    sub.on('message', (_channel: string, name: string) => onChange(name));
    await sub.subscribe(this.keys.changes);
    return async () => {
      sub.disconnect();
    };
  }

  async setEnabled(name: string, enabled: boolean): Promise<boolean> {
    const entry = await this.get(name);
    if (!entry) return false;
    await this.save({ ...entry, enabled });
    return true;
  }

  async close(): Promise<void> {
    if (this.opts.closeClient) await this.client.quit();
  }

  // -------------------------------------------------------------------------------------------

  /** HSET definition, HSETNX meta (a new entry's first run is one interval from now), ZADD its score. */
  private writeDefinition(tx: ChainableCommander, def: EntryDefinition, text: string, stored: StoredMeta, now: number): void {
    const key = this.keys.entry(def.name);
    const meta: EntryMeta = stored.meta ?? initialRunState(def, now);
    tx.hset(key, 'definition', text);
    tx.hsetnx(key, 'meta', encodeMeta(meta, this.zone));
    tx.zadd(this.keys.schedule, redbeatScore(this.nextDue({ ...def, ...meta }, now)), key);
  }

  /**
   * The entry's next due instant. `dueAt` is RedBeat's `due_at`: last run + the schedule's remaining
   * estimate, which counts from `now`; asked as of the last run, it is the exact next run whenever it is
   * asked (asked as of a later `now` it would come early by the difference). Never run: due `now`.
   */
  private nextDue(entry: Entry, now: number): number | null {
    return this.opts.dueAt(entry, entry.lastRunAt === null ? now : Math.min(entry.lastRunAt, now));
  }

  /** The stored meta text of each entry, and its value (null when absent or unreadable). */
  private async readMetas(names: readonly string[]): Promise<StoredMeta[]> {
    if (names.length === 0) return [];
    const pipe = this.client.pipeline();
    for (const name of names) pipe.hget(this.keys.entry(name), 'meta');
    const res = (await pipe.exec())!;
    return res.map(([err, raw], i) => {
      if (err) throw err;
      const text = (raw as string | null) ?? null;
      try {
        return { raw: text, meta: text === null ? null : decodeMeta(text) };
      } catch (err) {
        this.opts.logger?.error(`beat: entry ${names[i]}: its meta cannot be read (${(err as Error).message})`);
        return { raw: text, meta: null };
      }
    });
  }

  /**
   * Loads entries by key in one pipeline. A key whose hash is gone is dropped from the schedule
   * (`prune`, as RedBeat does); one that cannot be read is skipped and logged once.
   */
  private async load(keys: readonly string[], prune = true): Promise<(Entry | null)[]> {
    if (keys.length === 0) return [];
    const pipe = this.client.pipeline();
    for (const key of keys) pipe.hmget(key, 'definition', 'meta');
    const res = (await pipe.exec())!;
    const gone: string[] = [];
    const out = res.map(([err, v], i): Entry | null => {
      if (err) throw err;
      const key = keys[i]!;
      const [definition, meta] = v as [string | null, string | null];
      if (!definition) {
        gone.push(key);
        return null;
      }
      try {
        const def = decodeDefinition(definition, this.opts.fromJSON, key.startsWith(this.prefix) ? key.slice(this.prefix.length) : key);
        this.unreadable.delete(key);
        return { ...def, ...decodeMeta(meta) };
      } catch (err) {
        const text = `${definition}\n${meta}`;
        if (this.unreadable.get(key) !== text) {
          this.unreadable.set(key, text);
          this.opts.logger?.error(`beat: entry ${key} cannot be read (${(err as Error).message}); skipped`);
        }
        return null;
      }
    });
    if (prune && gone.length > 0) {
      for (const key of gone) {
        this.opts.logger?.error(`beat: Failed to load ${key}, removing; its hash is gone, which usually means Redis evicted or expired it`);
      }
      await this.client.zrem(this.keys.schedule, ...gone);
    }
    return out;
  }
}

interface StoredMeta {
  raw: string | null;
  meta: EntryMeta | null;
}
