// The chaos suite, bounded for CI (issue 15): on a private Redis (AOF, appendfsync always) and a private
// RabbitMQ node, celeriac workers as child processes through kill -9 under load (with and without
// acks_late), SIGSTOP past the visibility/heartbeat timeout, a broker restart during publish and consume,
// a storm of hostile messages among valid ones, and a 20,000-message drain; Python Celery through the
// cheap ones as the baseline. Each scenario prints a `celeriac-count: chaos ...` line (figures); the
// assertions are invariants only (test/chaos/invariants.ts), never a time. `npm run chaos` is the long
// version (test/chaos/run.ts: 60,000-task kills, a 100,000-message drain, Python beside every fault).
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { requirePython } from '../helpers/peers.ts';
import { cleanupDirs, REDIS_SERVER, requireBinaries, stopAll } from '../helpers/private-redis.ts';
import { rabbitAvailable, requireRabbit } from '../helpers/private-rabbit.ts';
import { aofRedis, rabbitBroker, type BrokerKind, type ChaosBroker } from './brokers.ts';
import { countLine, type Row } from './counts.ts';
import { violations } from './invariants.ts';
import { drain, killWorker, restartBroker, stopWorker, type ChaosContext } from './scenarios.ts';
import { storm } from './storm.ts';
import { killAllWorkers, type Impl } from './workers.ts';

const COUNTER_URL = process.env.CHAOS_COUNTER_URL ?? 'redis://127.0.0.1:6379/0';
const TIMEOUT = { timeout: 240_000 };
const C = 8;
/** The longest a scenario waits to settle (a bound, not an assertion: a scenario that never settles fails its invariants). */
const MAX_MS = 90_000;

const brokers: Partial<Record<BrokerKind, ChaosBroker>> = {};
let counter: Redis | null = null;
let skip: string | null = null;

before(async () => {
  if (!rabbitAvailable() || spawnSync(REDIS_SERVER, ['--version']).status !== 0) {
    skip = 'redis-server or rabbitmq-server not installed';
    return;
  }
  counter = new Redis(COUNTER_URL);
  const [redis, rabbit] = await Promise.all([aofRedis(), rabbitBroker()]);
  brokers.redis = redis;
  brokers.amqp = rabbit;
});

after(async () => {
  killAllWorkers();
  await Promise.allSettled(Object.values(brokers).map((b) => b.close()));
  counter?.disconnect();
  await stopAll();
  cleanupDirs();
});

/** The context for a broker, or null when the peers are missing (skipped outside CI, a failure in CI). */
function ctxFor(t: TestContext, kind: BrokerKind, impl: Impl = 'ts'): ChaosContext | null {
  if (!requireBinaries(t) || !requireRabbit(t) || (impl === 'py' && !requirePython(t))) return null;
  if (skip) {
    t.skip(skip);
    return null;
  }
  return { broker: brokers[kind]!, counter: counter!, counterUrl: COUNTER_URL, note: (l) => t.diagnostic(l) };
}

/** Prints the counts line and checks the invariants (lost within `bound`, nothing left, settled). */
function report(t: TestContext, row: Row, bound?: number): void {
  t.diagnostic(countLine(row));
  assert.deepEqual(violations(row, bound), [], countLine(row));
}

for (const kind of ['redis', 'amqp'] as const) {
  describe(`[${kind}] chaos`, () => {
    test(`kill -9 of a worker under load with acks_late: none lost (600 tasks of 100 ms)`, TIMEOUT, async (t) => {
      const ctx = ctxFor(t, kind);
      if (!ctx) return;
      report(t, await killWorker(ctx, { impl: 'ts', acksLate: true, n: 600, ms: 100, concurrency: C, prefetchMultiplier: 4, visibility: 5, maxMs: MAX_MS }), 0);
    });

    test(`kill -9 of a worker under load with early ack: at most concurrency (${C}) lost, the tasks it was running`, TIMEOUT, async (t) => {
      const ctx = ctxFor(t, kind);
      if (!ctx) return;
      report(t, await killWorker(ctx, { impl: 'ts', acksLate: false, n: 600, ms: 100, concurrency: C, prefetchMultiplier: 4, visibility: 5, maxMs: MAX_MS }), C);
    });

    test(`SIGSTOP of one of two acks_late workers past the ${kind === 'redis' ? 'visibility' : 'heartbeat'} timeout, then SIGCONT: none lost`, TIMEOUT, async (t) => {
      const ctx = ctxFor(t, kind);
      if (!ctx) return;
      const timeout = kind === 'redis' ? 4 : 2;
      report(t, await stopWorker(ctx, { impl: 'ts', n: 2000, ms: 1, concurrency: 4, prefetchMultiplier: 4, timeout, stoppedMs: kind === 'redis' ? 8000 : 12_000, maxMs: MAX_MS }), 0);
    });

    test(`${kind === 'redis' ? 'Redis (AOF) killed' : 'RabbitMQ restarted'} during publish and consume (acks_late): none lost`, TIMEOUT, async (t) => {
      const ctx = ctxFor(t, kind);
      if (!ctx) return;
      report(t, await restartBroker(ctx, { impl: 'ts', n: 1000, ms: 1, concurrency: C, prefetchMultiplier: 4, downMs: 1000, maxMs: MAX_MS }), 0);
    });

    test('hostile storm: every valid task runs once, every hostile message is quarantined with a reason or failed as a task, none left', TIMEOUT, async (t) => {
      const ctx = ctxFor(t, kind);
      if (!ctx) return;
      const row = await storm(ctx, { impl: 'ts', valid: 1000, hostile: 400, bombs: 3, maxMs: MAX_MS });
      report(t, row, 0);
      assert.equal(row.ranOnce, row.sent, 'every valid task ran exactly once');
      assert.equal(row.extra.unaccounted, 0);
      assert.equal(row.extra.worker_alive, 'yes');
    });
  });
}

describe('[redis] drain', () => {
  test('a celeriac worker drains 20,000 messages: each runs once, peak RSS reported', TIMEOUT, async (t) => {
    const ctx = ctxFor(t, 'redis');
    if (!ctx) return;
    const row = await drain(ctx, { impl: 'ts', n: 20_000, concurrency: C, prefetchMultiplier: 4, maxMs: 180_000 });
    report(t, row, 0);
    assert.equal(row.ranOnce, 20_000);
  });
});

describe('[amqp] Python Celery baseline', () => {
  test(`kill -9 of a Python worker under load with early ack: at most concurrency (${C}) lost`, TIMEOUT, async (t) => {
    const ctx = ctxFor(t, 'amqp', 'py');
    if (!ctx) return;
    report(t, await killWorker(ctx, { impl: 'py', acksLate: false, n: 400, ms: 1, concurrency: C, prefetchMultiplier: 4, visibility: 5, maxMs: MAX_MS }), C);
  });
});
