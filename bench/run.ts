/**
 * celeriac vs Python Celery 5.6 (and celery-node, BullMQ) on the same Redis, in the same run; and
 * celeriac vs Python Celery on RabbitMQ (publish, drain, round trip), in the same run too.
 *
 *   npm run bench                        # full: 3 runs per metric
 *   npm run bench -- --quick             # smoke test: small N, 1 run
 *   npm run bench -- --runs 5 --tasks 20000 --only producer,drain
 *
 * Options:
 *   --runs N          runs per metric (median reported; ratios are per run, then the median) [3]
 *   --tasks N         producer: tasks per run [20000]
 *   --drain-tasks N   worker drain: tasks timed per run [10000]
 *   --drain-warmup N  worker drain: tasks drained before the timing starts, per run [2000]
 *   --rtt N           round trips timed per run, after --rtt-warmup [1000 / 100]
 *   --mem-tasks N     memory: messages queued before the worker starts [100000]
 *   --mem-window S    memory: sample RSS while draining, at most S seconds [30]
 *   --mem-runs N      memory runs [1]
 *   --only LIST       producer,drain,rtt,memory
 *   --broker B        redis | amqp | both [both]: which broker sections run (memory is Redis only)
 *   --amqp-tasks N    RabbitMQ producer: tasks per run [5000]  (RabbitMQ is slower: the full run
 *   --amqp-drain-tasks N   RabbitMQ drain: tasks per run [4000]  stays around 15 minutes)
 *   --amqp-rtt N      RabbitMQ round trips per run and backend [300]
 *   --contenders LIST only these producer keys / drain worker kinds (e.g. celeriac-conc,celery-node,
 *                     celeriac,bullmq-c8): for quick A/B checks; ratios missing a side are n/a
 *   --out FILE        JSON results [bench/results/latest.json]; the table also goes to FILE.md
 *
 * Everything uses Redis db 15 (FLUSHDB between measurements) of BENCH_REDIS_HOST:BENCH_REDIS_PORT
 * (127.0.0.1:6379); the RabbitMQ section uses BENCH_AMQP_URL (amqp://guest:guest@127.0.0.1:5672//) with
 * queues named bench.*.<random>, deleted (with their exchanges) after each measurement, and Redis db 15
 * as the result backend (rpc:// too for the round trip). The machine is shared, so absolute numbers
 * move: read the ratios.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import amqplib, { type Channel, type ChannelModel } from 'amqplib';
import { Celery } from '../src/app.ts';
import { median, percentile, pollUntil, Proc, rssMiB, runJson, sleep, treePssMiB } from './lib.ts';
import { ensureBenchPeers } from './peers.ts';

ensureBenchPeers();

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const PY = process.env.CELERIAC_PYTHON ?? join(ROOT, '.venv-celery/bin/python');
const HOST = process.env.BENCH_REDIS_HOST ?? '127.0.0.1';
const PORT = Number(process.env.BENCH_REDIS_PORT ?? 6379);
const DB = 15;
const URL = `redis://${HOST}:${PORT}/${DB}`;
const AMQP_URL = process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672//';

/** The broker under test: Redis (db 15, also the result backend) or RabbitMQ (results in Redis db 15). */
interface BrokerTarget { name: 'redis' | 'amqp'; url: string; backend: string }
const REDIS_T: BrokerTarget = { name: 'redis', url: URL, backend: URL };
const AMQP_T: BrokerTarget = { name: 'amqp', url: AMQP_URL, backend: URL };
/** The section being measured (set by main() before each broker's phases). */
let B: BrokerTarget = REDIS_T;
const NODE = process.execPath;
const TSX = ['--import', 'tsx'];

// ---- options -----------------------------------------------------------------------------------

