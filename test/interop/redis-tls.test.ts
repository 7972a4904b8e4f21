// rediss:// against real TLS servers: a CA, server and client certificates made with openssl at test
// time, and private `redis-server --tls-port` children (16380-16399). The URL is written the way Celery
// users write it (`rediss://:pw@host:port/db?ssl_cert_reqs=required&ssl_ca_certs=/path/ca.crt`, plus
// ssl_certfile/ssl_keyfile for client certificates). TypeScript and a real Python Celery 5.6 worker
// exchange tasks and results over it both ways; every TLS setting behaves as it does in Celery (the same
// URL connects, or fails, on both sides); failed connections name the safe URL and never the password.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Celery } from '../../src/app.ts';
import { RedisBroker } from '../../src/brokers/redis/broker.ts';
import { RedisBackend } from '../../src/backends/redis.ts';
import { Worker } from '../../src/worker/worker.ts';
import { silentLogger } from '../../src/worker/log.ts';
import { requirePython, runPython, startPythonWorker, uniqueName, type PythonWorker } from '../helpers/peers.ts';
import {
  cleanupDirs, makeCerts, requireBinaries, startRedis, stopAll, tempDir, type Certs, type PrivateRedis,
} from '../helpers/private-redis.ts';

const PW = 'tls-Pa55-secret';
const DB = 2;
const QUEUE_PY = uniqueName('tls.py');
const QUEUE_TS = uniqueName('tls.ts');
const QUEUE_PY_DICT = uniqueName('tls.py-dict');
const QUEUE_TS_DICT = uniqueName('tls.ts-dict');

let skip = false;
let certs: Certs;
/** TLS, password, client certificates optional. */
let server: PrivateRedis;
/** TLS, no password, client certificates required (`--tls-auth-clients yes`). */
let mtls: PrivateRedis;
let app: Celery;
let tsWorker: Worker | null = null;
let pyWorker: PythonWorker | null = null;
let checkScript = '';
let backendCheckScript = '';
/** result_backend as a bare rediss:// URL + redis_backend_use_ssl, on both sides. */
let dictApp: Celery;
let dictWorker: Worker | null = null;
let pyDictWorker: PythonWorker | null = null;
const backendSsl = () => ({ ssl_cert_reqs: 'required', ssl_ca_certs: certs.ca });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tlsUrl(port: number, query: string, password: string | null = PW): string {
  return `rediss://${password === null ? '' : `:${password}@`}127.0.0.1:${port}/${DB}${query ? `?${query}` : ''}`;
}
const goodUrl = () => tlsUrl(server.port, `ssl_cert_reqs=required&ssl_ca_certs=${certs.ca}`);

/** Python Celery's side (test/python/worker_peer.py) over the same URL. */
async function pyPeer(ops: object[]): Promise<any[]> {
  const out = await runPython('test/python/worker_peer.py', { broker: goodUrl(), backend: goodUrl(), conf: {}, ops });
  const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  for (const l of lines) if (l.error) throw new Error(`python ${l.op}: ${l.error}\n${l.traceback ?? ''}`);
  return lines.map((l) => l.result);
}

/** Whether Python Celery's broker (kombu) and result backend connect with the URL: 'ok' or the error. */
async function pythonConnects(url: string): Promise<{ broker: string; backend: string }> {
  return JSON.parse(await runPython(checkScript, { url }));
}

/** Whether Python Celery's result backend accepts (construction) and connects (PING) with these settings. */
async function pythonBackend(url: string, conf: object): Promise<string> {
  return JSON.parse(await runPython(backendCheckScript, { url, conf })).backend;
}

/** The same for celeriac's backend, built by the app from the same settings. */
async function tsBackend(url: string, conf: object): Promise<string> {
  const a = new Celery({ broker_url: goodUrl(), result_backend: url, env: {}, ...conf });
  try {
    const backend = a.backend as RedisBackend;
    await backend.connect();
    await backend.client.set(uniqueName('tls-probe'), '1', 'EX', 10);
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  } finally {
    await a.close().catch(() => undefined);
  }
}

