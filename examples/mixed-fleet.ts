/**
 * The mixed-fleet demo: a real Python Celery worker and a TypeScript process on one Redis.
 *
 *   1. TypeScript sends tasks to the Python worker by name (json, and msgpack + zstd) and reads the
 *      results and a Python exception from Celery's result backend.
 *   2. A Python producer calls a task that TypeScript runs; TypeScript stores the result the way a
 *      Python worker would, and Python's AsyncResult.get() returns it.
 *
 * Run with: npm run demo. It sets up what is missing first (examples/ensure-peers.ts), one line each
 * on stderr: the Python venv (.venv-celery, by .ci/setup-python.sh) and Redis on DEMO_REDIS_HOST
 * (127.0.0.1) : DEMO_REDIS_PORT (6379), db 5; a redis-server it starts, it stops at the end, also on
 * failure or Ctrl-C. CELERIAC_PYTHON names another Python with Celery instead of the venv.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  PyDateTime, Decimal, UUID, createTaskMessage, encodeTaskMessage, encodeRedisEnvelope, decodeRedisEnvelope,
  decodeTaskMessage, parseKombuJson, stringifyKombuJson, parseResultMeta, resultValue, buildResultMeta, taskKey,
  PythonError, type PyValue,
} from '../protocol/index.ts';
import { ROOT, SetupError, ensurePythonVenv, ensureRedis, stopChild, type DemoRedis } from './ensure-peers.ts';

const PORT_TEXT = process.env.DEMO_REDIS_PORT ?? '6379';
const REDIS = { host: process.env.DEMO_REDIS_HOST ?? '127.0.0.1', port: Number(PORT_TEXT), db: 5 };
const BROKER = `redis://${REDIS.host.includes(':') ? `[${REDIS.host}]` : REDIS.host}:${REDIS.port}/${REDIS.db}`;
const PYTHON_DIR = join(ROOT, 'examples/python');
const ORIGIN = `gen${process.pid}@celeriac-demo`;
const RESULT_TIMEOUT_MS = 30_000;

const say = (line: string) => console.error(`demo: ${line}`);

/** What the demo started, for the clean-up at the end, on failure and on Ctrl-C. */
const started: { redis?: DemoRedis; worker?: ChildProcess; producer?: ChildProcess; clients: Redis[] } = { clients: [] };

/** Starts the Python worker on the demo.py queue and resolves once it logs `ready.`. */
function startPythonWorker(python: string): Promise<void> {
  const worker = spawn(python, ['-m', 'celery', '-A', 'tasks', 'worker', '-l', 'info', '-P', 'solo', '-Q', 'demo.py',
    '-n', 'py-demo@%h', '--without-mingle', '--without-gossip'], {
    cwd: PYTHON_DIR, env: { ...process.env, CELERY_BROKER_URL: BROKER, CELERY_RESULT_BACKEND: BROKER },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  started.worker = worker;
  return new Promise((resolve, reject) => {
    let log = '';
    const logged = () => (log.trim() ? `; its log:\n${log.trimEnd()}` : ' (it printed nothing)');
    const timer = setTimeout(() => reject(new Error(`the Python worker was not ready after 30 s${logged()}`)), 30_000);
    worker.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (/ready\./.test(log)) { clearTimeout(timer); resolve(); }
    });
    worker.on('error', (err) => { clearTimeout(timer); reject(new Error(`could not start the Python worker (${python}): ${err.message}`)); });
    worker.on('exit', (code, signal) => { clearTimeout(timer); reject(new Error(`the Python worker exited (${signal ?? code}) before it was ready${logged()}`)); });
  });
}

/** Sends a task to the Python worker and waits for its result on Celery's result key (pub/sub, no polling). */
async function callPython(redis: Redis, sub: Redis, task: string, args: PyValue[], serializer = 'json', compression: string | null = null) {
  const msg = createTaskMessage({ task, args, origin: ORIGIN, replyTo: 'celeriac-demo' });
  const key = taskKey(msg.headers.id);
  let onMessage = (_channel: string, _data: string) => {};
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<string>((resolve, reject) => {
    onMessage = (channel, data) => {
      if (channel === key && /"status": "(SUCCESS|FAILURE)"/.test(data)) resolve(data);
    };
    sub.on('message', onMessage);
    timer = setTimeout(() => reject(new Error(`no result for ${task} from the Python worker in ${RESULT_TIMEOUT_MS / 1000} s`)), RESULT_TIMEOUT_MS);
  });
  done.catch(() => {}); // awaited below unless the result is already stored
  try {
    await sub.subscribe(key);
    const raw = encodeTaskMessage(msg, { serializer, compression, deliveryInfo: { exchange: '', routing_key: 'demo.py' } });
    await redis.lpush('demo.py', encodeRedisEnvelope(raw));
    const stored = (await redis.get(key)) ?? (await done);
    return resultValue(parseResultMeta(parseKombuJson(stored)));
  } finally {
    clearTimeout(timer);
    sub.off('message', onMessage);
    await sub.unsubscribe(key).catch(() => {});
  }
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

/** The demo itself, once Python Celery and Redis are there. */
async function runDemo(python: string): Promise<void> {
  const redis = new Redis({ ...REDIS, maxRetriesPerRequest: 3 });
  const sub = new Redis({ ...REDIS, maxRetriesPerRequest: 3 });
  for (const client of [redis, sub]) {
    started.clients.push(client);
    client.on('error', () => {}); // a lost connection fails the pending command, which says so
  }
  await redis.del('demo.py', 'demo.ts');
  console.log('starting a Python Celery worker (examples/python/tasks.py) on', BROKER);
  await startPythonWorker(python);

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
  const producer = spawn(python, ['call_ts.py', 'demo.ts.multiply', 'demo.ts', '[6, 7]'], {
    cwd: PYTHON_DIR, env: { ...process.env, CELERY_BROKER_URL: BROKER, CELERY_RESULT_BACKEND: BROKER },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.producer = producer;
  let out = '';
  producer.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => producer.on('close', resolve));
  console.log('  TypeScript ran', await serveOneTypeScriptTask(redis));
  await exited;
  console.log('  Python AsyncResult.get() returned', out.trim());
}

let cleaning: Promise<void> | undefined;
let interrupted = false;
/** Stops what the demo started: the clients, the Python processes, then a redis-server it started. */
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const client of started.clients) client.disconnect();
    await Promise.all([started.worker, started.producer].map((child) => child && stopChild(child, 10_000)));
    await started.redis?.stop();
  })();
  return cleaning;
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    interrupted = true;
    say(`${signal}: stopping`);
    void cleanUp().finally(() => process.exit(128 + constants.signals[signal]));
  });
}

async function main(): Promise<number> {
  if (!/^\d+$/.test(PORT_TEXT) || REDIS.port < 1 || REDIS.port > 65535) {
    say(`DEMO_REDIS_PORT=${PORT_TEXT} is not a port number (1-65535)`);
    return 1;
  }
  try {
    const { python } = await ensurePythonVenv(say);
    started.redis = await ensureRedis(REDIS.host, REDIS.port, say);
    await runDemo(python);
    return 0;
  } catch (err) {
    if (interrupted) return 1; // the signal handler exits once the clean-up is done
    say(err instanceof SetupError ? err.message : `failed: ${(err as Error).message}`);
    return 1;
  } finally {
    await cleanUp();
  }
}

const status = await main();
if (!interrupted) process.exit(status); // else the signal handler exits, with 128 + the signal's number
