/**
 * A celery-node worker (Redis broker + Redis backend) serving the benchmark's no-op tasks, in its
 * own process. celery-node logs two console.info lines per task; they are silenced here (the Python
 * worker runs at -l warning, celeriac with a silent logger). celery-node always stores results.
 */
import { createRequire } from 'node:module';

const celery = createRequire(import.meta.url)('celery-node') as typeof import('celery-node');

const cfg = JSON.parse(process.argv[2] ?? '{}') as { url: string; queue: string };
console.info = () => undefined;
const worker = celery.createWorker(cfg.url, cfg.url, cfg.queue);
worker.register('bench.noop', () => null);
worker.register('bench.noop_nr', () => null);
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
void worker.start();
await worker.isReady();
process.stdout.write('READY\n');
