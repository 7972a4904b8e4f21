/**
 * Task rate limits as Celery's worker applies them (`celery/worker/consumer/consumer.py`:
 * `bucket_for_task`, `_limit_task`, `_schedule_bucket_request`; `kombu/utils/limits.py:TokenBucket`;
 * `celery/utils/time.py:rate`):
 *
 * - one token bucket per task name, capacity 1, filled at the task's `rate_limit` (tasks per second);
 * - a task whose bucket has no token waits in that bucket (FIFO) and is moved to the pool when a token
 *   is there, on a timer of `expected_time`; other tasks are not held up;
 * - `worker_disable_rate_limits` turns it off; the `rate_limit` control command changes a task's limit
 *   at runtime (`reset_rate_limits` builds new buckets; requests already waiting drain from their bucket).
 */

import { pyStrRepr } from '../../protocol/repr.ts';

const MODIFIERS: Record<string, (n: number) => number> = { s: (n) => n, m: (n) => n / 60, h: (n) => n / 3600 };

/** An error named as Python names it (`ValueError`, `KeyError`): the pidbox replies with its repr. */
class PyError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** Python's `float(text)`: surrounding whitespace, `_` between digits, `inf`/`nan` accepted. */
function pyFloat(text: string): number {
  const t = text.trim();
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (/^[+-]?nan$/i.test(t)) return NaN;
  if (!/^[+-]?(\d(_?\d)*)?(\.(\d(_?\d)*)?)?([eE][+-]?\d(_?\d)*)?$/.test(t) || !/\d/.test(t.split(/[eE]/)[0]!)) {
    throw new PyError('ValueError', `could not convert string to float: ${pyStrRepr(text)}`);
  }
  return Number(t.replaceAll('_', ''));
}

/**
 * `celery.utils.time.rate`: `'10/s'` → 10, `'100/m'` → 1.67, `'1000/h'`, a number (per second); falsy → 0.
 * A bad unit throws `KeyError(unit)`, a bad number `ValueError("could not convert string to float: ...")`,
 * as Python's `RATE_MODIFIER_MAP[modifier](float(ops))` does.
 */
export function rate(r: string | number | null | undefined): number {
  if (!r) return 0;
  if (typeof r === 'number') return r;
  const slash = r.indexOf('/');
  const ops = slash < 0 ? r : r.slice(0, slash);
  const modifier = slash < 0 ? 's' : r.slice(slash + 1) || 's';
  const f = Object.hasOwn(MODIFIERS, modifier) ? MODIFIERS[modifier] : undefined;
  if (!f) throw new PyError('KeyError', modifier);
  return f(pyFloat(ops)) || 0;
}

const monotonic = (): number => performance.now() / 1000;

/** kombu's `TokenBucket(fill_rate, capacity=1)` with its waiting `contents`. */
export class TokenBucket<T> {
  readonly capacity: number;
  readonly fillRate: number;
  readonly contents: T[] = [];
  private tokens: number;
  private timestamp = monotonic();

  constructor(fillRate: number, capacity = 1) {
    this.fillRate = fillRate;
    this.capacity = capacity;
    this.tokens = capacity;
  }

  canConsume(tokens = 1): boolean {
    if (tokens <= this.getTokens()) {
      this.tokens -= tokens;
      return true;
    }
    return false;
  }

  /** Seconds until `tokens` are available. */
  expectedTime(tokens = 1): number {
    const have = this.getTokens();
    return (Math.max(tokens, have) - have) / this.fillRate;
  }

  private getTokens(): number {
    if (this.tokens < this.capacity) {
      const now = monotonic();
      this.tokens = Math.min(this.capacity, this.tokens + this.fillRate * (now - this.timestamp));
      this.timestamp = now;
    }
    return this.tokens;
  }
}

/**
 * The worker's task buckets. `submit` runs `move` now when the task has no limit or a token is there,
 * else when its turn comes. Waiting requests are listed by {@link waiting} (they count as reserved).
 */
export class RateLimiter<T> {
  private readonly buckets = new Map<string, TokenBucket<T> | null>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly draining = new Set<TokenBucket<T>>();
  private stopped = false;

  constructor(
    /** The task's current rate limit (task option, or what the `rate_limit` command set). */
    private readonly limitOf: (taskName: string) => string | number | null | undefined,
    private readonly move: (item: T) => void,
    private readonly disabled = false,
  ) {}

  /** `Consumer.bucket_for_task`, cached per task name until {@link reset}. */
  bucketFor(taskName: string): TokenBucket<T> | null {
    let b = this.buckets.get(taskName);
    if (b === undefined) {
      let limit = 0;
      try {
        limit = rate(this.limitOf(taskName));
      } catch {
        limit = 0;
      }
      b = limit > 0 ? new TokenBucket<T>(limit, 1) : null;
      this.buckets.set(taskName, b);
    }
    return b;
  }

  /** `strategy.default` → `limit_task(req, bucket, 1)` when the task has a bucket, else straight to the pool. */
  submit(taskName: string, item: T): void {
    const bucket = this.disabled ? null : this.bucketFor(taskName);
    if (!bucket) return this.move(item);
    bucket.contents.push(item);
    this.schedule(bucket);
  }

  /** `_schedule_bucket_request`. */
  private schedule(bucket: TokenBucket<T>): void {
    if (this.stopped) return;
    while (bucket.contents.length > 0) {
      if (bucket.canConsume(1)) {
        this.move(bucket.contents.shift()!);
        continue;
      }
      const hold = bucket.expectedTime(1);
      this.draining.add(bucket);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.draining.delete(bucket);
        this.schedule(bucket);
      }, Math.max(1, Math.ceil(hold * 1000)));
      this.timers.add(timer);
      return;
    }
  }

  /** `reset_rate_limits`: new buckets from the current limits (waiting requests keep draining). */
  reset(): void {
    for (const b of this.buckets.values()) if (b && b.contents.length) this.draining.add(b);
    this.buckets.clear();
  }

  /** Requests waiting for a token, in order. */
  waiting(): T[] {
    const out: T[] = [];
    const seen = new Set<TokenBucket<T>>();
    for (const b of [...this.buckets.values(), ...this.draining]) {
      if (!b || seen.has(b)) continue;
      seen.add(b);
      out.push(...b.contents);
    }
    return out;
  }

  /** Stops the timers and hands back what was waiting (the worker gives those messages back). */
  stop(): T[] {
    const items = this.waiting();
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const b of this.buckets.values()) if (b) b.contents.length = 0;
    for (const b of this.draining) b.contents.length = 0;
    this.draining.clear();
    return items;
  }
}
