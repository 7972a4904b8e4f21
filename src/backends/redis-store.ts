/**
 * Result stores of one tick in one command.
 *
 * A worker finishing many tasks at once (a fetched batch of no-op tasks, a chord header) stores each
 * result with the STORE_RESULT script: one EVALSHA per task, each a command for ioredis to build and
 * for Redis to dispatch. {@link StoreBatcher} gathers the first attempts of the stores issued in the
 * same tick and sends them as ONE call of {@link STORE_RESULTS}, which runs STORE_RESULT's steps for
 * each record in order (GET, keep a stored SUCCESS, else SETEX/SET and PUBLISH) and answers per record.
 * A lone store still goes out as STORE_RESULT. What each store does, and what it answers, is unchanged.
 */
import type { Redis } from 'ioredis';

/** The status check and write of one record: `key`, `value`, `seen` are Lua expressions. */
const storeOne = (key: string, value: string, seen: string) => `
  local cur = redis.call('GET', ${key})
  local res
  if cur and #cur > 0 and cur ~= ${seen} then
    local st
    if fmt == 'json' then
      local ok, doc = pcall(cjson.decode, cur)
      if ok and type(doc) == 'table' then st = doc['status'] end
    elseif fmt == 'msgpack' then
      local ok, doc = pcall(cmsgpack.unpack, cur)
      if ok and type(doc) == 'table' then st = doc['status'] end
    end
    if type(st) ~= 'string' then res = cur elseif st == 'SUCCESS' then res = 0 end
  end
  if res == nil then
    if ttl > 0 then
      redis.call('SETEX', ${key}, ttl, ${value})
    else
      redis.call('SET', ${key}, ${value})
    end
    redis.call('PUBLISH', ${key}, ${value})
    res = 1
  end`;

/**
 * `_store_result` + `_set` in one atomic step.
 * KEYS[1] the record key (also the channel). ARGV[1] the encoded record; ARGV[2] expiry in seconds
 * (0: SET, no expiry); ARGV[3] 'json' / 'msgpack': read the stored record's status here, '': never;
 * ARGV[4] the stored record the caller read and found not SUCCESS ('' if none).
 * Returns 1 stored (SETEX/SET then PUBLISH, as Celery's MULTI does), 0 a stored SUCCESS was kept, or the
 * stored record when its status could not be read here (nothing written: the caller decides).
 */
export const STORE_RESULT = `
local ttl = tonumber(ARGV[2])
local fmt = ARGV[3]
${storeOne('KEYS[1]', 'ARGV[1]', 'ARGV[4]')}
return res
`;

/**
 * STORE_RESULT for several records, in order, none of them read before ('' as ARGV[4]).
 * KEYS[i] the record keys; ARGV[1] expiry, ARGV[2] format (as STORE_RESULT); ARGV[2+i] the record for
 * KEYS[i]. Returns STORE_RESULT's answer for each, in order.
 */
export const STORE_RESULTS = `
local ttl = tonumber(ARGV[1])
local fmt = ARGV[2]
local out = {}
for i = 1, #KEYS do
${storeOne('KEYS[i]', 'ARGV[2 + i]', "''")}
  out[i] = res
end
return out
`;

export type StoreReply = Buffer | number | null;

interface ScriptClient {
  celeriacStoreResultBuffer(key: string, value: Buffer, expires: number, format: string, seen: Buffer | string): Promise<StoreReply>;
  celeriacStoreResultsBuffer(numKeys: number, ...args: Array<string | Buffer | number>): Promise<StoreReply[]>;
}

interface Pending {
  key: string;
  value: Buffer;
  resolve: (r: StoreReply) => void;
  reject: (err: unknown) => void;
}

/** Most records in one STORE_RESULTS call (its arguments and its reply stay bounded). */
const MAX_BATCH = 256;

export class StoreBatcher {
  private readonly client: Redis & ScriptClient;
  private pending: Pending[] = [];

  constructor(client: Redis, private readonly expires: number, private readonly format: string) {
    client.defineCommand('celeriacStoreResult', { numberOfKeys: 1, lua: STORE_RESULT });
    client.defineCommand('celeriacStoreResults', { lua: STORE_RESULTS });
    this.client = client as Redis & ScriptClient;
  }

  /** STORE_RESULT with `seen`: sent at once (a compare-and-set retry). */
  storeSeen(key: string, value: Buffer, seen: Buffer | string): Promise<StoreReply> {
    return this.client.celeriacStoreResultBuffer(key, value, this.expires, this.format, seen);
  }

  /** STORE_RESULT's first attempt, gathered with the others of this tick (see the module notes). */
  store(key: string, value: Buffer): Promise<StoreReply> {
    return new Promise<StoreReply>((resolve, reject) => {
      this.pending.push({ key, value, resolve, reject });
      if (this.pending.length === 1) process.nextTick(() => this.flush());
      else if (this.pending.length >= MAX_BATCH) this.flush();
    });
  }

  private flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    if (batch.length === 1) {
      const p = batch[0]!;
      this.storeSeen(p.key, p.value, '').then(p.resolve, p.reject);
      return;
    }
    const args: Array<string | Buffer | number> = batch.map((p) => p.key);
    args.push(this.expires, this.format);
    for (const p of batch) args.push(p.value);
    this.client.celeriacStoreResultsBuffer(batch.length, ...args).then(
      (replies) => {
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(replies[i] ?? null);
      },
      (err: unknown) => {
        for (const p of batch) p.reject(err);
      },
    );
  }
}