function parseArgs(argv: string[]) {
  const quick = argv.includes('--quick');
  const num = (flag: string, dflt: number, q: number) => {
    const i = argv.indexOf(flag);
    if (i >= 0) {
      const v = Number(argv[i + 1]);
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${flag} needs a positive number`);
      return v;
    }
    return quick ? q : dflt;
  };
  const str = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = (str('--only') ?? 'producer,drain,rtt,memory').split(',').map((s) => s.trim());
  for (const o of only) if (!['producer', 'drain', 'rtt', 'memory'].includes(o)) throw new Error(`--only: unknown phase ${o}`);
  const broker = str('--broker') ?? 'both';
  if (!['redis', 'amqp', 'both'].includes(broker)) throw new Error('--broker: redis, amqp or both');
  return {
    brokers: broker === 'both' ? ['redis', 'amqp'] : [broker],
    quick,
    runs: num('--runs', 3, 1),
    tasks: num('--tasks', 20_000, 1000),
    drainTasks: num('--drain-tasks', 10_000, 500),
    drainWarmup: num('--drain-warmup', 2000, 200),
    rtt: num('--rtt', 1000, 100),
    rttWarmup: num('--rtt-warmup', 100, 20),
    memTasks: num('--mem-tasks', 100_000, 5000),
    memWindow: num('--mem-window', 30, 10),
    memRuns: num('--mem-runs', 1, 1),
    amqpTasks: num('--amqp-tasks', 5000, 1000),
    amqpDrainTasks: num('--amqp-drain-tasks', 4000, 500),
    amqpRtt: num('--amqp-rtt', 300, 100),
    warmup: quick ? 50 : 200,
    window: 1000,
    only: new Set(only),
    contenders: str('--contenders')?.split(',').map((x) => x.trim()),
    out: str('--out') ?? join(HERE, 'results/latest.json'),
  };
}
const opt = parseArgs(process.argv.slice(2));

const redis = new Redis({ host: HOST, port: PORT, db: DB, lazyConnect: true });
const uid = () => randomBytes(4).toString('hex');
const flush = () => redis.flushdb();
const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

// ---- RabbitMQ helpers (a plain amqplib connection of the runner) ---------------------------------

let amqpConn: ChannelModel | null = null;
let amqpCh: Channel | null = null;

async function amqpChannel(): Promise<Channel> {
  amqpConn ??= await amqplib.connect(AMQP_URL.replace(/\/\/$/, '/'));
  if (!amqpCh) {
    const ch = await amqpConn.createChannel();
    ch.on('error', () => undefined);
    ch.on('close', () => {
      if (amqpCh === ch) amqpCh = null;
    });
    amqpCh = ch;
  }
  return amqpCh;
}

/** Ready messages in `queue` (RabbitMQ's message_count: not the unacked ones); -1 while it does not exist. */
async function amqpReady(queue: string): Promise<number> {
  const ch = await amqpChannel();
  try {
    return (await ch.checkQueue(queue)).messageCount;
  } catch {
    return -1; // 404: the channel is closed, the next call opens another
  }
}

/** Deletes the bench's queues and the direct exchanges of the same name Celery declared for them. */
async function amqpDelete(names: string[]): Promise<void> {
  for (const name of names) {
    for (const op of ['queue', 'exchange'] as const) {
      try {
        const ch = await amqpChannel();
        if (op === 'queue') await ch.deleteQueue(name);
        else await ch.deleteExchange(name);
      } catch {
        // not there
      }
    }
  }
}

/** The number of messages waiting in `queue` on the broker under test. */
const queueLen = async (queue: string) => (B.name === 'amqp' ? amqpReady(queue) : redis.llen(queue));

// ---- environment -------------------------------------------------------------------------------

function environment() {
  const py = JSON.parse(execFileSync(PY, [join(HERE, 'python/versions.py')], { encoding: 'utf8' })) as Record<string, string>;
  const pkg = (name: string) => (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'protocol'], { cwd: ROOT, encoding: 'utf8' }).trim();
    if (dirty) commit += ' (+ uncommitted changes in src/protocol)';
  } catch {
    // not a checkout
  }
  return {
    date: new Date().toISOString(),
    celeriac: commit,
    node: process.version,
    python: py.python,
    celery: py.celery,
    kombu: py.kombu,
    redis_py: py.redis_py,
    celery_node: pkg('celery-node'),
    bullmq: pkg('bullmq'),
    ioredis: pkg('ioredis'),
    amqplib: pkg('amqplib'),
    redis_server: '',
    rabbitmq_server: '',
    cpus: availableParallelism(),
    cpu_model: cpus()[0]?.model ?? 'unknown',
    memory_gib: Math.round(totalmem() / 2 ** 30),
  };
}

// ---- workers -----------------------------------------------------------------------------------

type WorkerKind = 'py-prefork' | 'py-threads' | 'celeriac' | 'celeriac-c8' | 'celery-node' | 'bullmq-c2' | 'bullmq-c8';

const WORKER_LABEL: Record<WorkerKind, string> = {
  'py-prefork': 'Python Celery worker, prefork -c 2',
  'py-threads': 'Python Celery worker, -P threads -c 2',
  celeriac: 'celeriac Worker (defaults: concurrency 2 = CPUs, prefetch ×4)',
  'celeriac-c8': 'celeriac Worker, concurrency 8 (prefetch ×4)',
  'celery-node': 'celery-node worker',
  'bullmq-c2': 'BullMQ Worker, concurrency 2 (own format)',
  'bullmq-c8': 'BullMQ Worker, concurrency 8 (own format)',
};

function startWorker(kind: WorkerKind, queue: string, backend = B.backend): Proc {
  switch (kind) {
    case 'py-prefork':
    case 'py-threads': {
      const pool = kind === 'py-prefork' ? ['-P', 'prefork', '-c', '2'] : ['-P', 'threads', '-c', '2'];
      return new Proc(kind, PY, ['-m', 'celery', '-A', 'bench_tasks', 'worker', '-Q', queue, ...pool,
        '--without-gossip', '--without-mingle', '--without-heartbeat', '-l', 'warning', '-n', `bench-py-${uid()}@%h`],
      { cwd: join(HERE, 'python'), env: { ...process.env, BENCH_URL: URL, BENCH_BROKER: B.url, BENCH_BACKEND: backend, BENCH_QUEUE: queue } });
    }
    case 'celeriac':
    case 'celeriac-c8':
      return new Proc(kind, NODE, [...TSX, join(HERE, 'ts-worker.ts'),
        JSON.stringify({ url: B.url, backend, queue, ...(kind === 'celeriac-c8' ? { concurrency: 8 } : {}) })], { cwd: ROOT });
    case 'celery-node':
      return new Proc(kind, NODE, [...TSX, join(HERE, 'cn-worker.ts'), JSON.stringify({ url: URL, queue })], { cwd: ROOT });
    case 'bullmq-c2':
    case 'bullmq-c8':
      return new Proc(kind, NODE, [...TSX, join(HERE, 'bullmq-worker.ts'),
        JSON.stringify({ host: HOST, port: PORT, db: DB, queue, concurrency: kind === 'bullmq-c2' ? 2 : 8 })], { cwd: ROOT });
  }
}

/** Publishes `n` Celery messages with celeriac's producer (the same bytes for every Celery-format worker). */
async function preloadCelery(queue: string, n: number, results: boolean): Promise<string[]> {
  const app = new Celery({ broker_url: B.url, result_backend: null, env: {} });
  const ids: string[] = new Array<string>(n);
  const name = results ? 'bench.noop' : 'bench.noop_nr';
  const options = results ? { queue } : { queue, ignore_result: true };
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      ids[i] = (await app.sendTask(name, [], {}, options)).id;
    }
  };
  await Promise.all(Array.from({ length: Math.min(opt.window, n) }, lane));
  await app.close();
  let len = await queueLen(queue);
  for (let i = 0; B.name === 'amqp' && len !== n && i < 50; i++) {
    await sleep(20); // confirmed messages show in message_count a moment later
    len = await queueLen(queue);
  }
  if (len !== n) throw new Error(`preload: ${queue} holds ${len} messages, expected ${n}`);
  return ids;
}

async function countExisting(keys: string[]): Promise<number> {
  let total = 0;
  for (let i = 0; i < keys.length; i += 5000) total += await redis.exists(...keys.slice(i, i + 5000));
  return total;
}

// ---- 1. producer -------------------------------------------------------------------------------

type Samples = Record<string, number[]>;

interface ProducerContender { key: string; label: string; run: (queue: string) => Promise<number> }

function producerContenders(): ProducerContender[] {
  const py = (results: boolean, confirm = false) => async (queue: string) =>
    (await runJson<{ elapsed: number }>(PY, [join(HERE, 'python/producer.py'), JSON.stringify({ url: B.url, queue, n: opt.tasks, warmup: opt.warmup, results, confirm })])).elapsed;
  const ts = (mode: string) => async (queue: string) =>
    (await runJson<{ elapsed: number }>(NODE, [...TSX, join(HERE, 'ts-producer.ts'),
      JSON.stringify({ mode, url: B.url, host: HOST, port: PORT, db: DB, queue, n: opt.tasks, warmup: opt.warmup, window: opt.window })], { cwd: ROOT })).elapsed;
  if (B.name === 'amqp') {
    return [
      { key: 'python', label: 'Python Celery `send_task` loop, ignore_result (pyamqp, no publisher confirms: Celery\'s default)', run: py(false) },
      { key: 'python-confirm', label: 'Python Celery `send_task` loop, ignore_result, `confirm_publish: True` (waits for each confirm)', run: py(false, true) },
      { key: 'celeriac-seq', label: 'celeriac `await sendTask` sequential, ignore_result (each send awaits its publisher confirm)', run: ts('celeriac-seq') },
      { key: 'celeriac-conc', label: `celeriac \`sendTask\` concurrent (${opt.window} in flight), ignore_result, publisher confirms`, run: ts('celeriac-conc') },
    ];
  }
  return [
    { key: 'python', label: 'Python Celery `send_task` loop, ignore_result', run: py(false) },
    { key: 'python-res', label: 'Python Celery `send_task` loop, result backend (subscribes per send)', run: py(true) },
    { key: 'celeriac-seq', label: 'celeriac `await sendTask` sequential, ignore_result', run: ts('celeriac-seq') },
    { key: 'celeriac-conc', label: `celeriac \`sendTask\` concurrent (${opt.window} in flight), ignore_result`, run: ts('celeriac-conc') },
    { key: 'celeriac-res-seq', label: 'celeriac sequential, result backend (subscribes per send)', run: ts('celeriac-res-seq') },
    { key: 'celeriac-res-conc', label: `celeriac concurrent (${opt.window} in flight), result backend`, run: ts('celeriac-res-conc') },
    { key: 'celery-node', label: 'celery-node `client.sendTask` (fire-and-forget, pipelined)', run: ts('celery-node') },
    { key: 'bullmq-add', label: 'BullMQ `await queue.add` sequential †', run: ts('bullmq-add') },
    { key: 'bullmq-add-conc', label: `BullMQ \`queue.add\` concurrent (${opt.window} in flight) †`, run: ts('bullmq-add-conc') },
    { key: 'bullmq-addbulk', label: 'BullMQ `addBulk` (chunks of 1000) †', run: ts('bullmq-addbulk') },
  ];
}

