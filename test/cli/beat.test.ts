// `celeriac beat` and `celeriac worker -B` as a user starts them: from an app module with a
// beat_schedule, stopped with SIGTERM; the messages they sent are read back from Redis (db 1, unique
// queue names). The CLI runs from dist/ when it is built (bin/celeriac.js): `npm test` builds first.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_HOST, REDIS_PORT, redisUrl, uniqueName } from '../helpers/peers.ts';

const DB = 1;
const URL = redisUrl(DB);
const dir = resolve('tmp', `cli-beat-${randomBytes(4).toString('hex')}`);
mkdirSync(dir, { recursive: true });
const BIN = resolve('bin/celeriac.js');
const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB });
const queues: string[] = [];
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (queues.length) await redis.del(...queues);
  redis.disconnect();
});

const ENV = { CELERY_BROKER_URL: '', CELERY_RESULT_BACKEND: '', CELERY_APP: '', CELERY_CONFIG_MODULE: '' };

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...ENV } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Starts the CLI, lets it run `ms`, sends SIGTERM; resolves with its exit code and output. */
function runFor(args: string[], ms: number): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, ...ENV } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const timer = setTimeout(() => child.kill('SIGTERM'), ms);
  return new Promise((resolve) => child.on('exit', (code) => {
    clearTimeout(timer);
    resolve({ code, out, err });
  }));
}

function appModule(name: string, queue: string, body = ''): string {
  writeFileSync(join(dir, name), `import { createApp } from 'celeriac';
export const app = createApp({
  broker_url: '${URL}',
  beat_schedule: { tick: { task: 'cli.tick', schedule: 0.5, args: [7], options: { queue: '${queue}' } } },
});
${body}
`);
  return `./${name}`;
}

describe('celeriac beat', () => {
  test('mistakes: no -A is 64; an unknown -S is 64; add on the file store is 64', () => {
    let r = cli(['beat']);
    assert.equal(r.code, 64, r.err);
    assert.match(r.err, /beat needs -A\/--app MODULE/);
    const app = appModule('app-bad.mjs', uniqueName('cli.beat'));
    r = cli(['beat', '-A', app, '-S', 'django_celery_beat.schedulers:DatabaseScheduler']);
    assert.equal(r.code, 64, r.err);
    assert.match(r.err, /django-celery-beat's database scheduler is not supported/);
    r = cli(['beat', '-A', app, '-s', join(dir, 'bad.json'), 'add', 'x', '--task', 't', '--every', '5']);
    assert.equal(r.code, 64, r.err);
    assert.match(r.err, /needs the Redis store \(-S redis\)/);
    // an unreachable Redis store: one line naming the store and its URL (password hidden), EX_UNAVAILABLE
    for (const args of [['beat', '-A', app, '-S', 'redis'], ['beat', '-A', app, '-S', 'redis', 'list']]) {
      r = cli(['-b', 'redis://user:secret@127.0.0.1:1/0', ...args]);
      assert.equal(r.code, 69, r.err);
      assert.match(r.err, /^celeriac beat( list)?: OperationalError: cannot connect to the beat's Redis store redis:\/\/user:\*\*@127\.0\.0\.1:1\/0: .+\n$/);
      assert.doesNotMatch(r.err, /secret/);
    }
  });

  test('runs the schedule, stops warm on SIGTERM, and list shows the runs', async () => {
    const queue = uniqueName('cli.beat');
    queues.push(queue);
    const inited = join(dir, 'beat-init.txt');
    const app = appModule('app-beat.mjs', queue, `import { signals } from 'celeriac';
import { writeFileSync } from 'node:fs';
signals.beat_init.connect(() => writeFileSync(${JSON.stringify(inited)}, 'beat_init'));`);
    const file = join(dir, 'schedule.json');
    const r = await runFor(['beat', '-A', app, '-s', file, '--max-interval', '0.2', '-l', 'info'], 6000);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /celeriac beat v.* is starting/);
    assert.match(r.err, /Scheduler: Sending due task tick \(cli\.tick\)/);
    const messages = (await redis.lrange(queue, 0, -1)).map((m) => JSON.parse(m) as { headers: Record<string, unknown> });
    assert.ok(messages.length >= 2, `${messages.length} messages`);
    for (const m of messages) {
      assert.equal(m.headers.task, 'cli.tick');
      assert.equal(m.headers.periodic_task_name, 'tick');
    }
    assert.ok(existsSync(file));
    assert.equal(readFileSync(inited, 'utf8'), 'beat_init');
    assert.equal(existsSync(`${file}.lock`), false, 'the lock file is removed on a warm stop');
    const list = cli(['beat', '-A', app, '-s', file, 'list', '--json']);
    assert.equal(list.code, 0, list.err);
    const entry = JSON.parse(list.out.trim()) as { name: string; total_run_count: number; repr: string };
    assert.equal(entry.name, 'tick');
    assert.equal(entry.total_run_count, messages.length);
    assert.equal(entry.repr, '<freq: now>'); // Celery's humanize_seconds says "now" below a second
  });

  test('worker -B runs the beat inside the worker, which runs what it sends', async () => {
    const queue = uniqueName('cli.beatw');
    queues.push(queue);
    const out = join(dir, 'ran.txt');
    const embedded = join(dir, 'beat-embedded.txt');
    const app = appModule('app-worker-b.mjs', queue, `import { appendFileSync, writeFileSync } from 'node:fs';
import { signals } from 'celeriac';
signals.beat_embedded_init.connect(() => writeFileSync(${JSON.stringify(embedded)}, 'beat_embedded_init'));
app.task('cli.tick', (n) => appendFileSync(${JSON.stringify(out)}, n + '\\n'));`);
    const r = await runFor(['worker', '-A', app, '-B', '-s', join(dir, 'wb.json'), '-Q', queue, '--without-mingle', '-l', 'info'], 7000);
    assert.equal(r.code, 0, r.err);
    const ran = readFileSync(out, 'utf8').trim().split('\n');
    assert.ok(ran.length >= 2, `${ran.length} runs`);
    assert.deepEqual(new Set(ran), new Set(['7']));
    assert.equal(readFileSync(embedded, 'utf8'), 'beat_embedded_init');
  });
});
