/**
 * The beat's leader lease on RedBeat's lock key (`redbeat::lock` with the default prefix), with the
 * semantics of redis-py's `Lock` as RedBeat uses it, so a Python RedBeat and a celeriac beat exclude
 * each other on one Redis:
 *
 * - acquire: `SET key token NX PX timeout` (one attempt; RedBeat blocks, retrying every max interval);
 * - renew: a script that sets `PEXPIRE key timeout` only while the key still holds our token (RedBeat's
 *   `LUA_EXTEND_TO_SCRIPT`: extend *to* the timeout, not by it);
 * - release: `DEL` only while the key holds our token.
 *
 * {@link LeaderLock.heldUntil} is a local estimate of when the lease ends, on the lock's own clock
 * (monotonic by default): the time the SET or renew was *sent* plus the timeout, less a margin for clock
 * drift. Redis starts the expiry when it runs the command, which is later, so the estimate never
 * outlasts the lease on the server; a beat that could not renew stops sending once it passes. The beat
 * renews at a third of the lease.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';

/** Acquire (or re-acquire a lease we still hold), as one script: SET NX PX, else PEXPIRE if ours. */
const ACQUIRE = `
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
return 0`;

/** RedBeat's extend-to script: PEXPIRE only while the key holds our token and has an expiry. */
const RENEW = `
local token = redis.call('get', KEYS[1])
if not token or token ~= ARGV[1] then return 0 end
if redis.call('pttl', KEYS[1]) < 0 then return 0 end
redis.call('pexpire', KEYS[1], ARGV[2])
return 1`;

/** redis-py's release script. */
const RELEASE = `
local token = redis.call('get', KEYS[1])
if not token or token ~= ARGV[1] then return 0 end
redis.call('del', KEYS[1])
return 1`;

export interface LeaderLockOptions {
  /** The lock key (RedBeat's `redbeat_lock_key`, default `<key_prefix>:lock`). */
  key: string;
  /** The lease, ms (RedBeat's `redbeat_lock_timeout` x 1000). */
  timeoutMs: number;
  /** The clock {@link LeaderLock.heldUntil} is on, ms. @default performance.now (monotonic) */
  clock?: () => number;
  /** The token written to the key. @default a random 32-hex-digit string, like redis-py's uuid1().hex */
  token?: string;
}

export class LeaderLock {
  readonly key: string;
  readonly timeoutMs: number;
  private readonly client: Redis;
  private readonly clock: () => number;
  private readonly ownToken: string;
  private until = 0;
  private held = false;

  constructor(client: Redis, options: LeaderLockOptions) {
    if (!(options.timeoutMs > 0)) throw new RangeError(`lock timeout must be positive, got ${options.timeoutMs}`);
    this.client = client;
    this.key = options.key;
    this.timeoutMs = Math.round(options.timeoutMs);
    this.clock = options.clock ?? (() => performance.now());
    this.ownToken = options.token ?? randomUUID().replace(/-/g, '');
  }

  /** The token this beat writes to the key (what fencing checks). */
  get token(): string {
    return this.ownToken;
  }

  /**
   * Until when (on the lock's clock) the lease is surely ours: 0 when not held. Past it, stop sending:
   * the lease may have lapsed on Redis and another beat may lead.
   */
  get heldUntil(): number {
    return this.held ? this.until : 0;
  }

  /** True while the lease is surely ours ({@link heldUntil} not passed). */
  isHeld(): boolean {
    return this.held && this.clock() < this.until;
  }

  /** Forgets the lease (the store found the key holding another token): {@link heldUntil} drops to 0. */
  lost(): void {
    this.held = false;
    this.until = 0;
  }

  /** One attempt to take the lease (or to extend it when we hold it already). */
  async acquire(): Promise<boolean> {
    return this.run(ACQUIRE);
  }

  /** Extends the lease to the full timeout if it is still ours; false (and not held) when another took it. */
  async renew(): Promise<boolean> {
    return this.run(RENEW);
  }

  /** Gives the lease up, if the key still holds our token. */
  async release(): Promise<void> {
    this.held = false;
    this.until = 0;
    await this.client.eval(RELEASE, 1, this.key, this.ownToken);
  }

  /** Runs acquire/renew; validity counts from when the command was sent. An error leaves the estimate as it was. */
  private async run(script: string): Promise<boolean> {
    const sentAt = this.clock();
    const ok = Number(await this.client.eval(script, 1, this.key, this.ownToken, String(this.timeoutMs))) === 1;
    if (ok) {
      this.held = true;
      this.until = sentAt + this.timeoutMs - drift(this.timeoutMs);
    } else {
      this.held = false;
      this.until = 0;
    }
    return ok;
  }
}

/** Redlock's allowance for clocks running at different rates: 1% of the lease plus 2 ms. */
function drift(timeoutMs: number): number {
  return Math.floor(timeoutMs * 0.01) + 2;
}