async function producerPhase() {
  const contenders = producerContenders().filter((c) => !opt.contenders || opt.contenders.includes(c.key));
  const rates: Samples = {};
  for (let r = 0; r < opt.runs; r++) {
    const order = r % 2 ? [...contenders].reverse() : contenders;
    for (const c of order) {
      await flush();
      const queue = `bench.prod.${c.key}.${uid()}`;
      let elapsed: number;
      try {
        elapsed = await c.run(queue);
        if (B.name === 'amqp' && (await queueLen(queue)) !== opt.tasks) {
          await sleep(200);
          const len = await queueLen(queue);
          if (len !== opt.tasks) throw new Error(`producer ${c.key}: ${queue} holds ${len} messages, expected ${opt.tasks}`);
        }
      } finally {
        if (B.name === 'amqp') await amqpDelete([queue, `${queue}.warmup`]);
      }
      const rate = opt.tasks / elapsed;
      (rates[c.key] ??= []).push(rate);
      log(`${B.name} producer run ${r + 1}/${opt.runs} ${c.key}: ${rate.toFixed(0)} tasks/s`);
    }
  }
  await flush();
  const ratio = (a: string, b: string) => (rates[a] && rates[b] ? median(rates[a].map((x, i) => x / rates[b]![i]!)) : NaN);
  return {
    broker: B.name,
    n: opt.tasks,
    contenders: contenders.map((c) => ({ key: c.key, label: c.label, rates: rates[c.key]!, median: median(rates[c.key]!) })),
    ratios: {
      'celeriac-conc / python': ratio('celeriac-conc', 'python'),
      'celeriac-seq / python': ratio('celeriac-seq', 'python'),
      ...(B.name === 'amqp' ? { 'celeriac-seq / python-confirm': ratio('celeriac-seq', 'python-confirm'), 'celeriac-conc / python-confirm': ratio('celeriac-conc', 'python-confirm') } : {}),
      'celeriac-res-conc / python-res': ratio('celeriac-res-conc', 'python-res'),
      'celeriac-res-seq / python-res': ratio('celeriac-res-seq', 'python-res'),
      'celeriac-conc / celery-node': ratio('celeriac-conc', 'celery-node'),
      'celeriac-conc / bullmq-add-conc': ratio('celeriac-conc', 'bullmq-add-conc'),
    },
  };
}

// ---- 2. worker drain ---------------------------------------------------------------------------

/** A drain run: the warm-up plus the n timed messages, and how long starting and warming up may take. */
function drainPlan(n: number): { total: number; warmupMs: number } {
  return { total: opt.drainWarmup + n, warmupMs: 60_000 + opt.drainWarmup * 20 };
}

