// The reply queue of a remote-control call leaves nothing behind on Redis, as kombu's
// after_reply_message_received (queue_delete: the binding member and the lists) does: neither the
// programmatic client (app.control, two calls in flight sharing one queue) nor `celeriac inspect`,
// whose process ends right after. Without it, `_kombu.binding.reply.<ns>.pidbox` grew by one member
// per call. Redis db 12, a control exchange of its own.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { Worker } from '../../src/worker/worker.ts';
import { redisUrl, uniqueName } from '../helpers/peers.ts';
import { newApp, testLogger } from '../helpers/worker.ts';

const URL = redisUrl(12);
const NS = uniqueName('replyq');
const Q = uniqueName('replyq.q');
const redis = new Redis(URL, { lazyConnect: true });

after(async () => {
  redis.disconnect();
});

/** Every key this test's control exchange left: reply bindings and reply lists. */
async function leftovers(): Promise<string[]> {
  const keys = await redis.keys(`*${NS}*`);
  const members = await redis.smembers(`_kombu.binding.reply.${NS}.pidbox`);
  return [...keys.filter((k) => k.includes('.reply.') || k.startsWith('_kombu.binding.reply.')), ...members];
}

test('app.control and celeriac inspect delete their reply queue when done (Redis)', { timeout: 60_000 }, async () => {
  await redis.connect();
  const settings = { control_exchange: NS, event_exchange: `${NS}.ev` };
  const wapp = newApp(Q, settings, { broker: URL, backend: URL });
  const worker = new Worker(wapp, { queues: [Q], concurrency: 1, hostname: `${Q}@%h`, logger: testLogger(), withoutMingle: true });
  await worker.start();
  try {
    const app = newApp(Q, settings, { broker: URL, backend: URL });
    const [a, b] = await Promise.all([app.control.inspect({ timeout: 2 }).ping(), app.control.ping({ timeout: 2 })]);
    assert.ok(a && Object.keys(a).some((n) => n.startsWith(Q)), `inspect ping: ${JSON.stringify(a)}`);
    assert.ok(b.length >= 1, `ping: ${JSON.stringify(b)}`);
    assert.ok((await redis.smembers(`_kombu.binding.reply.${NS}.pidbox`)).length >= 1, 'the reply queue is bound while the client lingers');
    await app.close();
    assert.deepEqual(await leftovers(), []);

    const dir = mkdtempSync(join(tmpdir(), 'celeriac-replyq-'));
    const cfg = join(dir, 'celeryconfig.mjs');
    writeFileSync(cfg, `export const control_exchange = ${JSON.stringify(NS)};\n`);
    // not spawnSync: the worker answering the CLI runs in this process
    const r = await promisify(execFile)(process.execPath, [resolve('bin/celeriac.js'), '-b', URL, '--config', cfg, 'inspect', 'ping', '-t', '2', '-j'], {
      encoding: 'utf8', timeout: 30_000, env: { ...process.env, CELERY_BROKER_URL: '', CELERY_APP: '', CELERY_CONFIG_MODULE: '' },
    });
    rmSync(dir, { recursive: true, force: true });
    assert.match(r.stdout, new RegExp(Q.replace(/[.]/g, '\\.')), 'the worker answered the CLI');
    assert.deepEqual(await leftovers(), []);
  } finally {
    await worker.stop();
    await wapp.close();
  }
});