/** Whether celeriac's broker and result backend connect with the URL: 'ok' or the error message. */
async function tsConnects(url: string): Promise<{ broker: string; backend: string; errors: Error[] }> {
  const errors: Error[] = [];
  const broker = new RedisBroker(url, {}, { onError: (e) => errors.push(e) });
  const backend = new RedisBackend(url);
  try {
    const b = await broker.connect().then(() => 'ok', (e: Error) => (errors.push(e), e.message));
    const k = await backend.connect().then(async () => {
      await backend.client.set(uniqueName('tls-probe'), '1', 'EX', 10);
      return 'ok';
    }, (e: Error) => (errors.push(e), e.message));
    await sleep(200); // background reconnect reports
    return { broker: b, backend: k, errors };
  } finally {
    await broker.close();
    await backend.close();
  }
}

function assertNoSecret(what: unknown, ...secrets: string[]): void {
  const text = `${inspect(what, { depth: 10 })}\n${String(what)}`;
  for (const s of secrets) assert.ok(!text.includes(s), `a secret leaked into:\n${text}`);
}

before(async () => {
  const probe = { skip: (why: string) => { skip = true; console.log(`# skipped: ${why}`); } };
  if (!requireBinaries(probe, ['redis-server', 'openssl']) || !requirePython(probe as never)) return;
  certs = makeCerts();
  const tlsArgs = ['--tls-cert-file', certs.serverCert, '--tls-key-file', certs.serverKey, '--tls-ca-cert-file', certs.ca];
  server = await startRedis({ tls: true, args: [...tlsArgs, '--requirepass', PW, '--tls-auth-clients', 'optional'], prefix: 'tls' });
  mtls = await startRedis({ tls: true, args: [...tlsArgs, '--tls-auth-clients', 'yes'], prefix: 'mtls' });

  const dir = tempDir('tls-py');
  checkScript = join(dir, 'tls_check.py');
  writeFileSync(checkScript, [
    'import json, sys',
    'from celery import Celery',
    "url = json.load(sys.stdin)['url']",
    "app = Celery('tls_check', broker=url, backend=url)",
    "app.conf.update(broker_connection_timeout=3, redis_socket_connect_timeout=3, redis_socket_timeout=3, redis_retry_on_timeout=False, result_backend_always_retry=False)",
    'out = {}',
    'try:',
    '    with app.connection_for_write() as conn:',
    '        conn.ensure_connection(max_retries=1)',
    '        conn.default_channel.client.ping()',
    "    out['broker'] = 'ok'",
    'except Exception as exc:',
    "    out['broker'] = f'{type(exc).__name__}: {exc}'",
    'try:',
    "    app.backend.client.ping()",
    "    out['backend'] = 'ok'",
    'except Exception as exc:',
    "    out['backend'] = f'{type(exc).__name__}: {exc}'",
    'print(json.dumps(out))',
    '',
  ].join('\n'));
  backendCheckScript = join(dir, 'tls_backend_check.py');
  writeFileSync(backendCheckScript, [
    'import json, sys',
    'from celery import Celery',
    'doc = json.load(sys.stdin)',
    "app = Celery('tls_backend_check', backend=doc['url'])",
    "app.conf.update(redis_socket_connect_timeout=3, redis_socket_timeout=3, redis_retry_on_timeout=False, result_backend_always_retry=False, **doc['conf'])",
    'try:',
    "    app.backend.client.ping()",
    "    out = 'ok'",
    'except Exception as exc:',
    "    out = f'{type(exc).__name__}: {str(exc).strip()}'",
    "print(json.dumps({'backend': out}))",
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'tls_tasks.py'), [
    'import json, os',
    'from celery import Celery',
    "url = os.environ['CELERIAC_TEST_URL']",
    "app = Celery('tls_tasks', broker=url, backend=os.environ.get('CELERIAC_TEST_BACKEND', url))",
    'app.conf.update(worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)',
    "app.conf.update(json.loads(os.environ.get('CELERIAC_TEST_CONF', '{}')))",
    "@app.task(name='tls.add')",
    'def add(x, y):',
    '    return x + y',
    '',
  ].join('\n'));
  pyWorker = await startPythonWorker(
    ['-A', 'tls_tasks', 'worker', '-P', 'solo', '--without-mingle', '--without-gossip', '--without-heartbeat',
      '-Q', QUEUE_PY, '-n', `${QUEUE_PY}@%h`, '--loglevel=INFO'],
    { env: { PYTHONPATH: dir, PYTHONDONTWRITEBYTECODE: '1', CELERIAC_TEST_URL: goodUrl() } },
  );

  app = new Celery({ broker_url: goodUrl(), result_backend: goodUrl(), env: {} });
  app.task('tls.ts_mul', (x: number, y: number) => x * y);
  tsWorker = new Worker(app, { queues: [QUEUE_TS], concurrency: 2, hostname: `${QUEUE_TS}@%h`, logger: silentLogger });
  await tsWorker.start();

  // result_backend = 'rediss://:pw@host:port/2' (no query) + redis_backend_use_ssl, on both sides
  pyDictWorker = await startPythonWorker(
    ['-A', 'tls_tasks', 'worker', '-P', 'solo', '--without-mingle', '--without-gossip', '--without-heartbeat',
      '-Q', QUEUE_PY_DICT, '-n', `${QUEUE_PY_DICT}@%h`, '--loglevel=INFO'],
    {
      env: {
        PYTHONPATH: dir, PYTHONDONTWRITEBYTECODE: '1', CELERIAC_TEST_URL: goodUrl(),
        CELERIAC_TEST_BACKEND: tlsUrl(server.port, ''), CELERIAC_TEST_CONF: JSON.stringify({ redis_backend_use_ssl: backendSsl() }),
      },
    },
  );
  dictApp = new Celery({ broker_url: goodUrl(), result_backend: tlsUrl(server.port, ''), redis_backend_use_ssl: backendSsl(), env: {} });
  dictApp.task('tls.ts_sub', (x: number, y: number) => x - y);
  dictWorker = new Worker(dictApp, { queues: [QUEUE_TS_DICT], concurrency: 2, hostname: `${QUEUE_TS_DICT}@%h`, logger: silentLogger });
  await dictWorker.start();
});

