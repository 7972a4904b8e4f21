// `celeriac call --wait` and `celeriac result --wait` show the states of a task a real Python Celery
// worker runs (task_track_started=True, test/python/progress_tasks.py) as plain lines on stderr (a pipe,
// not a terminal): PENDING, STARTED with the worker's hostname and pid, PROGRESS {current, total} in
// order, RETRY with its countdown; the result on stdout as before. Redis db 6 (the Redis result
// backend) and RabbitMQ with rpc:// results, unique queue names per run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { deleteAmqpQueues } from '../helpers/matrix.ts';
import { AMQP_URL, REDIS_HOST, REDIS_PORT, redisUrl, requirePython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';

const DB = 6;
const REDIS = redisUrl(DB);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The reporter's lines (`task 1f2e3d4c…: STATE ...`), without that prefix. */
  states: string[];
}

/**
 * Runs `node bin/celeriac.js ...` with stdout and stderr on pipes (so stderr is not a TTY); `onStderr`
 * sees stderr as it grows.
 */
function cli(args: string[], onStderr?: (stderr: string) => void, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/celeriac.js', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // the flags name the broker and backend; nothing from the environment
      env: { ...process.env, CELERY_BROKER_URL: '', CELERY_RESULT_BACKEND: '', CELERY_CONFIG_MODULE: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      onStderr?.(stderr);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      const states = stderr.split('\n').flatMap((l) => {
        const m = /^task [^\s:]+: (.*)$/.exec(l);
        return m ? [m[1]!] : [];
      });
      resolve({ status, stdout, stderr, states });
    });
  });
}