/** Time for `kind` to process n messages after the warm-up: from the warm-up's end to the last done. */
async function drainOnce(kind: WorkerKind, results: boolean, n: number): Promise<number> {
  await flush();
  if (B.name === 'amqp') return drainOnceAmqp(kind, results, n);
  const queue = `bench.drain.${kind}.${uid()}`;
  const timeoutMs = Math.max(120_000, n * 20);
  const { total, warmupMs } = drainPlan(n);
  if (kind.startsWith('bullmq')) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- bench-only peer, installed by bench/peers.ts
    const { Queue } = (await import('bullmq' as string)) as any;
    const q = new Queue(queue, { connection: { host: HOST, port: PORT, db: DB, maxRetriesPerRequest: null } });
    const jobOpts = results ? {} : { removeOnComplete: true };
    for (let i = 0; i < total; i += 1000) {
      await q.addBulk(Array.from({ length: Math.min(1000, total - i) }, () => ({ name: 'noop', data: {}, opts: jobOpts })));
    }
    const wait = `bull:${queue}:wait`;
    const active = `bull:${queue}:active`;
    const completed = `bull:${queue}:completed`;
    if ((await redis.llen(wait)) !== total) throw new Error(`bullmq preload: ${await redis.llen(wait)} waiting, expected ${total}`);
    const w = startWorker(kind, queue);
    try {
      await pollUntil(async () => (await redis.llen(wait)) <= n, 2, warmupMs, `${kind} to start and warm up`, () => w.assertAlive());
      const t0 = performance.now();
      await pollUntil(async () => {
        if (results) return (await redis.zcard(completed)) >= total;
        const [[, a], [, b]] = (await redis.multi().llen(wait).llen(active).exec()) as [[null, number], [null, number]];
        return a === 0 && b === 0;
      }, 5, timeoutMs, `${kind} to drain`, () => w.assertAlive());
      const t1 = performance.now();
      const failed = await redis.zcard(`bull:${queue}:failed`);
      if (failed) throw new Error(`${kind}: ${failed} jobs failed`);
      return (t1 - t0) / 1000;
    } finally {
      await w.stop();
      await q.close();
    }
  }
  const ids = await preloadCelery(queue, total, results);
  const resultKeys = ids.map((id) => `celery-task-meta-${id}`);
  const w = startWorker(kind, queue);
  try {
    await pollUntil(async () => (await redis.llen(queue)) <= n, 2, warmupMs, `${kind} to start and warm up`, () => w.assertAlive());
    const t0 = performance.now();
    if (kind === 'celery-node') {
      // no unacked hash: done when every result is stored
      await pollUntil(async () => (await redis.llen(queue)) === 0, 5, timeoutMs, `${kind} to empty the queue`, () => w.assertAlive());
    } else {
      await pollUntil(async () => {
        const [[, a], [, b]] = (await redis.multi().llen(queue).hlen('unacked').exec()) as [[null, number], [null, number]];
        return a === 0 && b === 0;
      }, 5, timeoutMs, `${kind} to drain`, () => w.assertAlive());
    }
    return await untilResults(kind, w, results, resultKeys, t0, timeoutMs);
  } finally {
    await w.stop();
  }
}

/**
 * The end of a Celery-format drain, once the queue is empty: with results, until every
 * `celery-task-meta-<id>` key exists; without, a check that none was stored. Returns the seconds since `t0`.
 */
async function untilResults(kind: WorkerKind, w: Proc, results: boolean, resultKeys: string[], t0: number, timeoutMs: number): Promise<number> {
  const n = resultKeys.length;
  if (results) await pollUntil(async () => (await countExisting(resultKeys)) === n, 5, timeoutMs, `${kind}: all ${n} results (warm-up included)`, () => w.assertAlive());
  const t1 = performance.now();
  if (!results && (await countExisting(resultKeys.slice(0, 100))) > 0) throw new Error(`${kind} stored results of ignore_result tasks`);
  return (t1 - t0) / 1000;
}

/**
 * RabbitMQ: from the first message taken (message_count < n) until message_count is 0 — RabbitMQ does
 * not tell a client how many are unacked, so up to the prefetch window (8 at the defaults, 32 at
 * concurrency 8) may still be running then: < 1% of n — and, with results, until every
 * `celery-task-meta-<id>` key exists in Redis.
 */
async function drainOnceAmqp(kind: WorkerKind, results: boolean, n: number): Promise<number> {
  const queue = `bench.drain.${kind}.${uid()}`;
  const timeoutMs = Math.max(120_000, n * 20);
  try {
    const { total, warmupMs } = drainPlan(n);
    const ids = await preloadCelery(queue, total, results);
    const resultKeys = ids.map((id) => `celery-task-meta-${id}`);
    const w = startWorker(kind, queue);
    try {
      await pollUntil(async () => { const l = await amqpReady(queue); return l >= 0 && l <= n; }, 2, warmupMs, `${kind} to start and warm up`, () => w.assertAlive());
      const t0 = performance.now();
      await pollUntil(async () => (await amqpReady(queue)) === 0, 5, timeoutMs, `${kind} to drain`, () => w.assertAlive());
      return await untilResults(kind, w, results, resultKeys, t0, timeoutMs);
    } finally {
      await w.stop();
    }
  } finally {
    await amqpDelete([queue]);
  }
}

