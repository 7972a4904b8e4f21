/**
 * The celeriac worker of the benchmark, in its own process so its RSS is measured like Python's.
 *
 *   node --import tsx bench/ts-worker.ts '{"url":"redis://127.0.0.1:6379/15","queue":"q","concurrency":2}'
 *
 * `backend` (default: `url`) is the result backend (the RabbitMQ section: redis://... or rpc://).
 * Serves `bench.noop` (stores its result) and `bench.noop_nr` (ignore_result). Prints READY on stdout
 * once consuming; SIGTERM/SIGINT stop it (warm) and exit.
 */
import { Celery } from '../src/app.ts';
import { Worker } from '../src/worker/worker.ts';
import { silentLogger } from '../src/worker/log.ts';

const cfg = JSON.parse(process.argv[2] ?? '{}') as { url: string; queue: string; backend?: string; concurrency?: number; prefetch?: number };
const app = new Celery({ broker_url: cfg.url, result_backend: cfg.backend ?? cfg.url, task_default_queue: cfg.queue, env: {} });
app.task('bench.noop', () => null);
app.task('bench.noop_nr', () => null, { ignore_result: true });
const worker = new Worker(app, {
  queues: [cfg.queue],
  ...(cfg.concurrency ? { concurrency: cfg.concurrency } : {}),
  ...(cfg.prefetch !== undefined ? { prefetchMultiplier: cfg.prefetch } : {}),
  hostname: `bench-ts-${process.pid}@%h`,
  logger: silentLogger,
});
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  worker.stop().then(() => process.exit(0), () => process.exit(1));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
await worker.start();
process.stdout.write(`READY concurrency=${worker.concurrency} prefetch=${worker.basePrefetch}\n`);
