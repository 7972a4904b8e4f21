/**
 * The hostile-message storm: valid tasks interleaved (seeded shuffle) with messages a worker must not
 * run, published at the wire level to a private broker while one worker consumes:
 *
 * - `garbage`: Redis, a list element that is no kombu envelope; RabbitMQ, a body with no properties or
 *   headers at all (Python on Redis: left out of the storm, since one such element ends a Python Celery
 *   worker; one is pushed after the storm and what happened is reported);
 * - `bad-json`: a task message whose JSON body does not parse (Celery: on_decode_error);
 * - `pickle`: content type application/x-python-serialize, not in accept_content (ContentDisallowed);
 * - `unknown-task`: a task no worker registered;
 * - `bad-eta`: eta "not a date" (on_invalid_task);
 * - `body-not-list`: a JSON string as the body;
 * - `bomb`: compression application/x-gzip, a zlib stream of 272 MiB of zeros (~270 KB), 16 MiB over
 *   celeriac's 256 MiB limit (a few: each is decompressed up to the limit);
 * - `wrong-args`: chaos.args(a, b) called with three arguments: the task runs and fails with
 *   TypeError, as in Celery (a task failure, not a refusal), acked.
 * Signed messages with a bad signature are left to test/interop/security.test.ts (they need a key pair
 * and the auth serializer on both sides).
 *
 * Accounting, per message: a celeriac worker keeps what it refuses in `<queue>.celeriac.invalid` with
 * the reason (src/quarantine/): a hostile message with a task id is accounted for when an entry with
 * that id and a reason is there; one without an id (garbage) by the count of entries without one; a
 * wrong-args call by its `chaos.args[<id>] raised unexpected` line in the worker's log. Python Celery
 * drops what it refuses (logged, then gone: Redis has no dead-letter; RabbitMQ's reject without requeue
 * drops it too when the queue has no dead-letter exchange), so for the baseline an id counts as
 * accounted for when its log names it. Every valid task must run exactly once; nothing may be left in
 * the queue or unacked.
 */
import { createDeflate } from 'node:zlib';
import amqplib from 'amqplib';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { createBroker } from '../../src/brokers/index.ts';
import type { QuarantinedDetail } from '../../src/quarantine/store.ts';
import type { RawMessage } from '../../protocol/types.ts';
import { uniqueName } from '../helpers/peers.ts';
import { mulberry32 } from '../helpers/random.ts';
import { sleep, tally, until, type Row } from './counts.ts';
import type { ChaosContext } from './scenarios.ts';
import { startWorker, type Impl } from './workers.ts';

/**
 * What ends a Python Celery 5.6.3 worker (exit 1, found by this storm): on Redis a list element that is
 * not JSON (kombu's `_brpop_read` raises out of the event loop), on both brokers a JSON body that is a
 * string (celery/worker/request.py unpacks the body into three values: ValueError).
 */
const PY_KILLERS = ['garbage', 'body-not-list'] as const;

export const HOSTILE_KINDS = ['garbage', 'bad-json', 'pickle', 'unknown-task', 'bad-eta', 'body-not-list', 'wrong-args'] as const;
type Kind = (typeof HOSTILE_KINDS)[number] | 'bomb';

export interface StormOptions {
  impl: Impl;
  valid: number;
  hostile: number;
  /** Decompression bombs among the hostile ones. @default 3 */
  bombs?: number;
  seed?: number;
  maxMs?: number;
}

let bombBody: Promise<Buffer> | null = null;
/** One zlib stream of 272 MiB of zeros (~270 KB), deflated 16 MiB at a time (no 272 MiB buffer). */
function bomb(): Promise<Buffer> {
  bombBody ??= (async () => {
    const d = createDeflate({ level: 9 });
    const out: Buffer[] = [];
    d.on('data', (c: Buffer) => out.push(c));
    const done = new Promise((r) => d.on('end', r));
    const zeros = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < 17; i++) if (!d.write(zeros)) await new Promise((r) => d.once('drain', r));
    d.end();
    await done;
    return Buffer.concat(out);
  })();
  return bombBody;
}

