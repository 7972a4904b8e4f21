/**
 * Native chords on the Redis result backend: Celery's `RedisBackend.set_chord_size` and
 * `on_chord_part_return` (`celery/backends/redis.py`), key for key and command for command, so a chord
 * whose header tasks run on Python and TypeScript workers fires its body exactly once:
 *
 * - `set_chord_size`: `SETEX celery-taskset-meta-<gid>.s <expires> <n>` + `PUBLISH` (Celery's `set`);
 * - each finished header task: one pipeline `ZADD <gid>.j <group_index|+inf> [1, id, state, result]`
 *   (`RPUSH` when `result_chord_ordered` is off), `ZCOUNT -inf +inf` (`LLEN`), `GET .t`, `GET .s`,
 *   `EXPIRE` ×3; the task whose count reaches `.s + .t` restores a saved complex header (joined) or
 *   reads the `.j` members in score order, calls the body with them, then deletes `.j/.t/.s`;
 * - a failed member makes the body fail with `ChordError('Dependency <id> raised <repr>')` and
 *   calls the body's errbacks (Celery's `chord_error_from_stack`, done by the {@link ChordHost}).
 */
import type { Redis } from 'ioredis';
import type { ChordHost, ChordPartRequest, NativeChords } from '../backend.ts';
import { ChordError } from '../../protocol/exceptions.ts';
import {
  chordJoinKey, chordSizeKey, chordTotalKey, encodeResult, parseChordJoinMember, type ResultTuple,
} from '../../protocol/result.ts';
import { PROPAGATE_STATES } from '../../protocol/states.ts';
import { dumps, getSerializer, loads } from '../../protocol/serialization/index.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import type { PyValue } from '../../protocol/values.ts';
import { excRepr } from '../worker/retry.ts';

export interface RedisChordOptions {
  client: Redis;
  /** Normalized `global_keyprefix` ('' when none). */
  keyprefix: string;
  /** Seconds, or null (no EXPIRE). */
  expires: number | null;
  serializer: string;
  accept: readonly string[];
  /** `result_backend_transport_options.result_chord_ordered` (default true: a ZSET scored by group_index). */
  ordered?: boolean;
  /** Errors Celery only logs (`logger.exception('Chord %r raised: %r')`). */
  log?: (message: string) => void;
}

export class RedisChord implements NativeChords {
  private readonly o: RedisChordOptions;
  private readonly contentType: string;
  private readonly contentEncoding: string;

  constructor(o: RedisChordOptions) {
    this.o = o;
    const s = getSerializer(o.serializer);
    this.contentType = s.contentType;
    this.contentEncoding = s.contentEncoding;
  }

  private encode(value: PyValue): Buffer {
    const { body } = dumps(value, this.o.serializer);
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  }

  /** `set_chord_size(group_id, chord_size)`: Celery's `set` (SETEX/SET + PUBLISH in one MULTI). */
  async setChordSize(groupId: string, size: number): Promise<void> {
    const key = chordSizeKey(groupId, this.o.keyprefix);
    const multi = this.o.client.multi();
    if (this.o.expires) multi.setex(key, this.o.expires, String(size));
    else multi.set(key, String(size));
    multi.publish(key, String(size));
    await multi.exec();
  }

  /** `add_to_chord(group_id, result)`: one more task reports to the chord (`INCR .t`). */
  async addToChord(groupId: string): Promise<void> {
    await this.o.client.incr(chordTotalKey(groupId, this.o.keyprefix));
  }

  /** `on_chord_part_return(request, state, result)`. */
  async onChordPartReturn(request: ChordPartRequest, state: string, result: unknown, host: ChordHost): Promise<void> {
    const tid = request.id;
    const gid = request.group;
    if (!gid || !tid) return;
    const score = request.group_index ?? '+inf';
    const { client, keyprefix, expires } = this.o;
    const ordered = this.o.ordered ?? true;
    const jkey = chordJoinKey(gid, keyprefix);
    const tkey = chordTotalKey(gid, keyprefix);
    const skey = chordSizeKey(gid, keyprefix);
    const encoded = this.encode([1, tid, state, encodeResult(result, state)]);
    const pipe = client.pipeline();
    if (ordered) pipe.zadd(jkey, String(score), encoded).zcount(jkey, '-inf', '+inf');
    else pipe.rpush(jkey, encoded).llen(jkey);
    pipe.get(tkey).get(skey);
    if (expires) pipe.expire(jkey, expires).expire(tkey, expires).expire(skey, expires);
    const replies = (await pipe.exec()) ?? [];
    for (const [err] of replies.slice(0, 4)) if (err) throw err;
    const readycount = Number(replies[1]![1]);
    const totaldiff = Number(replies[2]![1] ?? 0) || 0;
    const sizeBytes = replies[3]![1] as string | null;
    if (!sizeBytes) return;
    const callback = request.chord as SignatureDict;
    try {
      const total = Number.parseInt(sizeBytes, 10) + totaldiff;
      if (readycount !== total) return;
      let resl = await host.joinSavedGroup(gid);
      if (resl === null) {
        const raw = ordered ? await client.zrangeBuffer(jkey, "0", "-1") : await client.lrangeBuffer(jkey, 0, total);
        resl = raw.map((b) => this.unpack(b));
      }
      try {
        await host.delay(callback, [resl as PyValue]);
      } catch (exc) {
        this.o.log?.(`Chord callback for '${gid}' raised: ${excRepr(exc)}`);
        await host.chordErrorFromStack(callback, new ChordError([`Callback error: ${excRepr(exc)}`]));
      } finally {
        await client.pipeline().del(jkey).del(tkey).del(skey).exec();
      }
    } catch (exc) {
      if (!(exc instanceof ChordError)) throw exc;
      this.o.log?.(`Chord '${gid}' raised: ${excRepr(exc)}`);
      await host.chordErrorFromStack(callback, exc);
    }
  }

  /** `_unpack_chord_result`: the value, or ChordError for a failed/revoked member. */
  private unpack(raw: Uint8Array): PyValue {
    const part = parseChordJoinMember(loads(raw, this.contentType, this.contentEncoding, this.o.accept));
    if (PROPAGATE_STATES.has(part.state)) {
      throw new ChordError([`Dependency ${part.taskId} raised ${excRepr(part.result)}`], { cause: part.result });
    }
    return part.result as PyValue;
  }
}

/** `GroupResult` tuples of a saved header, for callers joining it. */
export type SavedHeader = ResultTuple;
