/**
 * Profiles the celeriac worker draining a preloaded queue (not part of `npm run bench`):
 *
 *   node --import tsx bench/profile-drain.ts [N=20000] [res] [--concurrency C]
 *
 * Preloads N no-op messages on Redis db 15, starts bench/ts-worker.ts under `node --cpu-prof`
 * (profile written to bench/results/prof/), prints the drain rate, and stops the worker.
 */
import { spawn } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { Celery } from '../src/app.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const URL = 'redis://127.0.0.1:6379/15';
const q = 'bench.profile';
const n = Number(process.argv[2] ?? 20000);
const results = process.argv.includes('res');
const ci = process.argv.indexOf('--concurrency');
const concurrency = ci > 0 ? Number(process.argv[ci + 1]) : undefined;
const r = new Redis({ db: 15 });
await r.flushdb();
const app = new Celery({ broker_url: URL, result_backend: null, env: {} });
let next = 0;
const lane = async () => {
  while (next++ < n) await app.sendTask(results ? 'bench.noop' : 'bench.noop_nr', [], {}, results ? { queue: q } : { queue: q, ignore_result: true });
};
await Promise.all(Array.from({ length: 500 }, lane));
await app.close();
const dir = join(HERE, 'results/prof');
const c = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', join(HERE, 'ts-worker.ts'), JSON.stringify({ url: URL, queue: q, concurrency })], { stdio: 'inherit' });
while ((await r.llen(q)) === n) await new Promise((s) => setTimeout(s, 2));
const t0 = performance.now();
while ((await r.llen(q)) > 0 || (await r.hlen('unacked')) > 0) await new Promise((s) => setTimeout(s, 5));
console.log(`${n} drained at ${(n / ((performance.now() - t0) / 1000)).toFixed(0)} tasks/s; profile in ${dir}`);
c.kill('SIGTERM');
await new Promise((s) => c.on('exit', s));
await r.flushdb();
r.disconnect();