after(async () => {
  await tsWorker?.stop().catch(() => undefined);
  await dictWorker?.stop().catch(() => undefined);
  await app?.close().catch(() => undefined);
  await dictApp?.close().catch(() => undefined);
  await pyWorker?.stop();
  await pyDictWorker?.stop();
  await stopAll();
  cleanupDirs();
});

describe('rediss:// broker and result backend, TypeScript and Python Celery', () => {
  test('TypeScript sends over TLS, a Python worker runs it, TypeScript reads the result', async (t) => {
    if (skip) return t.skip();
    const r = await app.sendTask<number>('tls.add', [2, 3], {}, { queue: QUEUE_PY });
    assert.equal(await r.get({ timeout: 20 }), 5);
    assert.ok(!pyWorker!.log().includes(PW), 'the Python worker never logs the password either');
  });

  test('Python sends over TLS, a TypeScript worker runs it, Python reads the result', async (t) => {
    if (skip) return t.skip();
    const [id] = await pyPeer([{ op: 'send', name: 'tls.ts_mul', args: [6, 7], options: { queue: QUEUE_TS } }]);
    const [out] = await pyPeer([{ op: 'get', id, timeout: 20 }]);
    assert.equal(out.state, 'SUCCESS');
    assert.equal(out.result, 42);
  });
});

describe('broker_use_ssl (kombu\'s Redis keys) instead of URL parameters', () => {
  test('rediss:// and redis:// with a broker_use_ssl dict: a Python worker runs what TypeScript sent', async (t) => {
    if (skip) return t.skip();
    const plain = tlsUrl(server.port, '');
    for (const [brokerUrl, useSsl] of [
      [plain, { ssl_cert_reqs: 'required', ssl_ca_certs: certs.ca }],
      // kombu: a dict turns TLS on for redis:// as well; ssl.CERT_REQUIRED is 2
      [plain.replace(/^rediss:/, 'redis:'), { ssl_cert_reqs: 2, ssl_ca_certs: certs.ca, ssl_certfile: certs.clientCert, ssl_keyfile: certs.clientKey }],
    ] as const) {
      const a = new Celery({ broker_url: brokerUrl, broker_use_ssl: useSsl, result_backend: goodUrl(), env: {} });
      try {
        const r = await a.sendTask<number>('tls.add', [40, 2], {}, { queue: QUEUE_PY });
        assert.equal(await r.get({ timeout: 20 }), 42, brokerUrl);
      } finally {
        await a.close();
      }
    }
  });

  test('broker_use_ssl with the wrong CA fails as the URL form does; unknown keys are refused', async (t) => {
    if (skip) return t.skip();
    const broker = new RedisBroker(tlsUrl(server.port, ''), {}, {
      onError: () => undefined, settings: { brokerUseSsl: { ssl_cert_reqs: 'CERT_REQUIRED', ssl_ca_certs: certs.otherCa } },
    } as never);
    try {
      await assert.rejects(broker.connect(), (e: Error) => /TLS certificate verification failed/.test(e.message) && !e.message.includes(PW));
    } finally {
      await broker.close();
    }
    assert.throws(
      () => new RedisBroker(tlsUrl(server.port, ''), {}, { settings: { brokerUseSsl: { ca_certs: certs.ca } } } as never),
      /broker_use_ssl: unknown key "ca_certs" for Redis/,
    );
  });
});

