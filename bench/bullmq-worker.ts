/** A BullMQ worker running a no-op processor, in its own process (BullMQ's own queue format). */
import { Worker } from 'bullmq';

const cfg = JSON.parse(process.argv[2] ?? '{}') as { host: string; port: number; db: number; queue: string; concurrency: number };
const worker = new Worker(cfg.queue, async () => null, {
  connection: { host: cfg.host, port: cfg.port, db: cfg.db, maxRetriesPerRequest: null },
  concurrency: cfg.concurrency,
});
worker.on('error', (err) => process.stderr.write(`bullmq worker: ${err.message}\n`));
const stop = () => {
  worker.close().then(() => process.exit(0), () => process.exit(1));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
await worker.waitUntilReady();
process.stdout.write('READY\n');
