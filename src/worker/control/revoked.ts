/**
 * The worker's revoked ids as `celery/worker/state.py` keeps them: `revoked = LimitedSet(maxlen=
 * REVOKES_MAX, expires=REVOKE_EXPIRES)` (`CELERY_WORKER_REVOKES_MAX` 50000,
 * `CELERY_WORKER_REVOKE_EXPIRES` 10800 s), each id with the monotonic time it was added
 * (`celery.utils.collections.LimitedSet`). Mingle exchanges `_data` (`{id: [time, id]}`) between workers;
 * Python's `time.monotonic()` and Node's `process.hrtime` read the same clock on Linux.
 */

/** Seconds of the monotonic clock Python's `time.monotonic()` reads. */
export function monotonic(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** A float that stays a float in JSON (`LimitedSet.update` refuses an int timestamp). */
function asFloat(t: number): number {
  return Number.isInteger(t) ? t + 1e-6 : t;
}

export class LimitedSet {
  readonly maxlen: number;
  readonly expires: number;
  /** id → insertion time, in insertion order (a Map keeps it: re-adding moves an id to the end). */
  private readonly data = new Map<string, number>();

  constructor(options: { maxlen?: number; expires?: number } = {}) {
    this.maxlen = options.maxlen ?? Number(process.env.CELERY_WORKER_REVOKES_MAX ?? 50000);
    this.expires = options.expires ?? Number(process.env.CELERY_WORKER_REVOKE_EXPIRES ?? 10800);
  }

  get size(): number {
    return this.data.size;
  }

  has(id: string): boolean {
    return this.data.has(id);
  }

  /** Add, or reset the time of, an id; then purge when full (`LimitedSet.add`). */
  add(id: string, now: number = monotonic()): void {
    this.data.delete(id);
    this.data.set(id, now);
    if (this.maxlen && this.data.size >= this.maxlen) this.purge();
  }

  discard(id: string): void {
    this.data.delete(id);
  }

  /**
   * `LimitedSet.update`: a dict `{id: time | [time, id]}` (what mingle sends) keeps the times; a list
   * adds its ids now. A non-number time is refused as Python does.
   */
  update(other: Record<string, unknown> | Iterable<string> | null | undefined): void {
    if (!other) return;
    if (typeof (other as Iterable<string>)[Symbol.iterator] === 'function') {
      for (const id of other as Iterable<string>) this.add(id);
      return;
    }
    for (const [id, v] of Object.entries(other)) {
      const t = Array.isArray(v) ? v[0] : v;
      if (typeof t !== 'number') throw new Error(`Expecting float timestamp, got ${typeof t} with value: ${String(t)}`);
      this.add(id, t);
    }
    // entries are kept oldest first, as the heap orders them
    const sorted = [...this.data.entries()].sort((a, b) => a[1] - b[1]);
    this.data.clear();
    for (const [k, t] of sorted) this.data.set(k, t);
  }

  /** Drop the oldest beyond `maxlen`, and ids older than `expires` seconds (`LimitedSet.purge`). */
  purge(now: number = monotonic()): void {
    if (this.maxlen) {
      while (this.data.size > this.maxlen) this.data.delete(this.data.keys().next().value!);
    }
    if (this.expires) {
      for (const [id, t] of this.data) {
        if (t + this.expires > now) break;
        this.data.delete(id);
      }
    }
  }

  /** `LimitedSet._data` as JSON: `{id: [time, id]}` (what `hello` replies with). */
  toData(): Record<string, [number, string]> {
    const out: Record<string, [number, string]> = {};
    for (const [id, t] of this.data) out[id] = [asFloat(t), id];
    return out;
  }

  /** Ids, oldest first (`list(revoked)`). */
  [Symbol.iterator](): IterableIterator<string> {
    return this.data.keys();
  }
}