async function drainPhase() {
  const n = opt.drainTasks;
  const plan: { kind: WorkerKind; results: boolean }[] = [];
  const kinds: WorkerKind[] = B.name === 'amqp' ? ['py-prefork', 'celeriac', 'celeriac-c8'] : ['py-prefork', 'py-threads', 'celeriac', 'celeriac-c8', 'bullmq-c2', 'bullmq-c8'];
  for (const kind of kinds) {
    if (!opt.contenders || opt.contenders.includes(kind)) plan.push({ kind, results: false }, { kind, results: true });
  }
  if (B.name === 'redis' && (!opt.contenders || opt.contenders.includes('celery-node'))) plan.push({ kind: 'celery-node', results: true });
  const rates: Samples = {};
  for (let r = 0; r < opt.runs; r++) {
    const order = r % 2 ? [...plan].reverse() : plan;
    for (const p of order) {
      const key = `${p.kind}${p.results ? '+results' : ''}`;
      const elapsed = await drainOnce(p.kind, p.results, n);
      (rates[key] ??= []).push(n / elapsed);
      log(`${B.name} drain run ${r + 1}/${opt.runs} ${key}: ${(n / elapsed).toFixed(0)} tasks/s`);
    }
  }
  await flush();
  const ratio = (a: string, b: string) => (rates[a] && rates[b] ? median(rates[a].map((x, i) => x / rates[b]![i]!)) : NaN);
  /** Per run, the better of two rows (concurrency 2 and 8). */
  const bestOf = (a: string, b: string) => {
    const x = rates[a];
    const y = rates[b];
    return x && y ? x.map((v, i) => Math.max(v, y[i]!)) : x ?? y;
  };
  const bestBull = (suffix: string) => bestOf(`bullmq-c2${suffix}`, `bullmq-c8${suffix}`);
  const bestTs = (suffix: string) => bestOf(`celeriac${suffix}`, `celeriac-c8${suffix}`);
  const ratioArr = (a: number[] | undefined, b: number[] | undefined) => (a && b ? median(a.map((x, i) => x / b[i]!)) : NaN);
  return {
    broker: B.name,
    n,
    warmup: opt.drainWarmup,
    rows: Object.entries(rates).map(([key, xs]) => ({ key, rates: xs, median: median(xs) })),
    labels: WORKER_LABEL,
    ratios: {
      'celeriac / py-prefork': ratio('celeriac', 'py-prefork'),
      'celeriac / py-threads': ratio('celeriac', 'py-threads'),
      'celeriac+results / py-prefork+results': ratio('celeriac+results', 'py-prefork+results'),
      'celeriac+results / py-threads+results': ratio('celeriac+results', 'py-threads+results'),
      'celeriac-c8 / py-prefork': ratio('celeriac-c8', 'py-prefork'),
      'celeriac-c8+results / py-prefork+results': ratio('celeriac-c8+results', 'py-prefork+results'),
      'celeriac / BullMQ c2 (removeOnComplete)': ratio('celeriac', 'bullmq-c2'),
      'celeriac+results / BullMQ c2 (kept)': ratio('celeriac+results', 'bullmq-c2+results'),
      'celeriac-c8 / BullMQ c8 (removeOnComplete)': ratio('celeriac-c8', 'bullmq-c8'),
      'celeriac-c8+results / BullMQ c8 (kept)': ratio('celeriac-c8+results', 'bullmq-c8+results'),
      'best celeriac / best BullMQ (removeOnComplete)': ratioArr(bestTs(''), bestBull('')),
      'best celeriac+results / best BullMQ (kept)': ratioArr(bestTs('+results'), bestBull('+results')),
      'celeriac+results / celery-node': ratio('celeriac+results', 'celery-node+results'),
    },
  };
}

// ---- 3. round trip -----------------------------------------------------------------------------

async function rttPhase() {
  // RabbitMQ: results through the Redis backend (db 15) and through rpc:// (replies over RabbitMQ)
  const backends = B.name === 'amqp' ? [{ tag: 'redis', url: URL }, { tag: 'rpc', url: 'rpc://' }] : [{ tag: '', url: URL }];
  const pairs = [
    { key: 'py→py', producer: 'py', worker: 'py-prefork' },
    { key: 'ts→py', producer: 'ts', worker: 'py-prefork' },
    { key: 'ts→ts', producer: 'ts', worker: 'celeriac' },
    { key: 'py→ts', producer: 'py', worker: 'celeriac' },
  ] as const;
  const p50: Samples = {};
  const p99: Samples = {};
  const all: Record<string, number[]> = {};
  const keys: string[] = [];
  for (let r = 0; r < opt.runs; r++) {
    for (const be of backends) for (const worker of ['py-prefork', 'celeriac'] as const) {
      await flush();
      const queue = `bench.rtt.${worker}.${uid()}`;
      const w = startWorker(worker, queue, be.url);
      try {
        for (const pair of pairs.filter((x) => x.worker === worker)) {
          const p = { ...pair, key: be.tag ? `${pair.key} (${be.tag})` : pair.key };
          if (r === 0 && !keys.includes(p.key)) keys.push(p.key);
          const cfg = JSON.stringify({ url: B.url, backend: be.url, queue, n: opt.rtt, warmup: opt.rttWarmup });
          const { ms } = p.producer === 'py'
            ? await runJson<{ ms: number[] }>(PY, [join(HERE, 'python/rtt.py'), cfg])
            : await runJson<{ ms: number[] }>(NODE, [...TSX, join(HERE, 'ts-rtt.ts'), cfg], { cwd: ROOT });
          (p50[p.key] ??= []).push(percentile(ms, 50));
          (p99[p.key] ??= []).push(percentile(ms, 99));
          (all[p.key] ??= []).push(...ms);
          log(`${B.name} rtt run ${r + 1}/${opt.runs} ${p.key}: p50 ${percentile(ms, 50).toFixed(3)} ms, p99 ${percentile(ms, 99).toFixed(3)} ms`);
        }
      } finally {
        await w.stop();
        if (B.name === 'amqp') await amqpDelete([queue]);
      }
    }
  }
  await flush();
  return {
    broker: B.name,
    n: opt.rtt,
    warmup: opt.rttWarmup,
    python_worker: WORKER_LABEL['py-prefork'],
    rows: keys.map((k) => ({ key: k, p50: median(p50[k]!), p99: median(p99[k]!), p50_runs: p50[k]!, p99_runs: p99[k]!, mean: all[k]!.reduce((a, b) => a + b, 0) / all[k]!.length })),
  };
}

// ---- 4. memory ---------------------------------------------------------------------------------

