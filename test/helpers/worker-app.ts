/** The app the CLI worker tests start with `celeriac worker -A test/helpers/worker-app.ts`. */
import { Celery } from '../../src/app.ts';

const queue = process.env.CELERIAC_TEST_QUEUE ?? 'celery';
const app = new Celery({
  task_default_queue: queue,
  broker_transport_options: { visibility_timeout: Number(process.env.CELERIAC_TEST_VISIBILITY ?? 3600) },
  worker_soft_shutdown_timeout: Number(process.env.CELERIAC_TEST_SOFT_SHUTDOWN ?? 0),
});

app.task('tscli.add', (x: number, y: number) => x + y);
app.task('tscli.sleep', async (ms: number) => {
  await new Promise((r) => setTimeout(r, ms));
  return ms;
});
app.task('tscli.late_sleep', async (ms: number) => {
  await new Promise((r) => setTimeout(r, ms));
  return process.pid;
}, { acksLate: true });
app.task('tscli.who', () => `ts:${process.pid}`);

export default app;