const show = (r: Run) => `exit ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const STARTED = /^STARTED on \S+@\S+ \(pid \d+\)$/;

interface Peer {
  name: string;
  broker: string;
  backend: string;
  /** The Redis result backend has the record to show before the wait; rpc:// only what reaches its reply queue. */
  stored: boolean;
}

const PEERS: Peer[] = [
  { name: 'redis', broker: REDIS, backend: REDIS, stored: true },
  { name: 'amqp + rpc://', broker: AMQP_URL, backend: 'rpc://', stored: false },
];

for (const peer of PEERS) {
  describe(`[${peer.name}] celeriac call/result --wait show a Python task's states on stderr`, () => {
    const queue = uniqueName(`ts.cli-progress.${peer.name.split(' ')[0]}`);
    const conn = ['--queue', queue, '--broker', peer.broker, '--result-backend', peer.backend];
    let worker: PythonWorker | null = null;
    let skip = false;
    const ids: string[] = [];

    /** Until the Redis backend has stored `status` for the task (the test's own Redis connection). */
    async function untilStored(id: string, status: string): Promise<void> {
      const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB });
      try {
        for (let i = 0; i < 600; i++) {
          const raw = await redis.get(`celery-task-meta-${id}`);
          if (raw && (JSON.parse(raw) as { status: string }).status === status) return;
          await new Promise((res) => setTimeout(res, 50));
        }
        assert.fail(`task ${id} never reached ${status}`);
      } finally {
        await redis.quit();
      }
    }

    before(async () => {
      const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
      if (!requirePython(probe as never)) return;
      worker = await startPythonWorker([
        '-A', 'progress_tasks', 'worker', '-P', 'threads', '-c', '4', '--prefetch-multiplier', '1',
        '--without-mingle', '--without-gossip', '-Q', queue, '-n', `${queue}@%h`, '-l', 'info',
      ], { cwd: 'test/python', env: { CELERIAC_BROKER_URL: peer.broker, CELERIAC_BACKEND_URL: peer.backend } });
    });

    after(async () => {
      if (skip) return;
      await worker?.stop();
      if (peer.name === 'redis') {
        const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB });
        const keys = [...(await redis.keys(`${queue}*`)), ...(await redis.keys(`_kombu.binding.${queue}*`)), ...ids.map((id) => `celery-task-meta-${id}`)];
        if (keys.length) await redis.del(...keys);
        await redis.quit();
      } else {
        await deleteAmqpQueues([queue]);
      }
    });

    test('PENDING, STARTED on the worker, every PROGRESS in order, then the result on stdout', async (t) => {
      if (skip) return t.skip();
      // the countdown keeps the task PENDING well past the reporter's 1 s
      const r = await cli(['call', 'progress_tasks.count', '--args', '[3, 0.7]', '--countdown', '2.5', ...conn, '--wait', '--timeout', '40']);
      assert.equal(r.status, 0, show(r));
      assert.equal(r.stdout, '{"counted": 3}\n', show(r));
      assert.equal(r.states[0], 'PENDING', show(r));
      assert.match(r.states[1] ?? '', STARTED, show(r));
      assert.deepEqual(r.states.slice(2), ['PROGRESS 1/3 (33%)', 'PROGRESS 2/3 (66%)', 'PROGRESS 3/3 (100%)'], show(r));
      assert.ok(!r.stderr.includes('\x1b'), 'no terminal escapes when stderr is a pipe');
    });

    test('a task that retries once: STARTED, RETRY with its countdown (and the error), STARTED again', async (t) => {
      if (skip) return t.skip();
      const [plain, withExc] = await Promise.all([
        cli(['call', 'progress_tasks.retry_once', '--args', '[21]', ...conn, '--wait', '--timeout', '40']),
        cli(['call', 'progress_tasks.retry_with_exc', '--args', '[5]', ...conn, '--wait', '--timeout', '40']),
      ]);
      for (const [r, retry, value] of [[plain, 'RETRY in 1s', '42'], [withExc, "RETRY in 1s: FlakyError('first attempt', 5)", '10']] as const) {
        assert.equal(r.status, 0, show(r));
        assert.equal(r.stdout, `${value}\n`, show(r));
        const states = r.states.filter((s) => s !== 'PENDING');
        assert.equal(states.length, 3, show(r));
        assert.match(states[0]!, STARTED, show(r));
        assert.equal(states[1], retry, show(r));
        assert.match(states[2]!, STARTED, show(r));
      }
    });

    test('a wait that starts after the task ran still sees every state (as Celery\'s get(on_message=...))', async (t) => {
      if (skip) return t.skip();
      // the backends keep what arrives between the send and the wait (STARTED, RETRY here) for the wait
      const app = new Celery({ broker_url: peer.broker, result_backend: peer.backend, env: {} });
      try {
        const r = await app.sendTask('progress_tasks.retry_once', [3, 2], {}, { queue });
        ids.push(r.id);
        if (peer.stored) await untilStored(r.id, 'RETRY');
        else await new Promise((res) => setTimeout(res, 1000));
        const seen: string[] = [];
        const done = await app.backend.waitForReady(r.id, { timeout: 30, onMessage: (m) => seen.push(m.status) });
        assert.equal(done.result, 6);
        assert.deepEqual(seen, ['STARTED', 'RETRY', 'STARTED', 'SUCCESS']);
      } finally {
        await app.close();
      }
    });

    if (peer.stored) {
      test('result --wait on a task already in PROGRESS starts from the stored record', async (t) => {
        if (skip) return t.skip();
        const gate = uniqueName('ts.cli-progress.gate');
        const sent = await cli(['call', 'progress_tasks.gated', '--args', JSON.stringify([3, gate]), ...conn]);
        assert.equal(sent.status, 0, show(sent));
        const id = sent.stdout.trim();
        assert.match(id, /^[0-9a-f-]{36}$/);
        ids.push(id);
        await untilStored(id, 'PROGRESS'); // the task now waits for the gate
        const redis = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db: DB });
        let opened = false;
        try {
          const r = await cli(['result', id, '--result-backend', peer.backend, '--wait', '--timeout', '40'], (stderr) => {
            // the stored state is on stderr: let the task go on
            if (!opened && /PROGRESS/.test(stderr)) {
              opened = true;
              void redis.set(gate, '1', 'EX', 60);
            }
          });
          assert.equal(r.status, 0, show(r));
          assert.equal(r.stdout, '{"counted": 3}\n', show(r));
          assert.deepEqual(r.states, ['PROGRESS 1/3 (33%)', 'PROGRESS 2/3 (66%)', 'PROGRESS 3/3 (100%)'], show(r));
        } finally {
          await redis.del(gate);
          await redis.quit();
        }
      });
    }
  });
}