async function memoryOnce(kind: 'celeriac' | 'py-prefork') {
  // idle: started, one task done (so the pool and connections are up), then 2 s of quiet
  await flush();
  let queue = `bench.mem.${kind}.${uid()}`;
  let w = startWorker(kind, queue);
  let idle: { rss: number; pss: number; treeRss: number; processes: number };
  try {
    const app = new Celery({ broker_url: URL, result_backend: URL, env: {} });
    await (await app.sendTask('bench.noop', [], {}, { queue })).get({ timeout: 60 });
    await app.close();
    await sleep(2000);
    w.assertAlive();
    const t = treePssMiB(w.pid);
    idle = { rss: rssMiB(w.pid), pss: t.pss, treeRss: t.rss, processes: t.processes };
  } finally {
    await w.stop();
  }
  // loaded: memTasks queued, then the worker starts and drains; sample every 100 ms
  await flush();
  queue = `bench.mem.${kind}.${uid()}`;
  const n = opt.memTasks;
  await preloadCelery(queue, n, false);
  w = startWorker(kind, queue);
  let peakRss = 0;
  let peakPss = 0;
  let peakTreeRss = 0;
  let processed = 0;
  let seconds = 0;
  try {
    await pollUntil(async () => (await redis.llen(queue)) < n, 10, 60_000, `${kind} to start`, () => w.assertAlive());
    const t0 = performance.now();
    for (;;) {
      w.assertAlive();
      peakRss = Math.max(peakRss, rssMiB(w.pid));
      const t = treePssMiB(w.pid);
      peakPss = Math.max(peakPss, t.pss);
      peakTreeRss = Math.max(peakTreeRss, t.rss);
      const left = await redis.llen(queue);
      processed = n - left;
      seconds = (performance.now() - t0) / 1000;
      if (left === 0 || seconds >= opt.memWindow) break;
      await sleep(100);
    }
    const endRss = rssMiB(w.pid);
    return { idle, loaded: { queued: n, peakRss, peakPss, peakTreeRss, endRss, taken: processed, seconds, drained: processed === n } };
  } finally {
    await w.stop();
    await flush();
  }
}

async function memoryPhase() {
  const out: Record<string, Awaited<ReturnType<typeof memoryOnce>>[]> = {};
  for (let r = 0; r < opt.memRuns; r++) {
    for (const kind of ['py-prefork', 'celeriac'] as const) {
      const m = await memoryOnce(kind);
      (out[kind] ??= []).push(m);
      log(`memory run ${r + 1}/${opt.memRuns} ${kind}: idle ${m.idle.rss.toFixed(1)} MiB, peak ${m.loaded.peakRss.toFixed(1)} MiB (${m.loaded.taken}/${m.loaded.queued} taken in ${m.loaded.seconds.toFixed(1)} s)`);
    }
  }
  const med = (kind: string, f: (m: Awaited<ReturnType<typeof memoryOnce>>) => number) => median(out[kind]!.map(f));
  return {
    queued: opt.memTasks,
    window_s: opt.memWindow,
    rows: Object.keys(out).map((kind) => ({
      kind,
      label: WORKER_LABEL[kind as WorkerKind],
      idleRss: med(kind, (m) => m.idle.rss),
      idlePss: med(kind, (m) => m.idle.pss),
      idleTreeRss: med(kind, (m) => m.idle.treeRss),
      processes: out[kind]![0]!.idle.processes,
      peakRss: med(kind, (m) => m.loaded.peakRss),
      peakPss: med(kind, (m) => m.loaded.peakPss),
      peakTreeRss: med(kind, (m) => m.loaded.peakTreeRss),
      endRss: med(kind, (m) => m.loaded.endRss),
      taken: med(kind, (m) => m.loaded.taken),
      seconds: med(kind, (m) => m.loaded.seconds),
      runs: out[kind],
    })),
  };
}

// ---- report ------------------------------------------------------------------------------------

const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');
const spread = (xs: number[]) => (xs.length > 1 ? ` (${f0(Math.min(...xs))}–${f0(Math.max(...xs))})` : '');

/** Drain table rows, one per worker kind: its rate without results, then with results stored. */
function drainRows(d: any, kinds: string[]): string[] {
  const cell = (k: string) => {
    const r = d.rows.find((x: any) => x.key === k);
    return r ? f0(r.median) + spread(r.rates) : '—';
  };
  return kinds.map((kind) => `| ${d.labels[kind]} | ${cell(kind)} | ${cell(`${kind}+results`)} |`);
}
const verdict = (ok: boolean) => (ok ? '**met**' : '**missed**');

