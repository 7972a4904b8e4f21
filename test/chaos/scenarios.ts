/**
 * The chaos suite's faults, each a function that runs one scenario on a private broker with one worker
 * implementation and returns its counts (test/chaos/counts.ts). Sizes come from the caller: the CI test
 * (test/chaos/chaos.test.ts) runs small ones, `npm run chaos` (test/chaos/run.ts) the long ones.
 *
 * - killWorker: a worker under load gets SIGKILL once a third of the tasks ran; a fresh worker takes
 *   over. Early ack (Celery's default) acks a message when its task starts, so what dies with the worker
 *   is at most the tasks it was running: loss <= concurrency. Prefetched messages not yet started are
 *   unacked and come back (AMQP: at once, when the connection drops; Redis: after visibility_timeout,
 *   by the next worker's restore). With acks_late nothing is acked before it finished: 0 lost, and the
 *   tasks that finished but whose ack had not reached the broker run twice (duplicates).
 * - stopWorker: SIGSTOP of one of two workers for longer than the visibility timeout (Redis) or the
 *   heartbeat timeout (AMQP), then SIGCONT. The live worker takes over what the stopped one held.
 * - restartBroker: the broker is killed (Redis, AOF appendfsync always) or stopped (RabbitMQ) while the
 *   producer publishes (with a retry policy) and a worker consumes acks_late tasks, and comes back.
 * - drain: a worker drains N messages already queued; its peak RSS (VmHWM) and the time are reported.
 *
 * Every scenario waits until the broker holds nothing for the queue (no ready message, Redis: no
 * unacked entry) and the counts stopped moving, stops its workers, and reports what was left.
 */
