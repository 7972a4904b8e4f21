// sentinel:// over TLS against real servers: a private TLS-only, password-protected master watched by a
// TLS-only, password-protected sentinel (redis-server 7: `--port 0 --tls-port`, the sentinel reaching the
// master with `tls-replication yes`), certificates made with openssl at test time. A celeriac app and a
// real Python Celery 5.6 worker are configured the way kombu and Celery take TLS for sentinels:
//   broker_url = result_backend = 'sentinel://:pw@h:p/4'
//   broker_transport_options = result_backend_transport_options = {'master_name': ...,
//       'sentinel_kwargs': {'password': ..., 'ssl': True, 'ssl_cert_reqs': 'required', 'ssl_ca_certs': ca}}
//                                          (redis-py's Redis(**sentinel_kwargs): TLS to the sentinels)
//   broker_use_ssl = redis_backend_use_ssl = {'ssl_cert_reqs': 'required', 'ssl_ca_certs': ca}
//                                          (SentinelManagedSSLConnection: TLS to the master)
// Tasks and results flow both ways; settings that fail in Python fail in celeriac too (Celery's
// backend refuses a dict without ssl_cert_reqs; a plain connection to a TLS sentinel or master fails).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Celery } from '../../src/app.ts';
import { RedisBroker } from '../../src/brokers/redis/broker.ts';
import { RedisBackend } from '../../src/backends/redis.ts';
import { Worker } from '../../src/worker/worker.ts';
import { silentLogger } from '../../src/worker/log.ts';
import { requirePython, runPython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import {
  cleanupDirs, makeCerts, requireBinaries, startRedis, stopAll, tempDir, type Certs, type PrivateRedis,
} from '../helpers/private-redis.ts';

const MASTER = 'tlsmaster';
const PW = 'tls-master-Pa55';
const SENTINEL_PW = 'tls-sentinel-Pa55';
const DB = 4;
const QUEUE_PY = uniqueName('sentinel-tls.py');
const QUEUE_TS = uniqueName('sentinel-tls.ts');

let skip = false;
let certs: Certs;
let master: PrivateRedis;
let sentinel: PrivateRedis;
let url = '';
let checkScript = '';
let app: Celery;
let tsWorker: Worker | null = null;
let pyWorker: PythonWorker | null = null;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const masterSsl = () => ({ ssl_cert_reqs: 'required', ssl_ca_certs: certs.ca });
const sentinelKwargs = (extra: object = {}) => ({ password: SENTINEL_PW, ssl: true, ssl_cert_reqs: 'required', ssl_ca_certs: certs.ca, ...extra });
const transport = (kwargs: object = sentinelKwargs()) => ({ master_name: MASTER, sentinel_kwargs: kwargs });
/** Every setting, with Celery's names, as both sides take them. */
const conf = () => ({
  broker_transport_options: transport(), result_backend_transport_options: transport(),
  broker_use_ssl: masterSsl(), redis_backend_use_ssl: masterSsl(),
});

async function waitFor(cond: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A direct TLS client to the master. */
function direct(): Redis {
  return new Redis({
    port: master.port, host: '127.0.0.1', password: PW, db: DB, lazyConnect: true, maxRetriesPerRequest: 1,
    tls: { ca: readFileSync(certs.ca) },
  });
}

async function pyPeer(ops: object[]): Promise<any[]> {
  const out = await runPython('test/python/worker_peer.py', { broker: url, backend: url, conf: { ...conf(), broker_connection_retry_on_startup: true }, ops });
  const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  for (const l of lines) if (l.error) throw new Error(`python ${l.op}: ${l.error}\n${l.traceback ?? ''}`);
  return lines.map((l) => l.result);
}

/** Python Celery's broker (kombu) and result backend with these settings: 'ok' or the error. */
async function pythonConnects(settings: object): Promise<{ broker: string; backend: string }> {
  return JSON.parse(await runPython(checkScript, { url, conf: settings }));
}

/** celeriac's broker and result backend with the same settings: 'ok' or the error message. */
async function tsConnects(settings: Record<string, any>): Promise<{ broker: string; backend: string }> {
  const outcome = async (make: () => { connect(): Promise<void>; close(): Promise<void> }) => {
    let target: { connect(): Promise<void>; close(): Promise<void> } | null = null;
    try {
      target = make();
      await target.connect();
      return 'ok';
    } catch (err) {
      return (err as Error).message;
    } finally {
      await target?.close().catch(() => undefined);
    }
  };
  const broker = await outcome(() => new RedisBroker(url, settings.broker_transport_options ?? {}, {
    onError: () => undefined, settings: { brokerUseSsl: settings.broker_use_ssl ?? false },
  } as never));
  const backend = await outcome(() => new RedisBackend(url, {
    result_backend_transport_options: settings.result_backend_transport_options, redis_backend_use_ssl: settings.redis_backend_use_ssl,
  }));
  return { broker, backend };
}

before(async () => {
  const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
  if (!requireBinaries(probe, ['redis-server', 'openssl']) || !requirePython(probe as never)) return;
  certs = makeCerts();
  const tls = [
    `tls-cert-file ${certs.serverCert}`, `tls-key-file ${certs.serverKey}`, `tls-ca-cert-file ${certs.ca}`,
    'tls-auth-clients optional', 'tls-replication yes',
  ];
  master = await startRedis({ tls: true, conf: [...tls, `requirepass ${PW}`, `masterauth ${PW}`, ''].join('\n'), prefix: 'sentinel-tls-master' });
  sentinel = await startRedis({
    sentinel: true, tls: true, prefix: 'sentinel-tls',
    conf: [
      ...tls,
      `sentinel monitor ${MASTER} 127.0.0.1 ${master.port} 1`,
      `sentinel auth-pass ${MASTER} ${PW}`,
      `requirepass ${SENTINEL_PW}`,
      '',
    ].join('\n'),
  });
  url = `sentinel://:${PW}@127.0.0.1:${sentinel.port}/${DB}`;
  // the sentinel reached the master over TLS (not s_down / disconnected)
  await waitFor(async () => {
    const c = new Redis({
      port: sentinel.port, host: '127.0.0.1', password: SENTINEL_PW, lazyConnect: true, maxRetriesPerRequest: 1,
      tls: { ca: readFileSync(certs.ca) },
    });
    try {
      const info = (await c.call('SENTINEL', 'master', MASTER)) as string[];
      const flags = info[info.indexOf('flags') + 1] ?? '';
      return flags === 'master' && info[info.indexOf('role-reported') + 1] === 'master';
    } finally {
      c.disconnect();
    }
  }, 'the TLS sentinel to see the TLS master');

  const dir = tempDir('sentinel-tls-py');
  checkScript = join(dir, 'sentinel_tls_check.py');
  writeFileSync(checkScript, [
    'import json, sys',
    'from celery import Celery',
    'doc = json.load(sys.stdin)',
    "app = Celery('sentinel_tls_check', broker=doc['url'], backend=doc['url'])",
    "app.conf.update(broker_connection_timeout=3, redis_socket_connect_timeout=3, redis_socket_timeout=3, redis_retry_on_timeout=False, result_backend_always_retry=False, **doc['conf'])",
    'out = {}',
    'try:',
    '    with app.connection_for_write() as conn:',
    '        conn.ensure_connection(max_retries=1)',
    '        conn.default_channel.client.ping()',
    "    out['broker'] = 'ok'",
    'except Exception as exc:',
    "    out['broker'] = f'{type(exc).__name__}: {str(exc).strip()}'",
    'try:',
    "    app.backend.client.ping()",
    "    out['backend'] = 'ok'",
    'except Exception as exc:',
    "    out['backend'] = f'{type(exc).__name__}: {str(exc).strip()}'",
    'print(json.dumps(out))',
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'sentinel_tls_tasks.py'), [
    'import json, os',
    'from celery import Celery',
    "conf = json.loads(os.environ['CELERIAC_TEST_CONF'])",
    "app = Celery('sentinel_tls_tasks', broker=conf.pop('broker_url'), backend=conf.pop('result_backend'))",
    'app.conf.update(worker_hijack_root_logger=False, broker_connection_retry_on_startup=True, **conf)',
    "@app.task(name='sentinel_tls.add')",
    'def add(x, y):',
    '    return x + y',
    '',
  ].join('\n'));
  pyWorker = await startPythonWorker(
    ['-A', 'sentinel_tls_tasks', 'worker', '-P', 'solo', '--without-mingle', '--without-gossip', '--without-heartbeat',
      '-Q', QUEUE_PY, '-n', `${QUEUE_PY}@%h`, '--loglevel=INFO'],
    { env: { PYTHONPATH: dir, PYTHONDONTWRITEBYTECODE: '1', CELERIAC_TEST_CONF: JSON.stringify({ broker_url: url, result_backend: url, ...conf() }) } },
  );

  app = new Celery({ broker_url: url, result_backend: url, env: {}, ...conf() });
  app.task('sentinel_tls.ts_mul', (x: number, y: number) => x * y);
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

describe('sentinel:// over TLS (TLS sentinels, TLS master), TypeScript and Python Celery', () => {
  test('TypeScript sends through the TLS sentinel, a Python worker runs it, TypeScript reads the result', async (t) => {
    if (skip) return t.skip();
    const r = await app.sendTask<number>('sentinel_tls.add', [2, 3], {}, { queue: QUEUE_PY });
    assert.equal(await r.get({ timeout: 20 }), 5);
    const m = direct();
    try {
      assert.ok(await m.exists(`celery-task-meta-${r.id}`), 'the record is on the TLS master, in the db of the URL');
    } finally {
      m.disconnect();
    }
  });

  test('Python sends through the TLS sentinel, a TypeScript worker runs it, Python reads the result', async (t) => {
    if (skip) return t.skip();
    const [id] = await pyPeer([{ op: 'send', name: 'sentinel_tls.ts_mul', args: [6, 7], options: { queue: QUEUE_TS } }]);
    const [out] = await pyPeer([{ op: 'get', id, timeout: 20 }]);
    assert.equal(out.state, 'SUCCESS');
    assert.equal(out.result, 42);
  });
});

describe('sentinel TLS settings behave as in kombu and Celery: the same settings connect, or fail, on both sides', () => {
  test('the full settings connect on both sides; kombu takes broker_use_ssl without ssl_cert_reqs (required by default)', async (t) => {
    if (skip) return t.skip();
    assert.deepEqual(await tsConnects(conf()), { broker: 'ok', backend: 'ok' });
    assert.deepEqual(await pythonConnects(conf()), { broker: 'ok', backend: 'ok' });
    // ...and sentinel_kwargs without ssl_cert_reqs (redis-py's Redis() defaults to required)
    const kwargs = { password: SENTINEL_PW, ssl: true, ssl_ca_certs: certs.ca };
    const noReqs = { ...conf(), broker_use_ssl: { ssl_ca_certs: certs.ca }, broker_transport_options: transport(kwargs), result_backend_transport_options: transport(kwargs) };
    assert.deepEqual(await tsConnects(noReqs), { broker: 'ok', backend: 'ok' });
    assert.deepEqual(await pythonConnects(noReqs), { broker: 'ok', backend: 'ok' });
  });

  test('Celery\'s backend refuses redis_backend_use_ssl without ssl_cert_reqs for sentinel:// too, with Celery\'s message', async (t) => {
    if (skip) return t.skip();
    const message = 'A rediss:// URL must have parameter ssl_cert_reqs and this must be set to CERT_REQUIRED, CERT_OPTIONAL, or CERT_NONE';
    const settings = { ...conf(), redis_backend_use_ssl: { ssl_ca_certs: certs.ca } };
    const ts = await tsConnects(settings);
    assert.equal(ts.backend, message);
    assert.equal(ts.broker, 'ok');
    const py = await pythonConnects(settings);
    assert.equal(py.backend, `ValueError: ${message}`);
    assert.equal(py.broker, 'ok');
  });

  test('plain connections to the TLS sentinel (sentinel_kwargs without ssl) fail on both sides', async (t) => {
    if (skip) return t.skip();
    const plain = { ...conf(), broker_transport_options: transport({ password: SENTINEL_PW }), result_backend_transport_options: transport({ password: SENTINEL_PW }) };
    const ts = await tsConnects(plain);
    assert.match(ts.broker, /^cannot connect to the Redis broker sentinel:\/\/:\*\*@.*All sentinels are unreachable/);
    assert.match(ts.backend, /All sentinels are unreachable/);
    const py = await pythonConnects(plain);
    assert.match(py.broker, /^OperationalError: No master found for 'tlsmaster'/);
    assert.match(py.backend, /^MasterNotFoundError: No master found for 'tlsmaster'/);
  });

  test('a plain connection to the TLS master (no *_use_ssl) fails on both sides', async (t) => {
    if (skip) return t.skip();
    // plaintext to a TLS port may leave the server waiting for the rest of a "TLS record" forever, in
    // redis-py as in ioredis: socket_timeout (both sides take it from the transport options) bounds that
    const timeouts = { ...transport(), socket_timeout: 3, socket_connect_timeout: 3 };
    const settings = {
      ...conf(), broker_use_ssl: null, redis_backend_use_ssl: null,
      broker_transport_options: timeouts, result_backend_transport_options: timeouts,
    };
    const ts = await tsConnects(settings);
    // the TLS master hangs up on plaintext (or, at worst, leaves it waiting until socket_timeout)
    const hungUp = /: (write ECONNRESET|read ECONNRESET|socket hang up|Connection is closed|.*timed? ?out)/i;
    assert.match(ts.broker, /^cannot connect to the Redis broker sentinel:\/\/:\*\*@/);
    assert.match(ts.broker, hungUp);
    assert.match(ts.backend, /^cannot connect to the Redis result backend sentinel:\/\/:\*\*@/);
    assert.match(ts.backend, hungUp);
    const py = await pythonConnects(settings);
    assert.match(py.broker, /^OperationalError: .*(Connection reset by peer|Connection closed by server|EOF occurred in violation of protocol|Timeout)/i);
    assert.match(py.backend, /^(ConnectionError|TimeoutError): .*(Connection reset by peer|Connection closed by server|EOF occurred in violation of protocol|Timeout)/i);
  });

  test('a CA that did not sign the sentinel\'s certificate fails on both sides; ssl_cert_reqs none skips the check', async (t) => {
    if (skip) return t.skip();
    const wrong = (kwargs: object) => ({ ...conf(), broker_transport_options: transport(kwargs), result_backend_transport_options: transport(kwargs) });
    const bad = wrong(sentinelKwargs({ ssl_ca_certs: certs.otherCa }));
    const ts = await tsConnects(bad);
    assert.match(ts.broker, /All sentinels are unreachable.*(self-signed|certificate)/i);
    assert.match(ts.backend, /All sentinels are unreachable.*(self-signed|certificate)/i);
    const py = await pythonConnects(bad);
    // redis-py's Sentinel hides the cause: no sentinel answered, so no master
    assert.match(py.broker, /^OperationalError: No master found for 'tlsmaster'/);
    assert.match(py.backend, /^MasterNotFoundError: No master found for 'tlsmaster'/);
    const none = wrong(sentinelKwargs({ ssl_cert_reqs: 'none', ssl_ca_certs: certs.otherCa }));
    assert.deepEqual(await tsConnects(none), { broker: 'ok', backend: 'ok' });
    assert.deepEqual(await pythonConnects(none), { broker: 'ok', backend: 'ok' });
  });
});