function report(env: ReturnType<typeof environment>, results: Record<string, any>): string {
  const L: string[] = [];
  L.push('# celeriac benchmark', '');
  L.push(`celeriac ${env.celeriac} · Node ${env.node} · Python ${env.python}, Celery ${env.celery}, kombu ${env.kombu}, redis-py ${env.redis_py} · ` +
    `celery-node ${env.celery_node} · BullMQ ${env.bullmq} · ioredis ${env.ioredis} · Redis ${env.redis_server} (127.0.0.1, db 15) · ` +
    `${env.cpus} CPUs (${env.cpu_model}), ${env.memory_gib} GiB · ${env.date}`);
  L.push('', `Mode: ${opt.quick ? '**--quick** (smoke test: small N, 1 run; not for quoting)' : 'full'}; runs per metric: ${opt.runs}. ` +
    'Values are medians over runs (range in parentheses); ratios are computed within each run, then the median is taken. ' +
    'The machine is shared: quote ratios, not absolute times.', '');

  const targets: string[][] = [];
  if (results.producer) {
    const p = results.producer;
    L.push(`## 1. Producer publish rate (${f0(p.n)} tasks per run, after ${opt.warmup} warm-up sends)`, '');
    L.push('| producer | tasks/s |', '|---|---:|');
    for (const c of p.contenders) L.push(`| ${c.label} | ${f0(c.median)}${spread(c.rates)} |`);
    L.push('', '† BullMQ has different semantics (a job hash + a Lua script per job, its own format, not Celery\'s wire protocol): shown for scale only.', '');
    L.push('| ratio (same run, median) | × |', '|---|---:|');
    for (const [k, v] of Object.entries(p.ratios as Record<string, number>)) L.push(`| ${k} | ${f2(v)} |`);
    L.push('');
    targets.push(['producer ≥ 30× Python', `${f1(p.ratios['celeriac-conc / python'])}× concurrent, ${f1(p.ratios['celeriac-seq / python'])}× sequential`, verdict(p.ratios['celeriac-conc / python'] >= 30)]);
    targets.push(['producer ≥ 2× celery-node', `${f2(p.ratios['celeriac-conc / celery-node'])}×`, verdict(p.ratios['celeriac-conc / celery-node'] >= 2)]);
  }
  if (results.drain) {
    const d = results.drain;
    L.push(`## 2. Worker drain rate, no-op task (${f0(d.warmup + d.n)} messages preloaded; after the first ${f0(d.warmup)} taken, timed to the last done)`, '');
    L.push('| worker | no results: tasks/s | results stored: tasks/s |', '|---|---:|---:|');
    L.push(...drainRows(d, ['py-prefork', 'py-threads', 'celeriac', 'celeriac-c8', 'celery-node', 'bullmq-c2', 'bullmq-c8']));
    L.push('', 'Celery-format workers all read the same kombu messages, published beforehand by celeriac\'s producer. "No results": the task is `ignore_result` ' +
      '(done = queue empty and no unacked message); "results stored": done = every `celery-task-meta-<id>` key exists. celery-node cannot skip storing results and ' +
      'has no unacked hash. BullMQ: `removeOnComplete` for "no results", the default (return value kept in the job hash) for "results stored".', '');
    L.push('| ratio (same run, median) | × |', '|---|---:|');
    for (const [k, v] of Object.entries(d.ratios as Record<string, number>)) L.push(`| ${k} | ${f2(v)} |`);
    L.push('');
    targets.push(['drain ≥ 10× Python', `${f1(d.ratios['celeriac / py-prefork'])}× (prefork), ${f1(d.ratios['celeriac+results / py-prefork+results'])}× with results`, verdict(d.ratios['celeriac / py-prefork'] >= 10)]);
    const vsBull = ['best celeriac / best BullMQ (removeOnComplete)', 'best celeriac+results / best BullMQ (kept)'].map((k) => d.ratios[k] as number);
    targets.push(['drain ahead of BullMQ (best of concurrency 2 and 8 on each side)', `${f2(vsBull[0]!)}×, ${f2(vsBull[1]!)}× with results`, verdict(vsBull[0]! > 1 && vsBull[1]! > 1)]);
  }
  if (results.rtt) {
    const r = results.rtt;
    L.push(`## 3. Round trip, sequential send + get of a no-op task (${f0(r.n)} per run after ${r.warmup} warm-up)`, '');
    L.push(`Python worker: ${r.python_worker}; TS worker: ${WORKER_LABEL.celeriac}.`, '');
    L.push('| producer → worker | p50 ms | p99 ms | mean ms |', '|---|---:|---:|---:|');
    for (const x of r.rows) L.push(`| ${x.key} | ${f3(x.p50)} | ${f3(x.p99)} | ${f3(x.mean)} |`);
    L.push('');
    const tt = r.rows.find((x: any) => x.key === 'ts→ts');
    targets.push(['RTT p50 < 1 ms (TS→TS)', `${f3(tt.p50)} ms (p99 ${f3(tt.p99)} ms)`, verdict(tt.p50 < 1)]);
  }
  if (results.memory) {
    const m = results.memory;
    L.push(`## 4. Worker memory (MiB): idle, and with ${f0(m.queued)} messages queued while it drains (peak, sampled every 100 ms for at most ${m.window_s} s)`, '');
    L.push('| worker | processes | idle RSS (main) | idle PSS (all processes) | peak RSS (main) | peak PSS (all) | RSS at end | messages taken in window |', '|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const x of m.rows) {
      L.push(`| ${x.label} | ${x.processes} | ${f1(x.idleRss)} | ${f1(x.idlePss)} | ${f1(x.peakRss)} | ${f1(x.peakPss)} | ${f1(x.endRss)} | ${f0(x.taken)} in ${f1(x.seconds)} s |`);
    }
    L.push('', 'RSS (main) counts shared pages in each process; PSS splits them between the processes of the tree (prefork parent + 2 children), so "PSS (all)" is the fairer total. The celeriac worker runs as `node --import tsx bench/ts-worker.ts`: TypeScript is compiled at startup by the tsx loader, which is included (a build with tsc would be a little smaller). "Bounded" below means peak RSS ≤ idle + 100 MiB: queued messages stay in Redis, the worker holds only its prefetch.', '');
    const ts = m.rows.find((x: any) => x.kind === 'celeriac');
    if (ts) targets.push([`memory bounded with ${f0(m.queued)} queued`, `idle ${f1(ts.idleRss)} → peak ${f1(ts.peakRss)} MiB RSS (${f0(ts.taken)} taken)`, verdict(ts.peakRss < ts.idleRss + 100)]);
  }
  if (results.amqp) {
    const a = results.amqp;
    L.push('## RabbitMQ', '', `RabbitMQ ${env.rabbitmq_server} (${AMQP_URL.replace(/:[^:@/]*@/, ':**@')}), amqplib ${env.amqplib}; Python Celery over kombu's pyamqp. ` +
      'Queues are named `bench.*.<random>` and deleted (with their exchanges) after each measurement. Results, where stored, go to the **Redis** backend (db 15) for both ' +
      'sides (the Python numbers of issue 4, ~1,800/s no-op and ~970/s storing results, are of the same kind); the round trip is measured with the Redis backend and with `rpc://`.', '');
    if (a.producer) {
      const p = a.producer;
      L.push(`### RabbitMQ 1. Producer publish rate (${f0(p.n)} tasks per run, after ${opt.warmup} warm-up sends)`, '');
      L.push('| producer | tasks/s |', '|---|---:|');
      for (const c of p.contenders) L.push(`| ${c.label} | ${f0(c.median)}${spread(c.rates)} |`);
      L.push('', 'celeriac publishes on a confirm channel: a send resolves when RabbitMQ has taken the message (safer than Celery\'s default, which writes to the socket ' +
        'and returns); with `confirm_publish` Python waits for each confirm too, the like-for-like comparison for sequential sends. Every run checks the queue holds all N messages.', '');
      L.push('| ratio (same run, median) | × |', '|---|---:|');
      for (const k of ['celeriac-conc / python', 'celeriac-seq / python', 'celeriac-seq / python-confirm', 'celeriac-conc / python-confirm']) L.push(`| ${k} | ${f2(p.ratios[k])} |`);
      L.push('');
      targets.push(['RabbitMQ publish vs Python `send_task`', `${f1(p.ratios['celeriac-conc / python'])}× concurrent, ${f1(p.ratios['celeriac-seq / python'])}× sequential`, '(no target)']);
    }
    if (a.drain) {
      const d = a.drain;
      L.push(`### RabbitMQ 2. Worker drain rate, no-op task (${f0(d.warmup + d.n)} messages preloaded; timed after the first ${f0(d.warmup)})`, '');
      L.push('| worker | no results: tasks/s | results in Redis: tasks/s |', '|---|---:|---:|');
      L.push(...drainRows(d, ['py-prefork', 'celeriac', 'celeriac-c8']));
      L.push('', `Messages published beforehand by celeriac's producer (the same kombu messages for both workers). Timed from the moment the first ${f0(d.warmup)} (warm-up) have been taken (message_count ≤ N) ` +
        'until message_count is 0 — RabbitMQ does not report unacked messages to a client, so up to the prefetch window (8 for both defaults: concurrency 2 × 4; 32 at concurrency 8) may still be ' +
        'running then, < 1% of N — and, with results, until every `celery-task-meta-<id>` key exists in Redis.', '');
      L.push('| ratio (same run, median) | × |', '|---|---:|');
      for (const k of ['celeriac / py-prefork', 'celeriac+results / py-prefork+results', 'celeriac-c8 / py-prefork', 'celeriac-c8+results / py-prefork+results']) L.push(`| ${k} | ${f2(d.ratios[k])} |`);
      L.push('');
      targets.push(['RabbitMQ drain ≥ 5× Python (issue 4)', `${f1(d.ratios['celeriac / py-prefork'])}× no results, ${f1(d.ratios['celeriac+results / py-prefork+results'])}× results in Redis`,
        verdict(d.ratios['celeriac / py-prefork'] >= 5 && d.ratios['celeriac+results / py-prefork+results'] >= 5)]);
    }
    if (a.rtt) {
      const r = a.rtt;
      L.push(`### RabbitMQ 3. Round trip, sequential send + get of a no-op task (${f0(r.n)} per run after ${r.warmup} warm-up)`, '');
      L.push(`Python worker: ${r.python_worker}; TS worker: ${WORKER_LABEL.celeriac}. (redis) = results through the Redis backend, (rpc) = \`rpc://\` (the reply travels back over RabbitMQ).`, '');
      L.push('| producer → worker (backend) | p50 ms | p99 ms | mean ms |', '|---|---:|---:|---:|');
      for (const x of r.rows) L.push(`| ${x.key} | ${f3(x.p50)} | ${f3(x.p99)} | ${f3(x.mean)} |`);
      L.push('');
    }
  }
  if (targets.length) {
    L.push('## Targets', '', '| target | measured | |', '|---|---|---|');
    for (const t of targets) L.push(`| ${t.join(' | ')} |`);
    L.push('');
  }
  return L.join('\n');
}