describe('TLS settings behave as in Celery: the same URL connects, or fails, on both sides', () => {
  test('ssl_cert_reqs=required / CERT_REQUIRED with the right CA: both connect', async (t) => {
    if (skip) return t.skip();
    for (const reqs of ['required', 'CERT_REQUIRED']) {
      const url = tlsUrl(server.port, `ssl_cert_reqs=${reqs}&ssl_ca_certs=${certs.ca}`);
      const ts = await tsConnects(url);
      assert.deepEqual([ts.broker, ts.backend], ['ok', 'ok'], reqs);
      assert.deepEqual(await pythonConnects(url), { broker: 'ok', backend: 'ok' }, reqs);
    }
  });

  test('a CA that did not sign the server certificate: a clear error naming the safe URL, never the password', async (t) => {
    if (skip) return t.skip();
    const url = tlsUrl(server.port, `ssl_cert_reqs=required&ssl_ca_certs=${certs.otherCa}`);
    const ts = await tsConnects(url);
    const safe = tlsUrl(server.port, `ssl_cert_reqs=required&ssl_ca_certs=${certs.otherCa}`, '**');
    assert.equal(ts.broker, `cannot connect to the Redis broker ${safe}: TLS certificate verification failed `
      + '(SELF_SIGNED_CERT_IN_CHAIN: self-signed certificate in certificate chain); check ssl_ca_certs, or ssl_cert_reqs=none to skip verification');
    assert.match(ts.backend, new RegExp(`^cannot connect to the Redis result backend ${safe.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: TLS certificate verification failed`));
    assertNoSecret(ts.errors, PW);
    const py = await pythonConnects(url);
    assert.match(py.broker, /certificate verify failed/);
    assert.match(py.backend, /certificate verify failed/);
  });

  test('ssl_cert_reqs=optional verifies too (Python: CERT_OPTIONAL means CERT_REQUIRED for a client)', async (t) => {
    if (skip) return t.skip();
    const bad = tlsUrl(server.port, `ssl_cert_reqs=optional&ssl_ca_certs=${certs.otherCa}`);
    const ts = await tsConnects(bad);
    assert.match(ts.broker, /TLS certificate verification failed/, JSON.stringify(ts));
    assert.match(ts.backend, /TLS certificate verification failed/, JSON.stringify(ts));
    const py = await pythonConnects(bad);
    assert.notEqual(py.broker, 'ok', 'Python refuses the certificate too');
    assert.notEqual(py.backend, 'ok', 'Python refuses the certificate too');
    const good = tlsUrl(server.port, `ssl_cert_reqs=CERT_OPTIONAL&ssl_ca_certs=${certs.ca}`);
    const ts2 = await tsConnects(good);
    assert.deepEqual([ts2.broker, ts2.backend], ['ok', 'ok'], JSON.stringify(ts2));
    assert.deepEqual(await pythonConnects(good), { broker: 'ok', backend: 'ok' });
  });

  test('ssl_cert_reqs=none connects without verifying (wrong CA, or none at all)', async (t) => {
    if (skip) return t.skip();
    for (const query of ['ssl_cert_reqs=none', `ssl_cert_reqs=CERT_NONE&ssl_ca_certs=${certs.otherCa}`]) {
      const url = tlsUrl(server.port, query);
      const ts = await tsConnects(url);
      assert.deepEqual([ts.broker, ts.backend], ['ok', 'ok'], query);
      assert.deepEqual(await pythonConnects(url), { broker: 'ok', backend: 'ok' }, query);
    }
  });

  test('client certificates (ssl_certfile, ssl_keyfile) for a server that requires them', async (t) => {
    if (skip) return t.skip();
    const withCert = tlsUrl(mtls.port, `ssl_cert_reqs=required&ssl_ca_certs=${certs.ca}&ssl_certfile=${certs.clientCert}&ssl_keyfile=${certs.clientKey}`, null);
    const ts = await tsConnects(withCert);
    assert.deepEqual([ts.broker, ts.backend], ['ok', 'ok']);
    assert.deepEqual(await pythonConnects(withCert), { broker: 'ok', backend: 'ok' });
    // without one, the server hangs up during the handshake: both sides fail
    const without = tlsUrl(mtls.port, `ssl_cert_reqs=required&ssl_ca_certs=${certs.ca}`, null);
    const ts2 = await tsConnects(without);
    // TLS 1.3: the client's handshake completes first, then the server sends its alert and hangs up;
    // which of the two the client reads first depends on timing
    const refused = /: (write ECONNRESET|read ECONNRESET|socket hang up|Client network socket disconnected before secure TLS connection|.*tlsv13 alert certificate required)/;
    assert.match(ts2.broker, /^cannot connect to the Redis broker rediss:\/\/127\.0\.0\.1:\d+\/2\?ssl_cert_reqs=required/);
    assert.match(ts2.broker, refused);
    assert.match(ts2.backend, /^cannot connect to the Redis result backend rediss:\/\/127\.0\.0\.1:\d+\/2\?ssl_cert_reqs=required/);
    assert.match(ts2.backend, refused);
    const py = await pythonConnects(without);
    const pyRefused = /(TLSV13_ALERT_CERTIFICATE_REQUIRED|Connection reset by peer|EOF occurred in violation of protocol)/;
    assert.match(py.broker, /^OperationalError: /);
    assert.match(py.broker, pyRefused);
    assert.match(py.backend, /^ConnectionError: /);
    assert.match(py.backend, pyRefused);
  });

  test('wrong password over TLS: WRONGPASS, the safe URL, no password anywhere', async (t) => {
    if (skip) return t.skip();
    const bad = 'wrong-tls-Pa55';
    const url = tlsUrl(server.port, `ssl_cert_reqs=required&ssl_ca_certs=${certs.ca}`, bad);
    const ts = await tsConnects(url);
    assert.match(ts.broker, /^cannot connect to the Redis broker rediss:\/\/:\*\*@127\.0\.0\.1:\d+\/2\?.*WRONGPASS/);
    assert.match(ts.backend, /^cannot connect to the Redis result backend rediss:\/\/:\*\*@.*WRONGPASS/);
    assert.ok(ts.errors.length >= 2);
    assertNoSecret(ts.errors, bad, PW);
    const py = await pythonConnects(url);
    assert.match(py.broker, /invalid username-password|WRONGPASS|Authentication/i);
  });

  test('a celeriac app whose broker cannot connect: the error it throws carries no password', async (t) => {
    if (skip) return t.skip();
    const bad = 'wrong-app-Pa55';
    const url = tlsUrl(server.port, `ssl_cert_reqs=required&ssl_ca_certs=${certs.ca}`, bad);
    const logged: string[] = [];
    const orig = console.error;
    console.error = (...args: unknown[]) => void logged.push(args.map((a) => inspect(a, { depth: 10 })).join(' '));
    const bad_app = new Celery({ broker_url: url, result_backend: url, env: {}, broker_connection_max_retries: 1, broker_connection_timeout: 1 });
    try {
      const err = await bad_app.sendTask('tls.add', [1, 1], {}, { queue: QUEUE_PY }).then(() => null, (e: Error) => e);
      assert.ok(err, 'sending must fail');
      assert.match(String((err as Error).message), /WRONGPASS/, 'fails for the wrong password, not for anything else');
      assertNoSecret(err, bad);
      assert.match(String((err as Error).message), /rediss:\/\/:\*\*@/);
    } finally {
      await bad_app.close().catch(() => undefined);
      console.error = orig;
    }
    assertNoSecret(logged, bad);
  });
});

