// sentinel:// against real servers: a private password-protected master + replica watched by two
// password-protected sentinels (all redis-server children on 16380-16399). A celeriac app and a real
// Python Celery 5.6 worker, both configured the way Celery users write it
//   broker_url = 'sentinel://:pw@h:p1/3;sentinel://:pw@h:p2/3'
//   broker_transport_options = {'master_name': 'mymaster', 'sentinel_kwargs': {'password': ...}}
//   result_backend = <same>, result_backend_transport_options = <same>
// send and run tasks in both directions; then SENTINEL FAILOVER promotes the replica and both sides
// carry on against the new master. Failed connections never show a password.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { RedisBroker } from '../../src/brokers/redis/broker.ts';
import { RedisBackend } from '../../src/backends/redis.ts';
import { Worker } from '../../src/worker/worker.ts';
import { silentLogger } from '../../src/worker/log.ts';
import { requirePython, runPython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import { cleanupDirs, requireBinaries, startRedis, stopAll, tempDir, type PrivateRedis } from '../helpers/private-redis.ts';

const MASTER = 'mymaster';
const PW = 'master-Pa55-secret';
const SENTINEL_PW = 'sentinel-Pa55-secret';
const DB = 3;
const QUEUE_PY = uniqueName('sentinel.py');
const QUEUE_TS = uniqueName('sentinel.ts');

let skip = false;
let master: PrivateRedis;
let replica: PrivateRedis;
const sentinels: PrivateRedis[] = [];
let url = '';
const transport = () => ({ master_name: MASTER, sentinel_kwargs: { password: SENTINEL_PW } });
let app: Celery;
let tsWorker: Worker | null = null;
let pyWorker: PythonWorker | null = null;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function sentinelClient(s: PrivateRedis): Redis {
  return new Redis({ port: s.port, host: '127.0.0.1', password: SENTINEL_PW, lazyConnect: true, maxRetriesPerRequest: 1 });
}

/** The master's port as the sentinel reports it. */
async function masterPort(s: PrivateRedis): Promise<number> {
  const c = sentinelClient(s);
  try {
    const [, port] = (await c.call('SENTINEL', 'get-master-addr-by-name', MASTER)) as [string, string];
    return Number(port);
  } finally {
    c.disconnect();
  }
}

function direct(server: PrivateRedis): Redis {
  return new Redis({ port: server.port, host: '127.0.0.1', password: PW, db: DB, lazyConnect: true, maxRetriesPerRequest: 1 });
}

const pyConf = () => ({
  broker_transport_options: transport(),
  result_backend_transport_options: transport(),
  broker_connection_retry_on_startup: true,
});

/** Python Celery's side (test/python/worker_peer.py) over the same sentinel URL. */
async function pyPeer(ops: object[]): Promise<any[]> {
  const out = await runPython('test/python/worker_peer.py', { broker: url, backend: url, conf: pyConf(), ops });
  const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  for (const l of lines) if (l.error) throw new Error(`python ${l.op}: ${l.error}\n${l.traceback ?? ''}`);
  return lines.map((l) => l.result);
}

before(async () => {
  const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
  if (!requireBinaries(probe) || !requirePython(probe as never)) return;
  master = await startRedis({ args: ['--requirepass', PW, '--masterauth', PW], prefix: 'sentinel-master' });
  replica = await startRedis({
    args: ['--requirepass', PW, '--masterauth', PW, '--replicaof', '127.0.0.1', String(master.port)], prefix: 'sentinel-replica',
  });
  const conf = [
    `sentinel monitor ${MASTER} 127.0.0.1 ${master.port} 1`,
    `sentinel auth-pass ${MASTER} ${PW}`,
    `sentinel down-after-milliseconds ${MASTER} 2000`,
    `sentinel failover-timeout ${MASTER} 10000`,
    `requirepass ${SENTINEL_PW}`,
    '',
  ].join('\n');
  sentinels.push(await startRedis({ sentinel: true, conf }), await startRedis({ sentinel: true, conf }));
  url = sentinels.map((s) => `sentinel://:${PW}@127.0.0.1:${s.port}/${DB}`).join(';');
  // the replica is in sync and every sentinel knows it (and each other): a failover can pick it
  await waitFor(async () => {
    const r = direct(replica);
    try {
      return /master_link_status:up/.test(await r.info('replication'));
    } finally {
      r.disconnect();
    }
  }, 'the replica to sync');
  for (const s of sentinels) {
    await waitFor(async () => {
      const c = sentinelClient(s);
      try {
        const replicas = (await c.call('SENTINEL', 'replicas', MASTER)) as string[][];
        return replicas.some((r) => r.includes(String(replica.port)) && !r.join(' ').includes('disconnected'));
      } finally {
        c.disconnect();
      }
    }, `sentinel ${s.port} to see the replica`);
  }

  // a real Python Celery worker consuming QUEUE_PY through the sentinels
  const dir = tempDir('sentinel-py');
  writeFileSync(join(dir, 'sentinel_tasks.py'), [
    'import json, os',
    'from celery import Celery',
    "conf = json.loads(os.environ['CELERIAC_TEST_CONF'])",
    "app = Celery('sentinel_tasks', broker=conf.pop('broker_url'), backend=conf.pop('result_backend'))",
    'app.conf.update(worker_hijack_root_logger=False, **conf)',
    "@app.task(name='sentinel.add')",
    'def add(x, y):',
    '    return x + y',
    "@app.task(name='sentinel.master_port')",
    'def master_port():',
    "    return app.backend.client.connection_pool.get_master_address()[1]",
    '',
  ].join('\n'));
  pyWorker = await startPythonWorker(
    ['-A', 'sentinel_tasks', 'worker', '-P', 'solo', '--without-mingle', '--without-gossip', '--without-heartbeat',
      '-Q', QUEUE_PY, '-n', `${QUEUE_PY}@%h`, '--loglevel=INFO'],
    { env: { PYTHONPATH: dir, PYTHONDONTWRITEBYTECODE: '1', CELERIAC_TEST_CONF: JSON.stringify({ broker_url: url, result_backend: url, ...pyConf() }) } },
  );

  app = new Celery({
    broker_url: url, result_backend: url, env: {},
    broker_transport_options: transport(), result_backend_transport_options: transport(),
  });
  app.task('sentinel.ts_mul', (x: number, y: number) => x * y);
  tsWorker = new Worker(app, { queues: [QUEUE_TS], concurrency: 2, hostname: `${QUEUE_TS}@%h`, logger: silentLogger });
  await tsWorker.start();
});

after(async () => {
  await tsWorker?.stop().catch(() => undefined);
  await app?.close().catch(() => undefined);
  await pyWorker?.stop();
  await stopAll();
  cleanupDirs();
});

describe('sentinel:// broker and result backend, TypeScript and Python Celery', () => {
  test('TypeScript sends through the sentinels, a Python worker runs it, TypeScript reads the result', async (t) => {
    if (skip) return t.skip();
    const r = await app.sendTask<number>('sentinel.add', [2, 3], {}, { queue: QUEUE_PY });
    assert.equal(await r.get({ timeout: 20 }), 5);
    // the record is on the master, in the db of the URL
    const m = direct(master);
    try {
      assert.ok(await m.exists(`celery-task-meta-${r.id}`));
    } finally {
      m.disconnect();
    }
  });

  test('Python sends through the sentinels, a TypeScript worker runs it, Python reads the result', async (t) => {
    if (skip) return t.skip();
    const [id] = await pyPeer([{ op: 'send', name: 'sentinel.ts_mul', args: [6, 7], options: { queue: QUEUE_TS } }]);
    const [out] = await pyPeer([{ op: 'get', id, timeout: 20 }]);
    assert.equal(out.state, 'SUCCESS');
    assert.equal(out.result, 42);
  });

  test('SENTINEL FAILOVER: both sides follow the promoted replica', async (t) => {
    if (skip) return t.skip();
    const c = sentinelClient(sentinels[0]!);
    try {
      assert.equal(await c.call('SENTINEL', 'failover', MASTER), 'OK');
    } finally {
      c.disconnect();
    }
    for (const s of sentinels) await waitFor(async () => (await masterPort(s)) === replica.port, `sentinel ${s.port} to report the new master`);
    await waitFor(async () => {
      const r = direct(replica);
      try {
        return /role:master/.test(await r.info('replication'));
      } finally {
        r.disconnect();
      }
    }, 'the replica to become master');
    // ...and the old master a replica of it: until the sentinel reconfigures it, clients still on it
    // may write there (and lose it at the resync), in Python as in TypeScript
    await waitFor(async () => {
      const r = direct(master);
      try {
        const info = await r.info('replication');
        return /role:slave/.test(info) && info.includes(`master_port:${replica.port}`) && /master_link_status:up/.test(info);
      } finally {
        r.disconnect();
      }
    }, 'the old master to replicate the new one');

    // TypeScript -> Python -> TypeScript, on the new master
    const r = await app.sendTask<number>('sentinel.add', [20, 22], {}, { queue: QUEUE_PY });
    assert.equal(await r.get({ timeout: 30 }), 42);
    const m = direct(replica);
    try {
      assert.ok(await m.exists(`celery-task-meta-${r.id}`), 'the result is on the promoted replica');
    } finally {
      m.disconnect();
    }
    // the Python worker's own sentinel pool sees the new master too
    const p = await app.sendTask<number>('sentinel.master_port', [], {}, { queue: QUEUE_PY });
    assert.equal(await p.get({ timeout: 30 }), replica.port);
    // Python -> TypeScript -> Python, on the new master
    const [id] = await pyPeer([{ op: 'send', name: 'sentinel.ts_mul', args: [3, 5], options: { queue: QUEUE_TS } }]);
    const [out] = await pyPeer([{ op: 'get', id, timeout: 30 }]);
    assert.equal(out.state, 'SUCCESS');
    assert.equal(out.result, 15);
  });
});

describe('sentinel:// connection errors never show a password', () => {
  async function failure(brokerUrl: string, options: Record<string, unknown>): Promise<{ broker: Error; backend: Error; reported: Error[] }> {
    const reported: Error[] = [];
    const broker = new RedisBroker(brokerUrl, options, { onError: (e) => reported.push(e) });
    const backend = new RedisBackend(brokerUrl, { result_backend_transport_options: options });
    try {
      const b = await broker.connect().then(() => null, (e: Error) => e);
      const k = await backend.connect().then(() => null, (e: Error) => e);
      assert.ok(b, 'the broker must not connect');
      assert.ok(k, 'the backend must not connect');
      await sleep(300); // background reconnect reports
      return { broker: b, backend: k, reported };
    } finally {
      await broker.close();
      await backend.close();
    }
  }

  function assertNoSecret(what: unknown, ...secrets: string[]): void {
    const text = `${inspect(what, { depth: 10 })}\n${(what as Error)?.stack ?? ''}\n${String(what)}`;
    for (const s of secrets) assert.ok(!text.includes(s), `a secret leaked into:\n${text}`);
  }

  test('wrong master password: WRONGPASS, the safe URL, no password', async (t) => {
    if (skip) return t.skip();
    const bad = 'wrong-master-Pa55';
    const badUrl = sentinels.map((s) => `sentinel://:${bad}@127.0.0.1:${s.port}/${DB}`).join(';');
    const { broker, backend, reported } = await failure(badUrl, transport());
    assert.match(broker.message, /WRONGPASS/);
    assert.ok(broker.message.includes(`sentinel://:**@127.0.0.1:${sentinels[0]!.port}/${DB};sentinel://:**@127.0.0.1:${sentinels[1]!.port}/${DB}`), broker.message);
    assert.match(backend.message, /result backend sentinel:\/\/:\*\*@.*WRONGPASS/);
    // the broker's failed first connection is thrown to the caller, not also reported in the background
    // (RedisBroker.connect); whatever is reported (the backend's) carries no secret either
    assertNoSecret([broker, backend, reported], bad, PW, SENTINEL_PW);
  });

  test('wrong sentinel password: fails at once (no endless wait), names the sentinel, no password', async (t) => {
    if (skip) return t.skip();
    const bad = 'wrong-sentinel-Pa55';
    const started = Date.now();
    const { broker, backend, reported } = await failure(url, { master_name: MASTER, sentinel_kwargs: { password: bad } });
    assert.ok(Date.now() - started < 10_000);
    assert.match(broker.message, /All sentinels are unreachable: failed to connect to sentinel 127\.0\.0\.1:\d+ because WRONGPASS/);
    assert.match(backend.message, /WRONGPASS/);
    assertNoSecret([broker, backend, reported], bad, PW, SENTINEL_PW);
  });

  test('unknown master name: says so', async (t) => {
    if (skip) return t.skip();
    const { broker } = await failure(url, { master_name: 'nosuchmaster', sentinel_kwargs: { password: SENTINEL_PW } });
    assert.match(broker.message, /No such master with that name/);
    assertNoSecret(broker, PW, SENTINEL_PW);
  });
});
