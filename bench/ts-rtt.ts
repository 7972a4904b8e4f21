/**
 * celeriac round trip: sequential `await (await app.sendTask('bench.noop')).get()`.
 * Input (argv[2], JSON): {url, queue, n, warmup, backend?} (backend defaults to url). Output (stdout, JSON): {"ms": [...]}.
 */
import { performance } from 'node:perf_hooks';
import { Celery } from '../src/app.ts';

const cfg = JSON.parse(process.argv[2] ?? '{}') as { url: string; queue: string; n: number; warmup: number; backend?: string };
const app = new Celery({ broker_url: cfg.url, result_backend: cfg.backend ?? cfg.url, env: {} });
const call = async (timeout: number) => (await app.sendTask('bench.noop', [], {}, { queue: cfg.queue })).get({ timeout });
await call(60); // waits for the worker to come up
for (let i = 0; i < cfg.warmup; i++) await call(10);
const ms: number[] = [];
for (let i = 0; i < cfg.n; i++) {
  const t0 = performance.now();
  await call(10);
  ms.push(performance.now() - t0);
}
await app.close();
process.stdout.write(JSON.stringify({ ms }) + '\n');
process.exit(0);
