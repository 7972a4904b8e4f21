/**
 * The mixed-fleet demo: a real Python Celery worker and a TypeScript process on one Redis.
 *
 *   1. TypeScript sends tasks to the Python worker by name (json, and msgpack + zstd) and reads the
 *      results and a Python exception from Celery's result backend.
 *   2. A Python producer calls a task that TypeScript runs; TypeScript stores the result the way a
 *      Python worker would, and Python's AsyncResult.get() returns it.
 *
 * Needs Redis on 127.0.0.1:6379 and Python Celery in .venv-celery (bash .ci/setup-python.sh).
 * Run with: npm run demo
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import {
  PyDateTime, Decimal, UUID, createTaskMessage, encodeTaskMessage, encodeRedisEnvelope, decodeRedisEnvelope,
  decodeTaskMessage, parseKombuJson, stringifyKombuJson, parseResultMeta, resultValue, buildResultMeta, taskKey,
  PythonError, type PyValue,
} from '../protocol/index.ts';

const REDIS = { host: process.env.DEMO_REDIS_HOST ?? '127.0.0.1', port: 6379, db: 5 };
const BROKER = `redis://${REDIS.host}:${REDIS.port}/${REDIS.db}`;
const PYTHON = resolve(process.env.CELERIAC_PYTHON ?? '.venv-celery/bin/python');
const ORIGIN = `gen${process.pid}@celeriac-demo`;

function startPythonWorker(): Promise<ChildProcess> {
  const worker = spawn(PYTHON, ['-m', 'celery', '-A', 'tasks', 'worker', '-l', 'info', '-P', 'solo', '-Q', 'demo.py',
    '-n', 'py-demo@%h', '--without-mingle', '--without-gossip'], {
    cwd: 'examples/python', env: { ...process.env, CELERY_BROKER_URL: BROKER, CELERY_RESULT_BACKEND: BROKER },
  });
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`python worker did not start:\n${log}`)), 30_000);
    worker.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (/ready\./.test(log)) { clearTimeout(timer); resolve(worker); }
    });
    worker.on('exit', (code) => reject(new Error(`python worker exited ${code}:\n${log}`)));
  });
}

/** Sends a task to the Python worker and waits for its result on Celery's result key (pub/sub, no polling). */
async function callPython(redis: Redis, sub: Redis, task: string, args: PyValue[], serializer = 'json', compression: string | null = null) {
  const msg = createTaskMessage({ task, args, origin: ORIGIN, replyTo: 'celeriac-demo' });
  const key = taskKey(msg.headers.id);
  const done = new Promise<string>((resolve) => {
    sub.on('message', (channel: string, data: string) => {
      if (channel === key && /"status": "(SUCCESS|FAILURE)"/.test(data)) resolve(data);
    });
  });
  await sub.subscribe(key);
  const raw = encodeTaskMessage(msg, { serializer, compression, deliveryInfo: { exchange: '', routing_key: 'demo.py' } });
  await redis.lpush('demo.py', encodeRedisEnvelope(raw));
  const stored = (await redis.get(key)) ?? (await done);
  await sub.unsubscribe(key);
  return resultValue(parseResultMeta(parseKombuJson(stored)));
}

/** Runs one TypeScript task from the demo.ts queue and stores its result as a Python worker would. */
async function serveOneTypeScriptTask(redis: Redis): Promise<string> {
  const popped = await redis.brpop('demo.ts', 20);
  if (!popped) throw new Error('no task arrived on demo.ts');
  const msg = decodeTaskMessage(decodeRedisEnvelope(popped[1]), { accept: ['json'] });
  const [x, y] = msg.body.args as [number, number];
  const meta = buildResultMeta({ taskId: msg.headers.id, state: 'SUCCESS', result: { product: x * y, by: 'typescript' },
    request: { task: msg.headers.task, args: msg.body.args, kwargs: msg.body.kwargs } });
  const value = stringifyKombuJson(meta as unknown as PyValue);
  await redis.multi().setex(taskKey(msg.headers.id), 86400, value).publish(taskKey(msg.headers.id), value).exec();
  return `${msg.headers.task}(${msg.headers.argsrepr}) from ${msg.headers.origin}`;
}

async function main(): Promise<void> {
  const redis = new Redis(REDIS);
  const sub = new Redis(REDIS);
  await redis.del('demo.py', 'demo.ts');
  console.log('starting a Python Celery worker (examples/python/tasks.py) on', BROKER);
  const worker = await startPythonWorker();
  try {
    console.log('\n1. TypeScript -> Python');
    console.log('  demo.add(2, 3)                         =', await callPython(redis, sub, 'demo.add', [2, 3]));
    const described = await callPython(redis, sub, 'demo.describe', [
      new PyDateTime('2026-11-21T10:00:00.123456+00:00'), new Decimal('3.14159265358979323846'),
      new UUID('12345678-1234-5678-1234-567812345678'), 2n ** 70n, new Uint8Array([0, 255])]);
    console.log('  demo.describe(datetime, Decimal, ...)  =', stringifyKombuJson(described as PyValue));
    console.log('  demo.add via msgpack + zstd            =', await callPython(redis, sub, 'demo.add', [40, 2], 'msgpack', 'zstd'));
    const failed = await callPython(redis, sub, 'demo.fail', ['boom']);
    if (failed instanceof PythonError) {
      console.log(`  demo.fail('boom') raised                = ${failed.excModule}.${failed.excType}${failed.message.slice(failed.excType.length)}`);
      console.log(`    python traceback ends with: ${failed.traceback?.trim().split('\n').pop()}`);
    }

    console.log('\n2. Python -> TypeScript');
    const python = spawn(PYTHON, ['call_ts.py', 'demo.ts.multiply', 'demo.ts', '[6, 7]'], {
      cwd: 'examples/python', env: { ...process.env, CELERY_BROKER_URL: BROKER, CELERY_RESULT_BACKEND: BROKER },
    });
    let out = '';
    python.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => python.on('exit', resolve));
    console.log('  TypeScript ran', await serveOneTypeScriptTask(redis));
    await exited;
    console.log('  Python AsyncResult.get() returned', out.trim());
  } finally {
    worker.kill('SIGTERM');
    redis.disconnect();
    sub.disconnect();
  }
}

await main();
