// The Redis result backend and AsyncResult against real Redis (db 9/10) and real Python Celery 5.6:
// TypeScript reads what a Python worker wrote, Python reads what TypeScript wrote, Celery's store rules.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { PYTHON, REDIS_HOST, REDIS_PORT, redisUrl, requirePython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { RedisBackend } from '../../src/backends/redis.ts';
import { createBackend, DisabledBackend } from '../../src/backends/index.ts';
import { NoResultBackendError, ResultTimeoutError } from '../../src/backend.ts';
import { AsyncResult, GroupResult } from '../../src/result.ts';
import { ConfigurationError } from '../../src/redis/url.ts';
import { buildResultMeta, parseResultMeta, type ResultMeta } from '../../protocol/result.ts';
import { PythonError, TaskRevokedError } from '../../protocol/exceptions.ts';
import { parseKombuJson } from '../../protocol/serialization/index.ts';

const DB = 9;
const URL9 = redisUrl(DB);
const PEER = 'test/python/backend_peer.py';
const pyEnv = (extra: Record<string, string> = {}) => ({
  ...process.env,
  CELERIAC_BROKER_URL: URL9,
  CELERIAC_BACKEND_URL: URL9,
  PYTHONDONTWRITEBYTECODE: '1',
  ...extra,
});