// ---- main --------------------------------------------------------------------------------------

async function main() {
  await redis.connect();
  const env = environment();
  env.redis_server = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  if (opt.brokers.includes('amqp')) {
    const props = (await amqpChannel(), (amqpConn as unknown as { connection: { serverProperties?: { version?: string } } }).connection.serverProperties);
    env.rabbitmq_server = props?.version ?? 'unknown';
  }
  log(`environment: ${JSON.stringify(env)}`);
  const options = { ...opt, only: [...opt.only] }; // before the RabbitMQ section swaps in its sizes
  log(`options: ${JSON.stringify(options)}`);
  await flush();
  const results: Record<string, unknown> = {};
  const t0 = Date.now();
  try {
    if (opt.brokers.includes('redis')) {
      B = REDIS_T;
      if (opt.only.has('producer')) results.producer = await producerPhase();
      if (opt.only.has('drain')) results.drain = await drainPhase();
      if (opt.only.has('rtt')) results.rtt = await rttPhase();
      if (opt.only.has('memory')) results.memory = await memoryPhase();
    }
    if (opt.brokers.includes('amqp')) {
      B = AMQP_T;
      Object.assign(opt, { tasks: opt.amqpTasks, drainTasks: opt.amqpDrainTasks, rtt: opt.amqpRtt });
      const a: Record<string, unknown> = {};
      results.amqp = a;
      if (opt.only.has('producer')) a.producer = await producerPhase();
      if (opt.only.has('drain')) a.drain = await drainPhase();
      if (opt.only.has('rtt')) a.rtt = await rttPhase();
    }
  } finally {
    await flush().catch(() => undefined);
    await amqpConn?.close().catch(() => undefined);
  }
  const md = report(env, results);
  process.stdout.write(md + '\n');
  mkdirSync(dirname(opt.out), { recursive: true });
  writeFileSync(opt.out, JSON.stringify({ environment: env, options, duration_s: (Date.now() - t0) / 1000, results, markdown: md }, null, 2) + '\n');
  writeFileSync(opt.out.replace(/\.json$/, '') + '.md', md + '\n');
  log(`wrote ${opt.out} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  redis.disconnect();
}

main().catch((err: unknown) => {
  process.stderr.write(`[bench] failed: ${(err as Error)?.stack ?? String(err)}\n`);
  redis.disconnect();
  process.exit(1);
});