/** A task message as Celery 5.6 writes it (protocol 2, JSON). */
function taskRaw(queue: string, task: string, id: string, args: unknown[]): RawMessage {
  return {
    body: Buffer.from(JSON.stringify([args, {}, { callbacks: null, errbacks: null, chain: null, chord: null }])),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    headers: {
      lang: 'py', task, id, shadow: null, eta: null, expires: null, group: null, group_index: null, retries: 0,
      timelimit: [null, null], root_id: id, parent_id: null, argsrepr: JSON.stringify(args), kwargsrepr: '{}', origin: 'chaos@storm', ignore_result: true,
    },
    properties: { correlation_id: id, reply_to: '', delivery_mode: 2, priority: 0, body_encoding: 'base64', delivery_tag: id },
    deliveryInfo: { exchange: '', routing_key: queue },
  };
}

interface Item {
  kind: Kind | 'valid';
  i?: number;
  id: string | null;
}

export async function storm(ctx: ChaosContext, o: StormOptions): Promise<Row> {
  const queue = uniqueName('chaos.storm');
  const key = `celeriac:${queue}:runs`;
  const started = Date.now();
  const bombs = Math.min(o.bombs ?? 3, o.hostile);
  // messages that end a Python Celery 5.6 worker are left out of its storm and tried one at a time after it
  const killers: Kind[] = o.impl === 'py' ? PY_KILLERS.filter((k) => k !== 'garbage' || ctx.broker.kind === 'redis') : [];
  const items: Item[] = Array.from({ length: o.valid }, (_, i) => ({ kind: 'valid' as const, i, id: null }));
  for (let h = 0; h < o.hostile; h++) {
    const kinds = HOSTILE_KINDS.filter((k) => !killers.includes(k));
    const kind: Kind = h < bombs ? 'bomb' : kinds[h % kinds.length]!;
    const id = uniqueName(`storm-${kind}`);
    items.push({ kind, id });
  }
  const rand = mulberry32(o.seed ?? 15);
  for (let k = items.length - 1; k > 0; k--) {
    const j = Math.floor(rand() * (k + 1));
    [items[k], items[j]] = [items[j]!, items[k]!];
  }

  const spec = {
    impl: o.impl, brokerUrl: ctx.broker.url, queue, key, counterUrl: ctx.counterUrl, concurrency: 8, prefetchMultiplier: 4, name: `storm.${queue}`,
  };
  const w = await startWorker(spec);
  const app = new Celery({ broker_url: ctx.broker.url, task_ignore_result: true, env: {} });
  const broker = createBroker(ctx.broker.url, {}, { settings: app.conf });
  await broker.connect();
  const redis = ctx.broker.kind === 'redis' ? new Redis(ctx.broker.url) : null;
  const amqp = ctx.broker.kind === 'amqp' ? await amqplib.connect(ctx.broker.url.replace(/\/\/$/, '/')) : null;
  const ch = amqp ? await amqp.createConfirmChannel() : null;
  const target = { exchange: '', routingKey: queue };

  const send = async (it: Item): Promise<void> => {
    const id = it.id!;
    switch (it.kind) {
      case 'valid':
        await app.sendTask('chaos.run', [it.i!, 0], {}, { queue });
        return;
      case 'garbage':
        // the id only in the text: a Python log that prints the element names it
        if (redis) await redis.lpush(queue, `not an envelope ${id}`);
        else await new Promise<void>((res, rej) => ch!.sendToQueue(queue, Buffer.from(`garbage ${id}`), {}, (err) => (err ? rej(err) : res())));
        return;
      case 'bad-json': {
        const r = taskRaw(queue, 'chaos.run', id, [0, 0]);
        r.body = Buffer.from('{not json');
        return broker.publish(r, target);
      }
      case 'pickle': {
        const r = taskRaw(queue, 'chaos.run', id, [0, 0]);
        r.contentType = 'application/x-python-serialize';
        r.contentEncoding = 'binary';
        r.body = Buffer.from([0x80, 0x04, 0x4e, 0x2e]); // pickle of None: never loaded, the type is refused first
        return broker.publish(r, target);
      }
      case 'unknown-task':
        return broker.publish(taskRaw(queue, 'chaos.nope', id, [1, 2]), target);
      case 'bad-eta': {
        const r = taskRaw(queue, 'chaos.run', id, [0, 0]);
        r.headers.eta = 'not a date';
        return broker.publish(r, target);
      }
      case 'body-not-list': {
        const r = taskRaw(queue, 'chaos.run', id, [0, 0]);
        r.body = Buffer.from('"a string"');
        return broker.publish(r, target);
      }
      case 'bomb': {
        const r = taskRaw(queue, 'chaos.run', id, [0, 0]);
        r.headers.compression = 'application/x-gzip';
        r.body = await bomb();
        return broker.publish(r, target);
      }
      case 'wrong-args':
        return broker.publish(taskRaw(queue, 'chaos.args', id, [1, 2, 3]), target);
    }
  };
  let next = 0;
  await Promise.all(Array.from({ length: 20 }, async () => {
    while (next < items.length) await send(items[next++]!);
  }));

  // settled: the queue empty (Redis: nothing unacked), the counts and the quarantine still for a while
  const quietMs = ctx.broker.kind === 'redis' ? 2000 : 3000;
  let last = '';
  let since = Date.now();
  const settled = await until(async () => {
    const now = `${await ctx.counter.hlen(key)}/${await ctx.broker.quarantined(queue)}/${w.log().length}`;
    if (now !== last) {
      last = now;
      since = Date.now();
    }
    if (Date.now() - since < quietMs || (await ctx.broker.depth(queue)) !== 0) return false;
    return ctx.broker.kind !== 'redis' || (await ctx.broker.unacked(queue)) === 0;
  }, o.maxMs ?? 300_000);
  const alive = w.child.exitCode === null && w.child.signalCode === null;
  const peakKb = w.peakRssKb() ?? 0;
  await w.stop();
  await sleep(200);
  const log = w.log();
  // each message left out, alone, to a fresh worker: does it end the worker?
  const probes: string[] = [];
  for (const kind of killers) {
    const p = await startWorker(spec);
    await send({ kind, id: uniqueName(`probe-${kind}`) });
    const died = await until(() => p.child.exitCode !== null || p.child.signalCode !== null, 10_000);
    probes.push(`${kind}:${died ? `worker exited ${p.child.exitCode ?? p.child.signalCode}` : 'survived'}`);
    await p.stop();
    await ctx.broker.purge(queue);
  }

  const entries: QuarantinedDetail[] = await broker.quarantineStore!().list(queue);
  const byId = new Map(entries.filter((e) => e.taskId !== null && e.reason).map((e) => [e.taskId!, e]));
  const withoutId = entries.filter((e) => e.taskId === null && e.reason).length;
  const kinds = new Map<string, number>();
  for (const e of entries) kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
  let accounted = 0;
  let garbage = 0;
  const missing: string[] = [];
  for (const it of items) {
    if (it.kind === 'valid') continue;
    if (it.kind === 'garbage' && o.impl === 'ts') {
      garbage++; // no task id in a quarantine entry for it: counted below
      continue;
    }
    const ok = it.kind === 'wrong-args'
      ? new RegExp(`chaos\\.args\\[${it.id}\\] raised unexpected: TypeError`).test(log)
      : o.impl === 'ts' ? byId.has(it.id!) : log.includes(it.id!);
    if (ok) accounted++;
    else if (missing.length < 5) missing.push(`${it.kind}:${it.id}`);
  }
  accounted += Math.min(garbage, withoutId);
  const unaccounted = o.hostile - accounted;
  const t = await tally(ctx.counter, key, o.valid);
  const left = (await ctx.broker.depth(queue)) + (await ctx.broker.unacked(queue));
  const quarantined = await ctx.broker.quarantined(queue);

  await ctx.counter.del(key);
  await ctx.broker.purge(queue);
  await broker.close();
  await app.close();
  redis?.disconnect();
  await amqp?.close().catch(() => undefined);
  if (missing.length) ctx.note?.(`storm: not accounted for (first few): ${missing.join(' ')}`);
  if (!alive) ctx.note?.(`storm: the ${o.impl} worker exited (${w.child.exitCode ?? w.child.signalCode}); its log ends:\n${log.slice(-2500)}`);
  const extra: Record<string, string | number> = {
    hostile: o.hostile, bombs, quarantined, unaccounted, worker_alive: alive ? 'yes' : 'no', peak_rss_mb: (peakKb / 1024).toFixed(0),
    kinds: `"${[...kinds].map(([k, n]) => `${k}:${n}`).join(',')}"`, elapsed_s: ((Date.now() - started) / 1000).toFixed(1),
  };
  if (o.impl === 'py') extra.accounted_by = 'log';
  if (probes.length) extra.alone = `"${probes.join(',')}"`;
  if (!settled) extra.settled = 'no';
  return { scenario: 'storm', broker: ctx.broker.kind, impl: o.impl, sent: o.valid, ranOnce: t.ranOnce, duplicates: t.duplicates, extraRuns: t.extraRuns, lost: t.lost, left, extra };
}
