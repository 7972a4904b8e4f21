// Celery's message signing across languages: a TypeScript producer signs with the auth serializer and a
// Python worker with app.setup_security() runs the task; a Python producer signs and a TypeScript worker
// verifies and runs it; a tampered body, an unsigned json message and one signed by a certificate
// outside the store are refused by both workers with the reason, logged, never run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Celery } from '../../src/app.ts';
import { Worker } from '../../src/worker/worker.ts';
import { createLogger } from '../../src/worker/log.ts';
import { unregisterAuth } from '../../protocol/security/index.ts';
import { amqplibUrl, requirePython, runPython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import amqplib from 'amqplib';
import { brokerMatrix, deleteAmqpQueues } from '../helpers/matrix.ts';

const PEER = 'test/python/security_peer.py';
let dir = '';
const path = (f: string) => join(dir, f);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'celeriac-sec-interop-'));
  for (const [name, subj] of [['a', '/CN=celeriac-test'], ['b', '/CN=celeriac-intruder']] as const) {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', subj, '-days', '2',
      '-keyout', path(`${name}.key`), '-out', path(`${name}.pem`)], { stdio: 'ignore' });
  }
  mkdirSync(path('store'));
  copyFileSync(path('a.pem'), path('store/a.pem'));
});
after(() => {
  unregisterAuth();
  rmSync(dir, { recursive: true, force: true });
});

async function withChannel<T>(fn: (ch: amqplib.Channel) => Promise<T>): Promise<T> {
  const conn = await amqplib.connect(amqplibUrl());
  try {
    return await fn(await conn.createChannel());
  } finally {
    await conn.close();
  }
}

