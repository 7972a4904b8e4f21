/**
 * `--autoscale MAX,MIN`: Celery's `Autoscaler` (`celery/worker/autoscale.py`). Every second (and on each
 * task received) the pool is sized to the requests the worker holds (`qty`: received and not finished,
 * Celery's `state.reserved_requests`), between MIN and MAX: up at once, down only once `keepalive`
 * seconds (30, or `AUTOSCALE_KEEPALIVE`) have passed since the last scale up. The pool starts at MIN.
 * `control autoscale max min` changes the bounds (`update`): below the current size shrinks now, a
 * higher min grows now.
 */
import type { WorkerLogger } from '../log.ts';

/** What the autoscaler drives. */
export interface Scalable {
  readonly concurrency: number;
  /** `pool.grow(n)` (n > 0) / `pool.shrink(-n)`. */
  resizePool(delta: number): void;
  /** Requests received and not finished. */
  reservedCount(): number;
  readonly logger: WorkerLogger;
}

export class Autoscaler {
  private lastScaleUp: number | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly w: Scalable,
    public max: number,
    public min: number,
    readonly keepalive = Number(process.env.AUTOSCALE_KEEPALIVE ?? 30),
    private readonly now: () => number = () => performance.now() / 1000,
  ) {}

  start(intervalMs = 1000): void {
    this.timer = setInterval(() => this.maybeScale(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** `_maybe_scale`: true when it resized. */
  maybeScale(): boolean {
    const procs = this.w.concurrency;
    const qty = this.w.reservedCount();
    let cur = Math.min(qty, this.max);
    if (cur > procs) {
      this.lastScaleUp = this.now();
      this.grow(cur - procs);
      return true;
    }
    cur = Math.max(qty, this.min);
    if (cur < procs && this.lastScaleUp !== null && this.now() - this.lastScaleUp > this.keepalive) {
      this.shrink(procs - cur);
      return true;
    }
    return false;
  }

  /** `control autoscale max min`: the bounds now in force. */
  update(max: number | null, min: number | null): [number, number] {
    if (max !== null) {
      if (max < this.w.concurrency) this.shrink(this.w.concurrency - max);
      this.max = max;
    }
    if (min !== null) {
      if (min > this.w.concurrency) this.grow(min - this.w.concurrency);
      this.min = min;
    }
    return [this.max, this.min];
  }

  info(): { max: number; min: number; current: number; qty: number } {
    return { max: this.max, min: this.min, current: this.w.concurrency, qty: this.w.reservedCount() };
  }

  private grow(n: number): void {
    this.w.logger.info(`Scaling up ${n} processes.`);
    this.w.resizePool(n);
  }

  private shrink(n: number): void {
    this.w.logger.info(`Scaling down ${n} processes.`);
    this.w.resizePool(-n);
  }
}