describe('redis_backend_use_ssl (Celery\'s RedisBackend rules), TypeScript and Python Celery', () => {
  test('rediss:// + redis_backend_use_ssl: TypeScript sends, a Python worker with the same settings stores, TypeScript reads', async (t) => {
    if (skip) return t.skip();
    const r = await dictApp.sendTask<number>('tls.add', [19, 23], {}, { queue: QUEUE_PY_DICT });
    assert.equal(await r.get({ timeout: 20 }), 42);
    assert.equal((dictApp.backend as RedisBackend).client.options.tls?.rejectUnauthorized, true);
  });

  test('Python with the same settings sends, a TypeScript worker stores, Python reads', async (t) => {
    if (skip) return t.skip();
    const conf = { redis_backend_use_ssl: backendSsl() };
    const peer = async (ops: object[]) => {
      const out = await runPython('test/python/worker_peer.py', { broker: goodUrl(), backend: tlsUrl(server.port, ''), conf, ops });
      const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      for (const l of lines) if (l.error) throw new Error(`python ${l.op}: ${l.error}\n${l.traceback ?? ''}`);
      return lines.map((l) => l.result);
    };
    const [id] = await peer([{ op: 'send', name: 'tls.ts_sub', args: [50, 8], options: { queue: QUEUE_TS_DICT } }]);
    const [out] = await peer([{ op: 'get', id, timeout: 20 }]);
    assert.equal(out.state, 'SUCCESS');
    assert.equal(out.result, 42);
  });

  test('client certificates through the dict, against a server that requires them: both connect', async (t) => {
    if (skip) return t.skip();
    const url = tlsUrl(mtls.port, '', null);
    const conf = { redis_backend_use_ssl: { ...backendSsl(), ssl_certfile: certs.clientCert, ssl_keyfile: certs.clientKey } };
    assert.equal(await tsBackend(url, conf), 'ok');
    assert.equal(await pythonBackend(url, conf), 'ok');
  });

  test('the rediss:// query wins over the dict (ssl_cert_reqs=none in the URL, a wrong CA in the dict): both connect', async (t) => {
    if (skip) return t.skip();
    const url = tlsUrl(server.port, 'ssl_cert_reqs=none');
    const conf = { redis_backend_use_ssl: { ssl_cert_reqs: 'required', ssl_ca_certs: certs.otherCa } };
    assert.equal(await tsBackend(url, conf), 'ok');
    assert.equal(await pythonBackend(url, conf), 'ok');
    // ...and with the dict alone that wrong CA fails on both sides
    const bare = tlsUrl(server.port, '');
    assert.match(await tsBackend(bare, conf), /TLS certificate verification failed/);
    assert.match(await pythonBackend(bare, conf), /certificate verify failed/);
  });

  test('settings Celery refuses are refused with Celery\'s message', async (t) => {
    if (skip) return t.skip();
    const mismatch = 'SSL connection parameters have been provided but the specified URL scheme is redis://. A Redis SSL connection URL should use the scheme rediss://.';
    const missing = 'A rediss:// URL must have parameter ssl_cert_reqs and this must be set to CERT_REQUIRED, CERT_OPTIONAL, or CERT_NONE';
    const plain = tlsUrl(server.port, '').replace(/^rediss:/, 'redis:');
    const cases: [string, object, string][] = [
      // redis:// + the dict (kombu's broker would turn TLS on; Celery's backend raises)
      [plain, { redis_backend_use_ssl: backendSsl() }, mismatch],
      [tlsUrl(server.port, 'ssl_cert_reqs=required').replace(/^rediss:/, 'redis:'), {}, mismatch],
      // rediss:// without ssl_cert_reqs, in the URL or the dict
      [tlsUrl(server.port, ''), {}, missing],
      [tlsUrl(server.port, ''), { redis_backend_use_ssl: { ssl_ca_certs: certs.ca } }, missing],
      [tlsUrl(server.port, 'ssl_cert_reqs=REQUIRED'), {}, missing],
    ];
    for (const [url, conf, message] of cases) {
      assert.equal(await tsBackend(url, conf), message, `${url} ${JSON.stringify(conf)}`);
      assert.equal(await pythonBackend(url, conf), `ValueError: ${message}`, `${url} ${JSON.stringify(conf)}`);
    }
    // not a dict: Celery's dict.update(True) raises TypeError
    assert.match(await tsBackend(tlsUrl(server.port, 'ssl_cert_reqs=required'), { redis_backend_use_ssl: true }), /redis_backend_use_ssl must be a dict/);
    assert.match(await pythonBackend(tlsUrl(server.port, 'ssl_cert_reqs=required'), { redis_backend_use_ssl: true }), /^TypeError/);
  });
});
