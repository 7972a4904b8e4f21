/**
 * Producer rates of the Node.js contenders, one mode per process (a fresh process per run, like the
 * Python producer). Input (argv[2], JSON): {mode, url, host, port, db, queue, n, warmup, window}.
 * Output (stdout, JSON): {"elapsed": seconds for the n timed sends, until every send was accepted}.
 *
 * Modes:
 *  celeriac-seq          await app.sendTask(...) one after another, ignore_result (no subscription)
 *  celeriac-conc         the same with up to `window` sends in flight (Node's natural pipelining)
 *  celeriac-res-seq      sequential, result backend set: each send subscribes to its result channel
 *  celeriac-res-conc     concurrent, with result subscription
 *  celery-node           client.sendTask(...) (fire-and-forget: publishes are queued on ioredis;
 *                        timed until a PING behind the last LPUSH returns)
 *  bullmq-add            await queue.add(...) one after another
 *  bullmq-add-conc       queue.add with up to `window` in flight
 *  bullmq-addbulk        queue.addBulk in chunks of 1000
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { Celery } from '../src/app.ts';

interface Cfg { mode: string; url: string; host: string; port: number; db: number; queue: string; n: number; warmup: number; window: number }
const cfg = JSON.parse(process.argv[2] ?? '{}') as Cfg;
/** CPU time at the start of the timed sends (diagnostics: `cpu` in the output is from there to the end). */
let cpuAtT0: NodeJS.CpuUsage | undefined;
const now = () => {
  cpuAtT0 ??= process.cpuUsage();
  return performance.now();
};

/** Runs `fn(i)` for i < n with at most `window` in flight. */
async function windowed(n: number, window: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, n) }, lane));
}

async function celeriac(results: boolean, concurrent: boolean): Promise<number> {
  const app = new Celery({ broker_url: cfg.url, result_backend: results ? cfg.url : null, env: {} });
  const name = results ? 'bench.noop' : 'bench.noop_nr';
  const opts = results ? { queue: cfg.queue } : { queue: cfg.queue, ignore_result: true };
  const warm = { ...opts, queue: `${cfg.queue}.warmup` };
  for (let i = 0; i < cfg.warmup; i++) await app.sendTask(name, [], {}, warm);
  const t0 = now();
  if (concurrent) await windowed(cfg.n, cfg.window, () => app.sendTask(name, [], {}, opts));
  else for (let i = 0; i < cfg.n; i++) await app.sendTask(name, [], {}, opts);
  const elapsed = (performance.now() - t0) / 1000;
  await app.close();
  return elapsed;
}

async function celeryNode(): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- bench-only peer, installed by bench/peers.ts
  const celery = createRequire(import.meta.url)('celery-node') as any;
  const client = celery.createClient(cfg.url, cfg.url, cfg.queue);
  const warm = celery.createClient(cfg.url, cfg.url, `${cfg.queue}.warmup`);
  await client.isReady();
  await warm.isReady();
  for (let i = 0; i < cfg.warmup; i++) warm.sendTask('bench.noop', [], {});
  await new Promise((r) => setImmediate(r));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const redis = (client as any).broker.redis as { ping(): Promise<string> };
  await (warm as any).broker.redis.ping();
  const t0 = now();
  for (let i = 0; i < cfg.n; i++) client.sendTask('bench.noop', [], {});
  await new Promise((r) => setImmediate(r)); // sendTask publishes in a .then(): let every LPUSH be issued
  await redis.ping(); // ioredis answers in order: the PING returns after the last LPUSH
  const elapsed = (performance.now() - t0) / 1000;
  await client.disconnect();
  await warm.disconnect();
  return elapsed;
}

async function bull(kind: 'add' | 'add-conc' | 'addbulk'): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- bench-only peer, installed by bench/peers.ts
  const { Queue } = (await import('bullmq' as string)) as any;
  const connection = { host: cfg.host, port: cfg.port, db: cfg.db, maxRetriesPerRequest: null };
  const q = new Queue(cfg.queue, { connection });
  const wq = new Queue(`${cfg.queue}.warmup`, { connection });
  for (let i = 0; i < cfg.warmup; i++) await wq.add('noop', {});
  const t0 = now();
  if (kind === 'add') for (let i = 0; i < cfg.n; i++) await q.add('noop', {});
  else if (kind === 'add-conc') await windowed(cfg.n, cfg.window, () => q.add('noop', {}));
  else {
    for (let i = 0; i < cfg.n; i += 1000) {
      await q.addBulk(Array.from({ length: Math.min(1000, cfg.n - i) }, () => ({ name: 'noop', data: {} })));
    }
  }
  const elapsed = (performance.now() - t0) / 1000;
  await q.close();
  await wq.close();
  return elapsed;
}

const modes: Record<string, () => Promise<number>> = {
  'celeriac-seq': () => celeriac(false, false),
  'celeriac-conc': () => celeriac(false, true),
  'celeriac-res-seq': () => celeriac(true, false),
  'celeriac-res-conc': () => celeriac(true, true),
  'celery-node': celeryNode,
  'bullmq-add': () => bull('add'),
  'bullmq-add-conc': () => bull('add-conc'),
  'bullmq-addbulk': () => bull('addbulk'),
};
const run = modes[cfg.mode];
if (!run) throw new Error(`unknown mode ${cfg.mode}`);
const elapsed = await run();
const cpu = process.cpuUsage(cpuAtT0);
// cpu: user+system seconds of this process during the timed sends (diagnostics only)
process.stdout.write(JSON.stringify({ elapsed, cpu: (cpu.user + cpu.system) / 1e6 }) + '\n');
process.exit(0);