for (const b of brokerMatrix(11)) {
  describe(`signed messages, Python and TypeScript (${b.name})`, () => {
    const TSQ = uniqueName('ts.security');
    const PYQ = uniqueName('py.security');
    // on RabbitMQ the TypeScript worker's queue dead-letters what it rejects here: refused messages are kept
    const DLQ = `${TSQ}.refused`;
    const tag = uniqueName('sec');
    let conf: Record<string, unknown> = {};
    let app: Celery;
    let worker: Worker;
    let py: PythonWorker | null = null;
    const logs: string[] = [];
    const runs: number[][] = [];
    const rejected: string[] = [];

    before(async () => {
      const probe = { skip: () => {} };
      if (!requirePython(probe as never)) return;
      conf = {
        ...b.settings,
        control_exchange: `${tag}.pidbox`, event_exchange: `${tag}.ev`,
        security_key: path('a.key'), security_certificate: path('a.pem'), security_cert_store: path('store'),
      };
      app = new Celery({
        broker_url: b.brokerUrl, result_backend: b.backendUrl, env: {}, task_default_queue: TSQ,
        task_serializer: 'auth', accept_content: ['auth'], result_accept_content: ['json'], ...conf,
        ...(b.name === 'amqp' ? { task_queues: [{ name: TSQ, exchange: TSQ, routing_key: TSQ, queue_arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': DLQ } }] } : {}),
      });
      if (b.name === 'amqp') await withChannel((ch) => ch.assertQueue(DLQ, { durable: false }));
      app.task('sec.add', (x: number, y: number) => {
        runs.push([x, y]);
        return x + y;
      });
      worker = new Worker(app, { queues: [TSQ], concurrency: 1, logger: createLogger('info', (l) => logs.push(l)) });
      worker.on('message-rejected', (err) => { rejected.push((err as Error).message); });
      await worker.start();
      py = await startPythonWorker(['-A', 'security_tasks', 'worker', '-n', `${PYQ}@%h`, '-Q', PYQ, '-P', 'solo', '-l', 'info',
        '--without-gossip', '--without-mingle', '--without-heartbeat'], {
        cwd: 'test/python',
        env: { CELERIAC_BROKER_URL: b.brokerUrl, CELERIAC_BACKEND_URL: b.backendUrl, CELERIAC_EXTRA_CONF: JSON.stringify(conf) },
      });
    });
    after(async () => {
      await worker?.stop();
      await py?.stop();
      await app?.close();
      if (b.name === 'amqp') await deleteAmqpQueues([TSQ, PYQ, DLQ], [TSQ]);
    });

    const peer = async (ops: object[]) => JSON.parse(await runPython(PEER, {
      broker: b.brokerUrl, backend: b.backendUrl, conf, other_key: path('b.key'), other_cert: path('b.pem'), ops,
    })) as unknown[];

    test('a TypeScript producer signs; the Python worker verifies and runs it', async (t) => {
      if (!requirePython(t)) return;
      const r = await app.sendTask('sec.add', [2, 3], {}, { queue: PYQ });
      assert.equal(await r.get({ timeout: 30 }), 5);
    });

    test('a Python producer signs; the TypeScript worker verifies and runs it', async (t) => {
      if (!requirePython(t)) return;
      const [id] = await peer([{ op: 'send', name: 'sec.add', args: [20, 22], queue: TSQ, kind: 'signed' }]) as string[];
      const [res] = await peer([{ op: 'get', id, timeout: 30 }]);
      assert.deepEqual(res, { state: 'SUCCESS', result: 42 });
    });

    test('tampered, unsigned and foreign-signed messages: refused with the reason by both workers, never run', async (t) => {
      if (!requirePython(t)) return;
      const bad = (queue: string) => [
        { op: 'send', name: 'sec.add', args: [1, 1], tampered_args: [100, 100], queue, kind: 'tampered' },
        { op: 'send', name: 'sec.add', args: [2, 2], queue, kind: 'unsigned' },
        { op: 'send', name: 'sec.add', args: [3, 3], queue, kind: 'foreign' },
        // a valid one last: once it has run, the worker has handled the three before it
        { op: 'send', name: 'sec.add', args: [4, 4], queue, kind: 'signed' },
      ];
      const ids = await peer([...bad(TSQ), ...bad(PYQ)]) as string[];
      const results = await peer([{ op: 'get', id: ids[3], timeout: 30 }, { op: 'get', id: ids[7], timeout: 30 }]);
      assert.deepEqual(results, [{ state: 'SUCCESS', result: 8 }, { state: 'SUCCESS', result: 8 }]);
      assert.deepEqual(runs.filter(([x]) => x !== 20), [[4, 4]], 'the TypeScript worker ran the valid message only');
      const states = await peer([0, 1, 2, 4, 5, 6].map((i) => ({ op: 'get', id: ids[i], timeout: 0.1 }))) as { state: string }[];
      assert.deepEqual(states.map((s) => s.state), Array(6).fill('PENDING'), 'no result stored for a refused message');

      // the reasons, in the TypeScript worker's log and its rejected count
      assert.equal(rejected.length, 3, rejected.join('\n'));
      assert.match(rejected[0]!, /Unable to deserialize: SecurityError\('Bad signature: InvalidSignature\(\)'\)/);
      assert.match(rejected[1]!, /refusing to deserialize content of type "application\/json": not in accept_content \["auth"\]/);
      const intruder = /Unable to deserialize: SecurityError\("Unknown certificate: b'celeriac-intruder \d+'"\)/;
      assert.match(rejected[2]!, intruder);
      const tsLog = logs.join('\n');
      for (const re of [/Bad signature/, /application\/json/, intruder]) assert.match(tsLog, re);

      // Python's worker refuses the same three (its text for a bad signature is Celery 5.6.3's TypeError)
      const pyLog = py!.log();
      assert.match(pyLog, /Can't decode message body: DecodeError\(SecurityError\("Unable to deserialize: TypeError\('catching classes that do not inherit from BaseException is not allowed'\)"\)\)/);
      assert.match(pyLog, /ContentDisallowed|Refusing to deserialize untrusted content of type json/);
      assert.match(pyLog, /Unknown certificate: b\\'celeriac-intruder \d+\\'/);
      if (b.name === 'amqp') {
        // rejected, not acked: the three are in the dead-letter queue (waits for RabbitMQ to move them)
        let n = 0;
        for (let i = 0; i < 100 && n < 3; i++) {
          n = (await withChannel((ch) => ch.checkQueue(DLQ))).messageCount;
          if (n < 3) await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(n, 3, 'the refused messages were dead-lettered, not lost');
      }
      assert.doesNotMatch(pyLog, /Task sec\.add\[[^\]]+\] succeeded in [^:]+: (2|4|6|200)\b/);
      if (b.name === 'redis') {
        // no dead-letter exchange on Redis: the three are in the quarantine, with the reason
        const kept = await app.broker.quarantineStore!().list(TSQ);
        assert.deepEqual(kept.map((e) => e.kind).sort(), ['invalid', 'signature', 'signature'], kept.map((e) => `${e.kind}: ${e.reason}`).join('\n'));
        assert.ok(kept.some((e) => /Bad signature/.test(e.reason)));
        assert.deepEqual(new Set(kept.map((e) => e.taskId)), new Set([ids[0], ids[1], ids[2]]));
      }
    });

    test('remote control is signed as Celery signs it (its mailbox writes with task_serializer): each side pings both workers', async (t) => {
      if (!requirePython(t)) return;
      const pyName = `${PYQ}@${hostname()}`;
      const replies = await app.control.ping({ timeout: 3 });
      assert.deepEqual(replies.flatMap((r) => Object.keys(r)).sort(), [worker.hostname, pyName].sort(), 'the TypeScript client: both workers answered');
      const [names] = await peer([{ op: 'ping', timeout: 3 }]);
      assert.deepEqual(names, [worker.hostname, pyName].sort(), 'celery control ping: both workers answered');
      assert.doesNotMatch(logs.join('\n'), /Cannot decode message/);
    });

    test('result_serializer auth: a result the TypeScript worker signs is read by Python, and one Python signs by TypeScript', async (t) => {
      if (!requirePython(t)) return;
      const RQ = `${TSQ}.signed-results`;
      const signed = { result_serializer: 'auth', result_accept_content: ['auth'] };
      const sapp = new Celery({
        broker_url: b.brokerUrl, result_backend: b.backendUrl, env: {}, task_default_queue: RQ,
        task_serializer: 'auth', accept_content: ['auth'], ...conf, ...signed,
      });
      sapp.task('sec.mul', (x: number, y: number) => x * y);
      const w = new Worker(sapp, { queues: [RQ], concurrency: 1, logger: createLogger('warning') });
      await w.start();
      try {
        const r = await sapp.sendTask('sec.mul', [6, 7], {}, { queue: RQ });
        assert.equal(await r.get({ timeout: 30 }), 42, 'TypeScript reads its own signed result');
        // the stored record is an auth body (application/data), not JSON
        const pyConf = { ...conf, ...signed };
        const [res] = JSON.parse(await runPython(PEER, { broker: b.brokerUrl, backend: b.backendUrl, conf: pyConf, other_key: path('b.key'), other_cert: path('b.pem'),
          ops: [{ op: 'get', id: r.id, timeout: 10 }] })) as unknown[];
        assert.deepEqual(res, { state: 'SUCCESS', result: 42 }, 'Python with setup_security reads the result the TypeScript worker signed');
        const pid = `py-signed-${tag}`;
        const [record] = JSON.parse(await runPython(PEER, { broker: b.brokerUrl, backend: b.backendUrl, conf: pyConf, other_key: path('b.key'), other_cert: path('b.pem'),
          ops: [{ op: 'store', id: pid, result: { answer: [1, 2.5, 'x'] } }] })) as string[];
        assert.doesNotMatch(Buffer.from(record!, 'base64').toString('latin1'), /^\{/, 'Python stored a signed record');
        assert.deepEqual(await sapp.AsyncResult(pid).get({ timeout: 5 }), { answer: [1, 2.5, 'x'] }, 'TypeScript verifies and reads a result Python signed');
        // the plain-JSON app refuses the signed record: its result_accept_content is ['json']
        // (Celery's backend decodes with its own serializer too: the same JSON error)
        await assert.rejects(app.AsyncResult(pid).get({ timeout: 2 }), /invalid JSON/);
      } finally {
        await w.stop();
        await sapp.close();
        if (b.name === 'amqp') await deleteAmqpQueues([RQ], [RQ]);
      }
    });
  });
}