/** Like peers.runPython, with extra environment (e.g. the global key prefix). */
function peer(input: unknown, env: Record<string, string> = {}): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [PEER], { stdio: ['pipe', 'pipe', 'pipe'], env: pyEnv(env) });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${PEER} exited ${code}:\n${err}`))));
    child.stdin.end(JSON.stringify(input));
  });
}

const id = (what: string) => uniqueName(`rb-${what}`);
const raw = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB, lazyConnect: true });
let backend: RedisBackend;

before(async () => {
  backend = new RedisBackend(URL9);
  await backend.connect();
  await raw.connect();
});
after(async () => {
  await backend.close();
  raw.disconnect();
});

async function waitFor(cond: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// ---------------------------------------------------------------------------------------------
describe('TypeScript reads what a Python Celery worker wrote', () => {
  const queue = uniqueName('rb-queue');
  let worker: PythonWorker | null = null;

  before(async () => {
    if (!requirePythonQuiet()) return;
    worker = await startPythonWorker(
      ['-A', 'backend_tasks', 'worker', '-P', 'solo', '--without-mingle', '--without-gossip',
        '--without-heartbeat', '-Q', queue, '-n', `${queue}@%h`, '--loglevel=INFO'],
      { env: pyEnv({ PYTHONPATH: 'test/python' }), timeoutMs: 30_000 },
    );
  });
  after(async () => {
    if (!worker) return;
    await worker.stop();
    await raw.del(queue);
  });

  async function send(t: TestContext, name: string, args: unknown[], early = true): Promise<AsyncResult | null> {
    if (!requirePython(t)) return null;
    const taskId = id(name);
    if (early) backend.onTaskCall(taskId); // what the producer does when it sends
    await peer({ op: 'send', name: `backend_tasks.${name}`, args, task_id: taskId, queue });
    return new AsyncResult(taskId, backend);
  }

  test('SUCCESS: get() resolves the value; state, dateDone, children', async (t) => {
    const r = await send(t, 'add', [2, 3]);
    if (!r) return;
    assert.equal(await r.get({ timeout: 30 }), 5);
    assert.equal(await r.state(), 'SUCCESS');
    assert.equal(await r.ready(), true);
    assert.equal(await r.successful(), true);
    assert.equal(await r.failed(), false);
    assert.ok((await r.dateDone()) instanceof Date);
    assert.deepEqual(await r.children(), []);
    assert.equal(String(r), r.id);
  });

  test('FAILURE: get() throws the typed PythonError with args, module and the Python traceback', async (t) => {
    const r = await send(t, 'fail', ['boom', 42]);
    if (!r) return;
    const err = await r.get({ timeout: 30 }).then(
      () => assert.fail('expected a failure'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof PythonError);
    assert.equal(err.excType, 'CustomError');
    assert.equal(err.excModule, 'backend_tasks');
    assert.deepEqual(err.excMessage, ['boom', 42]);
    assert.equal(err.message, "CustomError('boom', 42)");
    assert.equal(err.state, 'FAILURE');
    assert.match(err.traceback ?? '', /Traceback \(most recent call last\)/);
    assert.match(err.traceback ?? '', /raise CustomError\(msg, code\)/);
    assert.equal(await r.traceback(), err.traceback);
    assert.equal(await r.failed(), true);
    // propagate: false returns the error instead of throwing it
    const value = await r.get({ propagate: false });
    assert.ok(value instanceof PythonError);
    assert.equal(value.excType, 'CustomError');
    const info = await r.info();
    assert.ok(info instanceof PythonError);
  });

  test('custom state PROGRESS is seen through onMessage before SUCCESS', async (t) => {
    const r = await send(t, 'progress', [3, 0.3]);
    if (!r) return;
    const seen: ResultMeta[] = [];
    const value = await r.get({ timeout: 30, onMessage: (m) => seen.push(m) });
    assert.deepEqual(value, { done: 3 });
    const progress = seen.filter((m) => m.status === 'PROGRESS').map((m) => m.result);
    assert.ok(progress.length >= 2, `PROGRESS messages seen: ${JSON.stringify(seen.map((m) => m.status))}`);
    assert.deepEqual(progress.at(-1), { current: 3, total: 3 });
    assert.equal(seen.at(-1)?.status, 'SUCCESS');
  });

  test('RETRY then SUCCESS: onMessage sees RETRY with the exception, get() the final value', async (t) => {
    const r = await send(t, 'retry_once', [21]);
    if (!r) return;
    const seen: ResultMeta[] = [];
    assert.equal(await r.get({ timeout: 30, onMessage: (m) => seen.push(m) }), 42);
    const retry = seen.find((m) => m.status === 'RETRY');
    assert.ok(retry, `states seen: ${JSON.stringify(seen.map((m) => m.status))}`);
    assert.deepEqual(retry.result, { exc_type: 'CustomError', exc_message: ['first attempt', 21], exc_module: 'backend_tasks' });
    assert.match(retry.traceback ?? '', /Retry|CustomError/);
  });

  test('state() follows a running task: PENDING, PROGRESS, SUCCESS', async (t) => {
    const r = await send(t, 'progress', [2, 0.5], false);
    if (!r) return;
    const states = new Set<string>();
    await waitFor(async () => {
      states.add(await r.state());
      return states.has('SUCCESS');
    }, 'SUCCESS', 30_000);
    assert.ok(states.has('PROGRESS'), [...states].join(','));
    const pending = new AsyncResult(id('never'), backend);
    assert.equal(await pending.state(), 'PENDING');
    assert.equal(await pending.result(), null);
    assert.equal(await pending.traceback(), null);
    assert.equal(await pending.dateDone(), null);
  });

  test('a slow task: get() times out with a TimeoutError naming the task and the seconds', async (t) => {
    const r = await send(t, 'sleep', [2]);
    if (!r) return;
    const err = await r.get({ timeout: 0.3 }).catch((e: unknown) => e);
    assert.ok(err instanceof ResultTimeoutError);
    assert.equal(err.name, 'TimeoutError');
    assert.equal(err.taskId, r.id);
    assert.equal(err.timeout, 0.3);
    assert.match(err.message, new RegExp(`${r.id}.*0\\.3 s`));
    assert.equal(await r.get({ timeout: 30 }), 2);
  });
});

function requirePythonQuiet(): boolean {
  return existsSync(PYTHON);
}

// ---------------------------------------------------------------------------------------------
describe('Python Celery reads what TypeScript wrote', () => {
  test('SUCCESS', async (t) => {
    if (!requirePython(t)) return;
    const taskId = id('ts-success');
    await backend.storeResult(buildResultMeta({ taskId, state: 'SUCCESS', result: { a: [1, 2], b: 'x' } }));
    const out = await peer({ op: 'read', task_id: taskId, get_timeout: 5 });
    assert.equal(out.state, 'SUCCESS');
    assert.deepEqual(out.info, { a: [1, 2], b: 'x' });
    assert.deepEqual(out.get.value, { a: [1, 2], b: 'x' });
    assert.equal(out.traceback, null);
    assert.ok(out.date_done);
  });

  test('FAILURE with a custom PythonError: Python raises the real class with args and the traceback', async (t) => {
    if (!requirePython(t)) return;
    const taskId = id('ts-failure');
    const traceback = 'Traceback (most recent call last):\n  at handler (tasks.ts:1:1)\nCustomError: boom';
    await backend.storeResult(
      buildResultMeta({
        taskId,
        state: 'FAILURE',
        result: new PythonError('CustomError', ['boom', 42], { excModule: 'backend_tasks' }),
        traceback,
      }),
    );
    const out = await peer({ op: 'read', task_id: taskId, get_timeout: 5 });
    assert.equal(out.state, 'FAILURE');
    assert.deepEqual(out.get.raised, {
      type: 'CustomError', module: 'backend_tasks', args: ['boom', 42], repr: "CustomError('boom', 42)", is_exception: true,
    });
    assert.equal(out.traceback, traceback);
    assert.equal(out.info.__exception__.type, 'CustomError');
  });

  test('FAILURE from a plain JavaScript TypeError is a Python builtins.TypeError', async (t) => {
    if (!requirePython(t)) return;
    const taskId = id('ts-typeerror');
    await backend.storeResult(buildResultMeta({ taskId, state: 'FAILURE', result: new TypeError('bad type'), traceback: 'TypeError: bad type' }));
    const out = await peer({ op: 'read', task_id: taskId, get_timeout: 5 });
    assert.deepEqual(out.get.raised, { type: 'TypeError', module: 'builtins', args: ['bad type'], repr: "TypeError('bad type')", is_exception: true });
    // and TypeScript reads it back as the same Python error
    const err = await new AsyncResult(taskId, backend).get().catch((e: unknown) => e);
    assert.ok(err instanceof PythonError);
    assert.equal(err.qualifiedName, 'builtins.TypeError');
  });

  test('PROGRESS and RETRY (not ready) and REVOKED', async (t) => {
    if (!requirePython(t)) return;
    const p = id('ts-progress');
    await backend.storeResult(buildResultMeta({ taskId: p, state: 'PROGRESS', result: { current: 1, total: 5 } }));
    let out = await peer({ op: 'read', task_id: p });
    assert.equal(out.state, 'PROGRESS');
    assert.deepEqual(out.info, { current: 1, total: 5 });
    assert.equal(out.date_done, null);

    const r = id('ts-retry');
    await backend.storeResult(
      buildResultMeta({ taskId: r, state: 'RETRY', result: new PythonError('CustomError', ['again'], { excModule: 'backend_tasks' }), traceback: 'tb' }),
    );
    out = await peer({ op: 'read', task_id: r });
    assert.equal(out.state, 'RETRY');
    assert.equal(out.info.__exception__.type, 'CustomError');
    assert.equal(out.traceback, 'tb');

    const v = id('ts-revoked');
    await backend.storeResult(buildResultMeta({ taskId: v, state: 'REVOKED', result: 'terminated' }));
    out = await peer({ op: 'read', task_id: v, get_timeout: 5 });
    assert.equal(out.state, 'REVOKED');
    assert.deepEqual(out.get.raised.type, 'TaskRevokedError');
    assert.deepEqual(out.get.raised.module, 'celery.exceptions');
    assert.deepEqual(out.get.raised.args, ['terminated']);
    const err = await new AsyncResult(v, backend).get().catch((e: unknown) => e);
    assert.ok(err instanceof TaskRevokedError);
  });

  test("the stored record equals Python's backend.encode() of the same meta", async (t) => {
    if (!requirePython(t)) return;
    const taskId = id('ts-encode');
    await backend.storeResult(buildResultMeta({ taskId, state: 'PROGRESS', result: { current: 1 } }));
    const ours = parseKombuJson((await raw.get(`celery-task-meta-${taskId}`))!);
    const theirs = parseKombuJson((await peer({ op: 'encode', task_id: taskId, state: 'PROGRESS', result: { current: 1 } })).encoded);
    assert.deepEqual(Object.keys(ours as object), Object.keys(theirs as object));
    assert.deepEqual(ours, theirs);
  });

  test('a Python get() waiting before TypeScript stores is woken by the PUBLISH', async (t) => {
    if (!requirePython(t)) return;
    const taskId = id('ts-wake');
    const channel = `celery-task-meta-${taskId}`;
    const waiting = peer({ op: 'read', task_id: taskId, get_timeout: 20 });
    await waitFor(async () => {
      const [, n] = (await raw.pubsub('NUMSUB', channel)) as [string, number];
      return Number(n) >= 1;
    }, 'the Python client to subscribe');
    await backend.storeResult(buildResultMeta({ taskId, state: 'SUCCESS', result: 'woken' }));
    const out = await waiting;
    assert.deepEqual(out.get, { value: 'woken', state: 'SUCCESS' });
  });
});

// ---------------------------------------------------------------------------------------------
describe("Celery's storage rules", () => {
  test('a stored SUCCESS is never overwritten; other states are', async () => {
    const taskId = id('no-overwrite');
    await backend.storeResult(buildResultMeta({ taskId, state: 'STARTED', result: { pid: 1, hostname: 'h' } }));
    await backend.storeResult(buildResultMeta({ taskId, state: 'SUCCESS', result: 1 }));
    assert.equal((await backend.getTaskMeta(taskId)).status, 'SUCCESS');
    await backend.storeResult(buildResultMeta({ taskId, state: 'FAILURE', result: new Error('late') }));
    await backend.storeResult(buildResultMeta({ taskId, state: 'STARTED', result: null }));
    const meta = await backend.getTaskMeta(taskId);
    assert.equal(meta.status, 'SUCCESS');
    assert.equal(meta.result, 1);
    // a FAILURE can be replaced (e.g. by a retried run's SUCCESS)
    const f = id('failure-then-success');
    await backend.storeResult(buildResultMeta({ taskId: f, state: 'FAILURE', result: new Error('x') }));
    await backend.storeResult(buildResultMeta({ taskId: f, state: 'SUCCESS', result: 2 }));
    assert.equal((await backend.getTaskMeta(f)).result, 2);
  });

  test('stores issued in one tick (sent together) follow the same rules, each answered for itself', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => id(`tick-${i}`));
    // ids[0]: SUCCESS already stored (kept); ids[1]: FAILURE stored (replaced); ids[2]: a record in a
    // content type the backend does not accept (handed back by the script: the store fails as Celery's)
    await backend.storeResult(buildResultMeta({ taskId: ids[0]!, state: 'SUCCESS', result: 'first' }));
    await backend.storeResult(buildResultMeta({ taskId: ids[1]!, state: 'FAILURE', result: new Error('x') }));
    await raw.set(`celery-task-meta-${ids[2]}`, 'not json at all');
    const sub = raw.duplicate();
    const published = new Set<string>();
    sub.on('message', (channel: string) => published.add(channel));
    await sub.subscribe(...ids.map((t) => `celery-task-meta-${t}`));
    const outcomes = await Promise.allSettled(ids.map((taskId, i) => backend.storeResult(buildResultMeta({ taskId, state: 'SUCCESS', result: i }))));
    assert.equal(outcomes[2]!.status, 'rejected', 'the undecodable record makes that store fail, as in Celery');
    assert.ok(outcomes.every((o, i) => i === 2 || o.status === 'fulfilled'));
    const metas = await backend.getMany(ids.filter((_, i) => i !== 2));
    assert.equal(metas[0]!.result, 'first', 'a stored SUCCESS is kept');
    assert.deepEqual(metas.slice(1).map((m) => [m.status, m.result]), ids.slice(1).filter((_, i) => i !== 1).map((_, k) => ['SUCCESS', k === 0 ? 1 : k + 2]));
    assert.equal(await raw.get(`celery-task-meta-${ids[2]}`), 'not json at all', 'nothing written over it');
    const ttl = await raw.ttl(`celery-task-meta-${ids[5]}`);
    assert.ok(ttl > 86390 && ttl <= 86400, String(ttl));
    for (let i = 0; i < 100 && published.size < 38; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual([...published].sort(), ids.slice(1).filter((_, i) => i !== 1).map((t) => `celery-task-meta-${t}`).sort(),
      'every record written was published once on its channel; the kept SUCCESS and the refused one were not');
    await sub.quit();
  });

  test('result_expires: SETEX with the default day, a custom TTL, and SET without expiry for 0/null', async () => {
    const a = id('ttl-default');
    await backend.storeResult(buildResultMeta({ taskId: a, state: 'SUCCESS', result: 1 }));
    const ttl = await raw.ttl(`celery-task-meta-${a}`);
    assert.ok(ttl > 86390 && ttl <= 86400, String(ttl));
    for (const [expires, check] of [
      [60, (n: number) => n > 50 && n <= 60],
      [0, (n: number) => n === -1],
      [null, (n: number) => n === -1],
    ] as const) {
      const b = new RedisBackend(URL9, { result_expires: expires });
      const tid = id('ttl');
      await b.storeResult(buildResultMeta({ taskId: tid, state: 'SUCCESS', result: 1 }));
      const n = await raw.ttl(`celery-task-meta-${tid}`);
      assert.ok(check(n), `expires=${expires}: ttl ${n}`);
      await b.close();
    }
  });

  test("global_keyprefix: keys equal Python's get_key_for_task, and Python reads the record", async (t) => {
    const b = new RedisBackend(URL9, { result_backend_transport_options: { global_keyprefix: 'pfx' } });
    const taskId = id('prefixed');
    assert.equal(b.keyForTask(taskId), `pfx_celery-task-meta-${taskId}`);
    assert.equal(new RedisBackend(URL9, { result_backend_transport_options: { global_keyprefix: 'app:' } }).keyForTask('x'), 'app:celery-task-meta-x');
    await b.storeResult(buildResultMeta({ taskId, state: 'SUCCESS', result: 'prefixed' }));
    assert.equal(await raw.exists(`pfx_celery-task-meta-${taskId}`), 1);
    assert.equal(await raw.exists(`celery-task-meta-${taskId}`), 0);
    assert.equal(await new AsyncResult(taskId, b).get({ timeout: 5 }), 'prefixed');
    if (requirePython(t)) {
      const keys = await peer({ op: 'key', task_id: taskId, group_id: 'gid' }, { CELERIAC_GLOBAL_KEYPREFIX: 'pfx' });
      assert.deepEqual(keys, { task: b.keyForTask(taskId), group: b.keyForGroup('gid') });
      const out = await peer({ op: 'read', task_id: taskId }, { CELERIAC_GLOBAL_KEYPREFIX: 'pfx' });
      assert.equal(out.info, 'prefixed');
    }
    await b.close();
  });

  test('forget() deletes the record; the result is PENDING again', async () => {
    const taskId = id('forget');
    await backend.storeResult(buildResultMeta({ taskId, state: 'SUCCESS', result: 1 }));
    const r = new AsyncResult(taskId, backend);
    assert.equal(await r.state(), 'SUCCESS');
    await r.forget();
    assert.equal(await r.state(), 'PENDING');
    assert.equal(await raw.exists(`celery-task-meta-${taskId}`), 0);
  });

  test('a record in a serializer outside result_accept_content is refused with ContentDisallowed', async () => {
    const b = new RedisBackend(URL9, { result_accept_content: ['msgpack'] });
    const taskId = id('accept');
    await backend.storeResult(buildResultMeta({ taskId, state: 'SUCCESS', result: 1 }));
    await assert.rejects(b.getTaskMeta(taskId), { name: 'ContentDisallowed' });
    await b.close();
  });

  test('msgpack result_serializer round-trips', async () => {
    const b = new RedisBackend(URL9, { result_serializer: 'msgpack', result_accept_content: ['msgpack'] });
    const taskId = id('msgpack');
    const waiting = new AsyncResult(taskId, b).get({ timeout: 5 });
    await b.storeResult(buildResultMeta({ taskId, state: 'SUCCESS', result: { n: 1n << 60n, s: "x" } }));
    assert.deepEqual(await waiting, { n: 1n << 60n, s: "x" });
    await b.close();
  });
});

// ---------------------------------------------------------------------------------------------
describe('waiting', () => {
  test('waits subscribe, are woken by another process storing, and share one subscription per key', async () => {
    const other = new RedisBackend(URL9);
    const taskId = id('wake');
    const seen: string[] = [];
    const w1 = backend.waitForReady(taskId, { timeout: 10, onMessage: (m) => seen.push(m.status) });
    const w2 = new AsyncResult(taskId, backend).get({ timeout: 10 });
    await waitFor(async () => {
      const [, n] = (await raw.pubsub('NUMSUB', `celery-task-meta-${taskId}`)) as [string, number];
      return Number(n) === 1;
    }, 'subscription');
    await other.storeResult(buildResultMeta({ taskId, state: 'PROGRESS', result: { step: 1 } }));
    await other.storeResult(buildResultMeta({ taskId, state: 'SUCCESS', result: 'ok' }));
    assert.equal((await w1).result, 'ok');
    assert.equal(await w2, 'ok');
    assert.deepEqual(seen, ['PROGRESS', 'SUCCESS']);
    await waitFor(async () => {
      const [, n] = (await raw.pubsub('NUMSUB', `celery-task-meta-${taskId}`)) as [string, number];
      return Number(n) === 0;
    }, 'unsubscribe');
    assert.equal(backend.subscribedCount, 0);
    await other.close();
  });

  test('a result stored before the wait is found by the GET after subscribing', async () => {
    const taskId = id('before');
    await backend.storeResult(buildResultMeta({ taskId, state: 'SUCCESS', result: [1, 2] }));
    assert.deepEqual(await new AsyncResult(taskId, backend).get({ timeout: 5 }), [1, 2]);
  });

  test('timeout and AbortSignal', async () => {
    const taskId = id('timeout');
    const t0 = Date.now();
    const err = await new AsyncResult(taskId, backend).get({ timeout: 0.2 }).catch((e: unknown) => e);
    assert.ok(err instanceof ResultTimeoutError);
    assert.ok(Date.now() - t0 >= 190);
    const ac = new AbortController();
    const p = new AsyncResult(taskId, backend).get({ signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop waiting')), 50);
    await assert.rejects(p, /stop waiting/);
    await assert.rejects(new AsyncResult(taskId, backend).get({ signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(backend.subscribedCount, 0);
  });

  test('onTaskCall subscribes early and lets go when the READY state arrives', async () => {
    const taskId = id('early');
    backend.onTaskCall(taskId);
    await waitFor(async () => backend.subscribedCount > 0, 'early subscription');
    await backend.storeResult(buildResultMeta({ taskId, state: 'SUCCESS', result: 1 }));
    await waitFor(async () => backend.subscribedCount === 0, 'release on READY');
  });

  test('after the subscriber connection drops, it re-subscribes and MGETs the keys still waited for', async () => {
    const b = new RedisBackend(URL9);
    const writer = new RedisBackend(URL9);
    const taskId = id('reconnect');
    const waiting = new AsyncResult(taskId, b).get({ timeout: 15 });
    await waitFor(async () => b.subscribedCount === 1, 'subscription');
    await new Promise((r) => setTimeout(r, 100));
    const sub = (b as unknown as { subscriber: Redis }).subscriber;
    sub.stream.destroy(); // a network drop; the PUBLISH below happens while it is down
    await writer.storeResult(buildResultMeta({ taskId, state: 'SUCCESS', result: 'after reconnect' }));
    assert.equal(await waiting, 'after reconnect');
    await b.close();
    await writer.close();
  });
});

// ---------------------------------------------------------------------------------------------
describe('groups', () => {
  test('a group saved by Python is restored in TypeScript and joined in order', async (t) => {
    if (!requirePython(t)) return;
    const gid = id('py-group');
    const ids = [id('m0'), id('m1'), id('m2')];
    await peer({ op: 'group_save', group_id: gid, ids });
    const g = await GroupResult.restore(gid, backend);
    assert.ok(g);
    assert.equal(g.id, gid);
    assert.deepEqual(g.results.map((r) => r.id), ids);
    assert.equal(await g.ready(), false);
    const joined = g.get({ timeout: 10 });
    for (const [i, tid] of ids.entries()) await backend.storeResult(buildResultMeta({ taskId: tid, state: 'SUCCESS', result: i * 10 }));
    assert.deepEqual(await joined, [0, 10, 20]);
    assert.equal(await g.ready(), true);
    assert.equal(await g.successful(), true);
    assert.equal(await g.completedCount(), 3);
    assert.deepEqual((await backend.getMany(ids)).map((m) => m.result), [0, 10, 20]);
    await g.delete();
    assert.equal(await GroupResult.restore(gid, backend), null);
  });

  test('a group saved by TypeScript is restored by Python; failures propagate in member order', async (t) => {
    const gid = id('ts-group');
    const ids = [id('a'), id('b')];
    const g = new GroupResult(gid, ids, backend);
    await g.save();
    const stored = parseKombuJson((await raw.get(`celery-taskset-meta-${gid}`))!);
    assert.deepEqual(stored, { result: [[gid, null], [[[ids[0], null], null], [[ids[1], null], null]]] });
    if (requirePython(t)) {
      assert.deepEqual(await peer({ op: 'group_restore', group_id: gid }), { id: gid, ids });
    }
    await backend.storeResult(buildResultMeta({ taskId: ids[1]!, state: 'FAILURE', result: new RangeError('bad') }));
    await backend.storeResult(buildResultMeta({ taskId: ids[0]!, state: 'SUCCESS', result: 'fine' }));
    await assert.rejects(g.get({ timeout: 5 }), (e: unknown) => e instanceof PythonError && e.excType === 'ValueError');
    const values = await g.get({ propagate: false });
    assert.equal(values[0], 'fine');
    assert.ok(values[1] instanceof PythonError);
    assert.equal(await g.failed(), true);
    assert.equal(await g.completedCount(), 1);
  });
});

// ---------------------------------------------------------------------------------------------
describe('createBackend and DisabledBackend', () => {
  test('schemes', async () => {
    for (const url of ['redis://127.0.0.1:6379/10', 'rediss://h/1?ssl_cert_reqs=required', 'redis+socket:///tmp/redis.sock']) {
      const b = createBackend(url);
      assert.ok(b instanceof RedisBackend, url);
      await b.close();
    }
    const s = createBackend('sentinel://127.0.0.1:26379', { result_backend_transport_options: { master_name: 'mymaster' } });
    assert.ok(s instanceof RedisBackend);
    await s.close();
    assert.throws(() => createBackend('rpc://'), (e: unknown) => e instanceof ConfigurationError && /set broker_url/.test(e.message));
    assert.throws(() => createBackend('mongodb://u:secret@h/db'), (e: unknown) => e instanceof ConfigurationError && !/secret/.test(e.message));
    assert.throws(() => new RedisBackend('redis://h/0', { result_serializer: 'pickle' }), /pickle/);
  });

  test('disabled: storing is a no-op, reading throws a clear error', async () => {
    for (const url of [undefined, null, '', 'disabled://']) assert.ok(createBackend(url) instanceof DisabledBackend);
    const d = createBackend(null);
    await d.storeResult(buildResultMeta({ taskId: 'x', state: 'SUCCESS', result: 1 }));
    await assert.rejects(new AsyncResult('x', d).get(), (e: unknown) => e instanceof NoResultBackendError && /No result backend is configured/.test(e.message));
    await assert.rejects(new AsyncResult('x', d).state(), NoResultBackendError);
  });

  test('revoke() without a control object says what is missing; with one it is called', async () => {
    const r = new AsyncResult('t-1', backend);
    await assert.rejects(r.revoke(), /no remote control/);
    const calls: unknown[] = [];
    const r2 = new AsyncResult('t-1', backend, { control: { revoke: async (ids, o) => void calls.push([ids, o]) } });
    await r2.revoke({ terminate: true, signal: 'SIGKILL' });
    assert.deepEqual(calls, [['t-1', { terminate: true, signal: 'SIGKILL' }]]);
    // not a thenable: awaiting an AsyncResult yields the object itself
    assert.equal(await Promise.resolve(r), r);
    assert.equal('then' in r, false);
  });

  test('parseResultMeta accepts the PENDING meta shape', () => {
    assert.equal(parseResultMeta({ status: 'PENDING', result: null }, 'x').task_id, 'x');
  });
});

// ---------------------------------------------------------------------------------------------
describe('records captured from Celery 5.6.3 (fixtures/backend/redis_*.json), replayed through Redis db 10', () => {
  type Capture = { type: string; key?: string; channel?: string; raw?: string; expected?: unknown };
  const files = readdirSync('fixtures/backend').filter((f) => f.startsWith('redis_') && f.endsWith('.json'));

  for (const file of files) {
    test(file, async () => {
      const { captures } = JSON.parse(readFileSync(`fixtures/backend/${file}`, 'utf8')) as { captures: Capture[] };
      const prefix = `${uniqueName('rbfx')}_`; // our own key space in db 10
      const b = new RedisBackend(redisUrl(10), { result_backend_transport_options: { global_keyprefix: prefix } });
      const r10 = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: 10 });
      try {
        const T = 'celery-task-meta-';
        const G = 'celery-taskset-meta-';
        // stored records read back as Celery's meta
        for (const c of captures.filter((c) => c.type === 'string' && c.key?.startsWith(T))) {
          const taskId = c.key!.slice(T.length);
          await r10.set(prefix + c.key!, c.raw!, 'EX', 300);
          const meta = await new AsyncResult(taskId, b).meta();
          assert.deepEqual(meta, parseResultMeta(parseKombuJson(c.raw!), taskId), `${file} ${c.key}`);
        }
        // saved groups restore
        for (const c of captures.filter((c) => c.type === 'string' && c.key?.startsWith(G) && !/\.[jst]$/.test(c.key))) {
          await r10.set(prefix + c.key!, c.raw!, 'EX', 300);
          const g = await GroupResult.restore(c.key!.slice(G.length), b);
          assert.ok(g);
          assert.ok(g.results.length > 0);
        }
        // the PUBLISH stream wakes a waiter, which sees every state until the first READY one
        const byChannel = new Map<string, Capture[]>();
        for (const c of captures.filter((c) => c.type === 'publish' && c.channel?.startsWith(T))) {
          byChannel.set(c.channel!, [...(byChannel.get(c.channel!) ?? []), c]);
        }
        for (const [channel, pubs] of byChannel) {
          const taskId = channel.slice(T.length);
          await r10.del(prefix + channel);
          const seen: string[] = [];
          const waiting = b.waitForReady(taskId, { timeout: 5, onMessage: (m) => seen.push(m.status) });
          await waitFor(async () => b.subscribedCount > 0, 'subscription');
          await new Promise((r) => setTimeout(r, 20));
          for (const p of pubs) await r10.publish(prefix + channel, p.raw!);
          const statuses = pubs.map((p) => (parseKombuJson(p.raw!) as { status: string }).status);
          const firstReady = statuses.findIndex((s) => ['SUCCESS', 'FAILURE', 'REVOKED'].includes(s));
          if (firstReady < 0) {
            await assert.rejects(waiting, ResultTimeoutError);
            continue;
          }
          const meta = await waiting;
          assert.deepEqual(meta, parseResultMeta(parseKombuJson(pubs[firstReady]!.raw!), taskId));
          assert.equal(seen.at(-1), statuses[firstReady]);
        }
      } finally {
        await b.close();
        r10.disconnect();
      }
    });
  }
});