import type { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { uniqueName } from '../helpers/peers.ts';
import type { ChaosBroker } from './brokers.ts';
import { publish, sleep, tally, until, type Published, type Row } from './counts.ts';
import { startWorker, type ChaosWorker, type Impl, type WorkerSpec } from './workers.ts';

export interface ChaosContext {
  broker: ChaosBroker;
  counter: Redis;
  counterUrl: string;
  /** Progress lines (not the counts). */
  note?: (line: string) => void;
}

/** Publishes retried for as long as a broker restart takes (RabbitMQ ~10-15 s). */
const RETRY_POLICY = { max_retries: 400, interval_start: 0.1, interval_step: 0.1, interval_max: 0.25 };

function producer(ctx: ChaosContext): Celery {
  return new Celery({
    broker_url: ctx.broker.url, task_ignore_result: true, env: {},
    task_publish_retry_policy: RETRY_POLICY, broker_connection_max_retries: null,
  });
}

interface Scene {
  queue: string;
  key: string;
  spec: (impl: Impl, name: string, over?: Partial<WorkerSpec>) => WorkerSpec;
}

function scene(ctx: ChaosContext, prefix: string, base: { concurrency: number; prefetchMultiplier: number; visibility?: number; heartbeat?: number }): Scene {
  const queue = uniqueName(`chaos.${prefix}`);
  const key = `celeriac:${queue}:runs`;
  return {
    queue,
    key,
    spec: (impl, name, over = {}) => ({
      impl, brokerUrl: ctx.broker.url, queue, key, counterUrl: ctx.counterUrl, name: `${name}.${queue}`, ...base, ...over,
    }),
  };
}

/**
 * Waits until the queue is empty (Redis: no unacked entry either) and the counter has not moved for
 * `quietMs`, at most `maxMs`; true when that happened.
 */
async function settle(ctx: ChaosContext, s: Scene, maxMs: number, quietMs = ctx.broker.kind === 'redis' ? 1500 : 3000): Promise<boolean> {
  let last = -1;
  let since = Date.now();
  return until(async () => {
    const runs = await ctx.counter.hlen(s.key);
    if (runs !== last) {
      last = runs;
      since = Date.now();
    }
    if (Date.now() - since < quietMs) return false;
    if ((await ctx.broker.depth(s.queue)) !== 0) return false;
    return ctx.broker.kind !== 'redis' || (await ctx.broker.unacked(s.queue)) === 0;
  }, maxMs);
}

async function finish(ctx: ChaosContext, s: Scene, row: Omit<Row, 'sent' | 'ranOnce' | 'duplicates' | 'extraRuns' | 'lost' | 'left'>,
  n: number, pub: Published, workers: ChaosWorker[], settled: boolean): Promise<Row> {
  await Promise.all(workers.map((w) => w.stop()));
  const t = await tally(ctx.counter, s.key, n, pub.failedIndices);
  const left = (await ctx.broker.depth(s.queue)) + (await ctx.broker.unacked(s.queue));
  await ctx.counter.del(s.key);
  await ctx.broker.purge(s.queue);
  const extra = { ...row.extra };
  if (pub.failed) extra.publish_failed = pub.failed;
  if (t.stray) extra.stray = t.stray;
  if (!settled) extra.settled = 'no';
  return { ...row, extra, sent: pub.sent, ranOnce: t.ranOnce, duplicates: t.duplicates, extraRuns: t.extraRuns, lost: t.lost, left };
}

export interface KillOptions {
  impl: Impl;
  acksLate: boolean;
  n: number;
  /** Task duration (ms). */
  ms: number;
  concurrency: number;
  prefetchMultiplier: number;
  /** Redis visibility_timeout (s): how soon a dead worker's unacked messages come back. */
  visibility: number;
  maxMs?: number;
}

export async function killWorker(ctx: ChaosContext, o: KillOptions): Promise<Row> {
  const s = scene(ctx, 'kill', { concurrency: o.concurrency, prefetchMultiplier: o.prefetchMultiplier, visibility: o.visibility });
  const started = Date.now();
  const a = await startWorker(s.spec(o.impl, 'a'));
  const app = producer(ctx);
  const indices = Array.from({ length: o.n }, (_, i) => i);
  const publishing = publish(app, o.acksLate ? 'chaos.run_late' : 'chaos.run', indices, o.ms, s.queue, { inflight: 50 });
  const reached = await until(async () => (await ctx.counter.hlen(s.key)) >= o.n / 3, o.maxMs ?? 300_000);
  const ranAtKill = await ctx.counter.hlen(s.key);
  await a.kill9();
  ctx.note?.(`kill: SIGKILL ${o.impl} worker at ${ranAtKill}/${o.n} ran${reached ? '' : ' (a third never ran)'}`);
  const b = await startWorker(s.spec(o.impl, 'b'));
  const pub = await publishing;
  await app.close();
  const settled = await settle(ctx, s, o.maxMs ?? 300_000);
  return finish(ctx, s, {
    scenario: `kill-9${o.acksLate ? ' acks_late' : ''}`, broker: ctx.broker.kind, impl: o.impl,
    extra: { concurrency: o.concurrency, prefetch: o.concurrency * o.prefetchMultiplier, ran_at_kill: ranAtKill, elapsed_s: ((Date.now() - started) / 1000).toFixed(1) },
  }, o.n, pub, [b], settled);
}

export interface StopOptions {
  impl: Impl;
  n: number;
  ms: number;
  concurrency: number;
  prefetchMultiplier: number;
  /** Redis: visibility_timeout (s). AMQP: broker_heartbeat (s). */
  timeout: number;
  /** How long the worker stays stopped. */
  stoppedMs: number;
  maxMs?: number;
}

/** Two acks_late workers; one is SIGSTOPped for `stoppedMs` (> the timeout), then SIGCONTed. */
export async function stopWorker(ctx: ChaosContext, o: StopOptions): Promise<Row> {
  const redis = ctx.broker.kind === 'redis';
  const s = scene(ctx, 'stop', {
    concurrency: o.concurrency, prefetchMultiplier: o.prefetchMultiplier,
    ...(redis ? { visibility: o.timeout } : { heartbeat: o.timeout }),
  });
  const started = Date.now();
  const a = await startWorker(s.spec(o.impl, 'a'));
  const b = await startWorker(s.spec(o.impl, 'b'));
  const app = producer(ctx);
  const indices = Array.from({ length: o.n }, (_, i) => i);
  const publishing = publish(app, 'chaos.run_late', indices, o.ms, s.queue, { inflight: 20 });
  await until(async () => (await ctx.counter.hlen(s.key)) >= o.n / 4, o.maxMs ?? 300_000);
  a.signal('SIGSTOP');
  const stoppedAt = await ctx.counter.hlen(s.key);
  await sleep(o.stoppedMs);
  a.signal('SIGCONT');
  ctx.note?.(`stop: ${o.impl} worker stopped at ${stoppedAt}/${o.n} ran for ${o.stoppedMs} ms`);
  const pub = await publishing;
  await app.close();
  const settled = await settle(ctx, s, o.maxMs ?? 300_000);
  const aAlive = a.child.exitCode === null && a.child.signalCode === null;
  return finish(ctx, s, {
    scenario: `sigstop ${redis ? 'visibility' : 'heartbeat'}=${o.timeout}s stopped=${o.stoppedMs / 1000}s`, broker: ctx.broker.kind, impl: o.impl,
    extra: { concurrency: o.concurrency, prefetch: o.concurrency * o.prefetchMultiplier, stopped_worker_survived: aAlive ? 'yes' : 'no', elapsed_s: ((Date.now() - started) / 1000).toFixed(1) },
  }, o.n, pub, [a, b], settled);
}

export interface RestartOptions {
  impl: Impl;
  n: number;
  ms: number;
  concurrency: number;
  prefetchMultiplier: number;
  /** How long the broker stays down. */
  downMs: number;
  maxMs?: number;
}

/** The broker restarted (Redis: SIGKILL, AOF replayed; RabbitMQ: stop/start) while publishing and consuming acks_late tasks. */
export async function restartBroker(ctx: ChaosContext, o: RestartOptions): Promise<Row> {
  const s = scene(ctx, 'restart', { concurrency: o.concurrency, prefetchMultiplier: o.prefetchMultiplier, visibility: 30 });
  const started = Date.now();
  const w = await startWorker(s.spec(o.impl, 'a'));
  const app = producer(ctx);
  const indices = Array.from({ length: o.n }, (_, i) => i);
  let restarting: Promise<void> | null = null;
  let at = '';
  const pub = await publish(app, 'chaos.run_late', indices, o.ms, s.queue, {
    inflight: 10,
    onSent: async (sent) => {
      if (!restarting && sent >= o.n / 3) {
        // set before any await: the other publishing lanes call this too
        restarting = ctx.counter.hlen(s.key).then((ran) => {
          at = `${sent} sent, ${ran} ran`;
          return ctx.broker.restart(o.downMs);
        });
      }
      // paced so that publishing goes on while the broker is down and after
      if (sent % 10 === 0) await sleep(5);
    },
  });
  await restarting;
  await app.close();
  ctx.note?.(`restart: ${ctx.broker.kind} restarted at ${at}`);
  const settled = await settle(ctx, s, o.maxMs ?? 300_000);
  return finish(ctx, s, {
    scenario: `broker restart${ctx.broker.kind === 'redis' ? ' (aof, kill -9)' : ''}`, broker: ctx.broker.kind, impl: o.impl,
    extra: { restarted_at: `"${at}"`, down_ms: o.downMs, elapsed_s: ((Date.now() - started) / 1000).toFixed(1) },
  }, o.n, pub, [w], settled);
}

export interface DrainOptions {
  impl: Impl;
  n: number;
  concurrency: number;
  prefetchMultiplier: number;
  maxMs?: number;
}

/** N messages queued first, then one worker drains them; its peak RSS (VmHWM) when the last one ran. */
export async function drain(ctx: ChaosContext, o: DrainOptions): Promise<Row> {
  const s = scene(ctx, 'drain', { concurrency: o.concurrency, prefetchMultiplier: o.prefetchMultiplier });
  const app = producer(ctx);
  const t0 = Date.now();
  const pub = await publish(app, 'chaos.run', Array.from({ length: o.n }, (_, i) => i), 0, s.queue, { inflight: 200 });
  await app.close();
  const publishS = (Date.now() - t0) / 1000;
  const w = await startWorker(s.spec(o.impl, 'a'));
  const idleKb = w.peakRssKb() ?? 0;
  const t1 = Date.now();
  const done = await until(async () => (await ctx.counter.hlen(s.key)) >= pub.sent, o.maxMs ?? 600_000);
  const drainS = (Date.now() - t1) / 1000;
  const peakKb = w.peakRssKb() ?? 0;
  const settled = done && (await settle(ctx, s, 30_000));
  return finish(ctx, s, {
    scenario: `drain ${o.n}`, broker: ctx.broker.kind, impl: o.impl,
    extra: {
      concurrency: o.concurrency, prefetch: o.concurrency * o.prefetchMultiplier, rss_at_ready_mb: (idleKb / 1024).toFixed(0),
      peak_rss_mb: (peakKb / 1024).toFixed(0), drain_s: drainS.toFixed(1), tasks_per_s: (pub.sent / drainS).toFixed(0), publish_s: publishS.toFixed(1),
    },
  }, o.n, pub, [w], settled);
}
