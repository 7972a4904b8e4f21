// A connected Redis producer during an outage, on a PRIVATE redis-server (killed, SIGSTOPped, restarted
// on the same port), TypeScript and Python Celery 5.6 side by side:
// (a) Redis killed: sendTask rejects with OperationalError after task_publish_retry_policy, naming the
//     URL and saying the message was not sent; Python's apply_async raises kombu's OperationalError too.
// (b) socket_timeout 0.5, Redis SIGSTOPped: the publish was written, so its outcome is unknown: it fails
//     with OperationalError (delivery 'uncertain', not retried); after SIGCONT the queue holds it ONCE.
//     If instead the connection is lost before Redis answered, ioredis does not resend it: a publish
//     reported as failed never shows up after the reconnect.
// (c) Redis back on the same port: the next sendTask of the same app succeeds.
// Times are printed (figures for the report), never asserted.
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { OperationalError } from '../../src/errors.ts';
import type { RedisBroker } from '../../src/brokers/redis/broker.ts';
import { PYTHON, requirePython, uniqueName } from '../helpers/peers.ts';
import { cleanupDirs, portOpen, REDIS_SERVER, requireBinaries, startRedis, stopAll, tempDir, type PrivateRedis } from '../helpers/private-redis.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A redis-server on a fixed port (the one a killed private server had), no persistence. */
const restarted: ChildProcess[] = [];
async function restartOn(port: number): Promise<ChildProcess> {
  const child = spawn(REDIS_SERVER, ['--bind', '127.0.0.1', '--port', String(port), '--dir', tempDir('outage'), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  restarted.push(child);
  await waitFor(() => portOpen(port), `redis-server on ${port}`);
  return child;
}

/** The Python producer of test/python/redis_outage_peer.py: one JSON line per `go`. */
class PyProducer {
  readonly child: ChildProcess;
  readonly #lines: string[] = [];
  #wake: (() => void) | undefined;
  #err = '';
  constructor(url: string, queue: string, socketTimeout: string) {
    this.child = spawn(PYTHON, ['test/python/redis_outage_peer.py', url, queue, socketTimeout], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => (this.#err += d.toString('utf8')));
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      this.#lines.push(l);
      this.#wake?.();
    });
  }
  async line(ms = 60_000): Promise<string> {
    const end = Date.now() + ms;
    while (this.#lines.length === 0) {
      if (this.child.exitCode !== null || Date.now() > end) throw new Error(`python producer: no output (exit ${this.child.exitCode}):\n${this.#err}`);
      await new Promise<void>((r) => {
        this.#wake = r;
        setTimeout(r, 200);
      });
    }
    return this.#lines.shift()!;
  }
  async send(): Promise<{ error: string | null; message?: string; seconds: number }> {
    this.child.stdin!.write('go\n');
    return JSON.parse(await this.line()) as { error: string | null; message?: string; seconds: number };
  }
  stop(): void {
    this.child.stdin!.end();
    this.child.kill('SIGKILL');
  }
}

let skip = false;
const apps: Celery[] = [];
const pys: PyProducer[] = [];

function newApp(url: string, transport: Record<string, unknown> = {}, conf: Record<string, unknown> = {}): Celery {
  const app = new Celery({ broker_url: url, env: {}, broker_transport_options: transport, ...conf });
  apps.push(app);
  return app;
}

function checkPeers(t: TestContext): boolean {
  if (skip || !requireBinaries(t) || !requirePython(t)) {
    skip = true;
    return false;
  }
  return true;
}

after(async () => {
  for (const p of pys) p.stop();
  for (const a of apps) await a.close().catch(() => undefined);
  for (const c of restarted) c.kill('SIGKILL');
  await stopAll();
  cleanupDirs();
});

async function llen(port: number, queue: string): Promise<number> {
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    return await c.llen(queue);
  } finally {
    c.disconnect();
  }
}

describe('a connected Redis producer while Redis is down', () => {
  test('(a) Redis killed: OperationalError after the retry policy, as Python; (c) Redis back: the same app sends again', { timeout: 90_000 }, async (t) => {
    if (!checkPeers(t)) return;
    const redis: PrivateRedis = await startRedis({ prefix: 'outage-a' });
    const url = `redis://127.0.0.1:${redis.port}/0`;
    const queue = uniqueName('outage.a');
    const app = newApp(url);
    const py = new PyProducer(url, queue, '-');
    pys.push(py);
    await app.sendTask('outage.noop', ['before'], {}, { queue });
    assert.equal(await py.line(), 'sent');
    assert.equal(await llen(redis.port, queue), 2);

    await redis.stop();
    const client = (app.broker as RedisBroker).client;
    await waitFor(() => client.status !== 'ready', 'the TypeScript client to notice the outage');

    const t0 = performance.now();
    const err = await app.sendTask('outage.noop', ['during'], {}, { queue }).then(() => null, (e: unknown) => e);
    const tsSeconds = (performance.now() - t0) / 1000;
    assert.ok(err instanceof OperationalError, `expected OperationalError, got ${String(err)}`);
    assert.equal(err.delivery, 'not-sent');
    assert.equal(err.retries, 3);
    assert.match(err.message, new RegExp(`^cannot publish to redis://127\\.0\\.0\\.1:${redis.port}/0 .* after 3 retries: Redis broker redis://127\\.0\\.0\\.1:${redis.port}/0 is not connected \\(.+\\): the message was not sent and will not be delivered$`));

    const pyOut = await py.send();
    assert.equal(pyOut.error, 'kombu.exceptions.OperationalError', JSON.stringify(pyOut));
    t.diagnostic(`Redis killed: TypeScript OperationalError after ${tsSeconds.toFixed(3)} s (${err.message}), Python ${pyOut.error} after ${pyOut.seconds} s (${pyOut.message})`);

    // (c) the server comes back on the same port (empty): the same app publishes again
    await restartOn(redis.port);
    const t1 = performance.now();
    // the publish connects at once (not after ioredis's backoff): Celery's default retry policy is enough
    await app.sendTask('outage.noop', ['after'], {}, { queue });
    t.diagnostic(`Redis back: sendTask succeeded after ${((performance.now() - t1) / 1000).toFixed(3)} s`);
    assert.equal(await llen(redis.port, queue), 1, 'the message sent during the outage was not delivered later; the one after is there');
    const again = await py.send();
    assert.equal(again.error, null, JSON.stringify(again));
    assert.equal(await llen(redis.port, queue), 2);
  });

  test('(b) socket_timeout 0.5 and a SIGSTOPped Redis: OperationalError saying delivery is uncertain; never resent', { timeout: 90_000 }, async (t) => {
    if (!checkPeers(t)) return;
    const redis = await startRedis({ prefix: 'outage-b' });
    const url = `redis://127.0.0.1:${redis.port}/0`;
    const queue = uniqueName('outage.b');
    const app = newApp(url, { socket_timeout: 0.5 });
    await app.sendTask('outage.noop', ['before'], {}, { queue });
    assert.equal(await llen(redis.port, queue), 1);

    // 1. SIGSTOP, publish (written, no reply), SIGCONT: Redis runs it once; nothing else sends it again
    redis.process.kill('SIGSTOP');
    let t0 = performance.now();
    let err = await app.sendTask('outage.noop', ['stopped-1'], {}, { queue }).then(() => null, (e: unknown) => e);
    t.diagnostic(`SIGSTOP: TypeScript OperationalError after ${((performance.now() - t0) / 1000).toFixed(3)} s: ${(err as Error)?.message}`);
    assert.ok(err instanceof OperationalError, `expected OperationalError, got ${String(err)}`);
    assert.equal(err.delivery, 'uncertain');
    assert.equal(err.retries, 0, 'a publish that may have arrived is not retried');
    assert.match(err.message, new RegExp(`^cannot publish to redis://127\\.0\\.0\\.1:${redis.port}/0 .*: LPUSH to the Redis broker redis://127\\.0\\.0\\.1:${redis.port}/0 failed: no reply within socket_timeout \\(0\\.5 s\\); Redis may have received it, so the message may have been delivered \\(not retried, to avoid a duplicate\\)$`));
    redis.process.kill('SIGCONT');
    await app.sendTask('outage.noop', ['after-cont'], {}, { queue });
    assert.equal(await llen(redis.port, queue), 3, 'before + stopped-1 (once: Redis read it before the stop ended) + after-cont');

    // 2. SIGSTOP, publish times out, then the server dies: ioredis must not resend it to the new server
    redis.process.kill('SIGSTOP');
    t0 = performance.now();
    err = await app.sendTask('outage.noop', ['stopped-2'], {}, { queue }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof OperationalError && err.delivery === 'uncertain', String(err));
    const client = (app.broker as RedisBroker).client;
    await redis.stop();
    await waitFor(() => client.status !== 'ready', 'the TypeScript client to notice the outage');
    const second = await restartOn(redis.port);
    await waitFor(() => client.status === 'ready', 'the TypeScript client to reconnect');
    await app.sendTask('outage.noop', ['after-restart'], {}, { queue });
    assert.equal(await llen(redis.port, queue), 1, 'only after-restart: the LPUSH reported as failed was not resent after the reconnect');

    // 3. the same against a Python producer (figures only): what Celery does with socket_timeout
    const py = new PyProducer(url, uniqueName('outage.b.py'), '0.5');
    pys.push(py);
    assert.equal(await py.line(), 'sent');
    const pyQueue = py.child.spawnargs[3]!;
    second.kill('SIGSTOP');
    const pyOut = await py.send();
    second.kill('SIGCONT');
    await sleep(300);
    const copies = (await llen(redis.port, pyQueue)) - 1;
    t.diagnostic(`SIGSTOP, Python: ${pyOut.error} after ${pyOut.seconds} s (${pyOut.message}); copies of the failed message after SIGCONT: ${copies}`);
    assert.equal(pyOut.error, 'kombu.exceptions.OperationalError', JSON.stringify(pyOut));
  });

  test('a publish in flight when Redis dies waits for the reconnect no longer than broker_connection_timeout, and is not resent after it', { timeout: 90_000 }, async (t) => {
    if (!checkPeers(t)) return;
    const redis = await startRedis({ prefix: 'outage-c' });
    const url = `redis://127.0.0.1:${redis.port}/0`;
    const queue = uniqueName('outage.c');
    const app = newApp(url, {}, { broker_connection_timeout: 1 });
    await app.sendTask('outage.noop', ['before'], {}, { queue });
    const client = (app.broker as RedisBroker).client;
    // no socket_timeout: the LPUSH written to a stopped server waits for its reply...
    redis.process.kill('SIGSTOP');
    const t0 = performance.now();
    const pending = app.sendTask('outage.noop', ['in-flight'], {}, { queue }).then(() => null, (e: unknown) => e);
    await sleep(200);
    // ...until the server dies: ioredis would resend it after a reconnect, however late
    await redis.stop();
    const err = await pending;
    t.diagnostic(`in flight at the loss: ${((performance.now() - t0) / 1000).toFixed(3)} s: ${(err as Error)?.message}`);
    assert.ok(err instanceof OperationalError, `expected OperationalError, got ${String(err)}`);
    assert.equal(err.delivery, 'uncertain');
    assert.match(err.message, /LPUSH to the Redis broker redis:\/\/127\.0\.0\.1:\d+\/0 failed: the connection was lost before Redis answered, and not back within broker_connection_timeout \(1 s\); Redis may have received it, so the message may have been delivered/);
    await restartOn(redis.port);
    await app.sendTask('outage.noop', ['after'], {}, { queue });
    await waitFor(() => client.status === 'ready', 'the reconnect');
    await sleep(200);
    assert.equal(await llen(redis.port, queue), 1, 'only "after": the failed one was not resent');
  });
});
