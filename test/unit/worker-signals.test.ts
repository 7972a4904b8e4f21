// The worker's signal handlers (src/worker/service/signals.ts) driven directly, with a stand-in worker:
// Celery 5.6.3's order of warm, cold and hard shutdowns and exit statuses (checked against a Python
// worker in test/interop/worker-service.test.ts), and Celery 5.5's soft shutdown.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { installWorkerSignals, type SignalledWorker } from '../../src/worker/service/signals.ts';
import { silentLogger } from '../../src/worker/log.ts';

function harness(options: { active?: number; soft?: { timeout: number; onIdle?: boolean } } = {}) {
  const events: string[] = [];
  const handlers = new Map<string, () => void>();
  let release!: () => void;
  const running = new Promise<void>((r) => (release = r));
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => (resolveExit = r));
  const worker = {
    hostname: 'w@h',
    stop: (o: { cold?: boolean } = {}) => {
      events.push(o.cold ? 'stop:cold' : 'stop:warm');
      if (o.cold) release();
      return running;
    },
    requestsSnapshot: () => ({ active: Array.from({ length: options.active ?? 0 }), reserved: [], scheduled: [] }),
  } as unknown as SignalledWorker;
  installWorkerSignals({
    worker, service: { write: (l) => events.push(`log:${l.split('\n')[0]}`), pidfile: null },
    logger: { ...silentLogger, warning: (m) => events.push(`warning:${m}`) },
    ...(options.soft ? { softShutdown: options.soft } : {}),
    on: (sig, h) => void handlers.set(sig, h),
    say: (l) => events.push(`say:${l}`),
    exit: (code) => {
      events.push(`exit:${code}`);
      resolveExit(code);
    },
    restartOnHup: false,
    remapSigterm: false,
  });
  const send = (sig: string) => handlers.get(sig)!();
  return { events, send, release, exited };
}

describe('worker signals', () => {
  test('TERM: warm, exit 0; a second TERM changes nothing', async () => {
    const h = harness({ active: 1 });
    h.send('SIGTERM');
    h.send('SIGTERM');
    await new Promise((r) => setImmediate(r));
    assert.ok(!h.events.includes('stop:cold'));
    h.release();
    assert.equal(await h.exited, 0);
    assert.deepEqual(h.events, ['stop:warm', 'exit:0']);
  });

  test('INT then INT: warm, then cold, exit 1; a third INT ends at once', async () => {
    const h = harness({ active: 1 });
    h.send('SIGINT');
    h.send('SIGINT');
    h.send('SIGINT');
    assert.equal(await h.exited, 1);
    assert.deepEqual(h.events.slice(0, 4), [
      'say:worker: Hitting Ctrl+C again will initiate cold shutdown, terminating all running tasks!',
      'say:worker: Hitting Ctrl+C again will terminate all running tasks!',
      'stop:cold',
      'exit:1', // the third INT: Celery's hard shutdown
    ]);
  });

  test('QUIT: cold at once, exit 0 (no soft shutdown configured)', async () => {
    const h = harness({ active: 1 });
    h.send('SIGQUIT');
    assert.equal(await h.exited, 0);
    assert.equal(h.events[0], 'say:worker: Hitting Ctrl+C again will terminate all running tasks!');
    assert.ok(h.events.indexOf('stop:cold') >= 0);
  });

  test('soft shutdown: QUIT with a task running stops warm first, goes cold when the timeout ends', async () => {
    const h = harness({ active: 1, soft: { timeout: 0.05 } });
    h.send('SIGQUIT');
    assert.equal(await h.exited, 0);
    assert.deepEqual(h.events, [
      'say:worker: Hitting Ctrl+C again will terminate all running tasks!',
      'warning:Initiating Soft Shutdown, terminating in 0.05 seconds',
      'stop:warm', // stop consuming, wait for the running task...
      'stop:cold', // ...until the timeout
      'exit:0',
    ]);
  });

  test('soft shutdown: idle workers go cold at once unless worker_enable_soft_shutdown_on_idle', async () => {
    const idle = harness({ active: 0, soft: { timeout: 60 } });
    idle.send('SIGQUIT');
    assert.equal(await idle.exited, 0);
    assert.ok(!idle.events.some((e) => e.startsWith('warning:')));
    const onIdle = harness({ active: 0, soft: { timeout: 60, onIdle: true } });
    onIdle.send('SIGQUIT');
    assert.equal(onIdle.events[1], 'warning:Initiating Soft Shutdown, terminating in 60 seconds');
    // a second QUIT during the soft shutdown ends it (Celery's during_soft_shutdown), a third is hard
    onIdle.send('SIGQUIT');
    assert.ok(onIdle.events.includes('say:Waiting gracefully for cold shutdown to complete...'));
    assert.ok(onIdle.events.includes('stop:cold'));
    assert.equal(await onIdle.exited, 0);
    onIdle.send('SIGQUIT');
    assert.equal(onIdle.events.at(-1), 'exit:1');
  });

  test('USR1 writes the state to the log', () => {
    const h = harness({ active: 0 });
    h.send('SIGUSR1');
    assert.deepEqual(h.events, [`log:w@h (pid ${process.pid}): 0 running task(s)`]);
  });
});
