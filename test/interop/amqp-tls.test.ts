// amqps:// against a PRIVATE RabbitMQ node with a TLS listener (openssl CA / server / client certificates,
// `ssl_options.verify = verify_peer`, `fail_if_no_peer_cert = true`): broker_use_ssl as Celery users write
// it ({ca_certs, certfile, keyfile, cert_reqs: ssl.CERT_REQUIRED}), a TypeScript producer -> a real Python
// Celery worker and Python -> a TypeScript worker; a wrong CA and a missing client certificate give a clear
// connection error naming the safe URL, never the password.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { randomUUID } from 'node:crypto';
import { IN_CI, requirePython, uniqueName } from '../helpers/peers.ts';
import { amqpApp, pyPeer, pyWorker, tsWorker } from '../helpers/amqp.ts';
import { freePort } from '../helpers/net.ts';
import { privateRabbit, rabbitAvailable, type PrivateRabbit } from '../helpers/private-rabbit.ts';
import { cleanupDirs, makeCerts, type Certs } from '../helpers/private-redis.ts';
import { AmqpBroker } from '../../src/brokers/amqp/broker.ts';
import { Worker } from '../../src/worker/worker.ts';
import { silentLogger } from '../../src/worker/log.ts';

const available = rabbitAvailable();
if (!available && IN_CI) throw new Error('rabbitmq-server is not installed (/usr/lib/rabbitmq/bin/rabbitmq-server)');

let rabbit: PrivateRabbit;
let certs: Certs;
let ssl: Record<string, unknown>;

before(async () => {
  if (!available) return;
  certs = makeCerts();
  ssl = { ca_certs: certs.ca, certfile: certs.clientCert, keyfile: certs.clientKey, cert_reqs: 'CERT_REQUIRED' };
  rabbit = privateRabbit({
    tls: { port: await freePort(), cacertfile: certs.ca, certfile: certs.serverCert, keyfile: certs.serverKey, requireClientCert: true },
  });
  await rabbit.start();
});

after(async () => {
  if (!available) return;
  await rabbit?.destroy();
  cleanupDirs();
});

test('TypeScript producer over amqps:// (broker_use_ssl, CERT_REQUIRED, client certificate) -> a real Python Celery worker over amqps', { timeout: 90_000 }, async (t) => {
  if (!available) return t.skip('rabbitmq-server not installed');
  if (!requirePython(t)) return;
  const q = uniqueName('amqp.tls.py');
  const conf = { task_default_queue: q, broker_use_ssl: ssl };
  const py = await pyWorker([q], conf, rabbit.tlsUrl!);
  t.after(() => py.stop());
  const app = amqpApp(conf, rabbit.tlsUrl!);
  t.after(() => app.close());
  assert.equal(await (await app.sendTask('amqp.add', [2, 3])).get({ timeout: 20 }), 5);
  const info = await (await app.sendTask('amqp.info', [])).get({ timeout: 20 }) as { lang: string };
  assert.equal(info.lang, 'py');
  // both ends really are on the TLS listener
  const conns = await rabbit.ctl('list_connections', 'ssl', 'peer_cert_subject', 'client_properties', '--no-table-headers', '-q');
  const lines = conns.trim().split('\n').filter(Boolean);
  t.diagnostic(`rabbit connections: ${lines.length}`);
  assert.ok(lines.some((l) => /^true\s+CN=client/.test(l) && l.includes('celeriac')), `a TLS connection from celeriac with the client certificate:\n${conns}`);
  assert.ok(lines.some((l) => /^true\s+CN=client/.test(l) && /py-amqp|amqp/.test(l) && !l.includes('celeriac')), `a TLS connection from py-amqp:\n${conns}`);
  assert.ok(lines.every((l) => l.startsWith('true')), `no plain-TCP connection:\n${conns}`);
});

test('Python send_task over amqps:// (broker_use_ssl with ssl.CERT_REQUIRED) -> a TypeScript worker over amqps', { timeout: 90_000 }, async (t) => {
  if (!available) return t.skip('rabbitmq-server not installed');
  if (!requirePython(t)) return;
  const q = uniqueName('amqp.tls.ts');
  const conf = { task_default_queue: q, broker_use_ssl: ssl };
  const app = amqpApp(conf, rabbit.tlsUrl!);
  const w = await tsWorker(app, [q]);
  t.after(() => w.stop());
  const [id] = await pyPeer([{ op: 'send', name: 'amqp.add', args: [20, 22] }], conf, rabbit.tlsUrl!);
  const [out] = await pyPeer([{ op: 'get', id, timeout: 20 }], conf, rabbit.tlsUrl!) as [{ state: string; result: unknown }];
  assert.equal(out.state, 'SUCCESS');
  assert.equal(out.result, 42);
});

test('rpc:// result backend over amqps:// with the broker\'s broker_use_ssl: TypeScript caller <- Python worker, Python caller <- TypeScript worker', { timeout: 90_000 }, async (t) => {
  if (!available) return t.skip('rabbitmq-server not installed');
  if (!requirePython(t)) return;
  // Celery's rpc backend uses the broker connection: the replies travel over TLS with the broker's options
  const q = uniqueName('amqp.tls.rpc');
  const conf = { task_default_queue: q, broker_use_ssl: ssl, result_backend: 'rpc://' };
  const py = await pyWorker([q], conf, rabbit.tlsUrl!);
  t.after(() => py.stop());
  const caller = amqpApp(conf, rabbit.tlsUrl!);
  t.after(() => caller.close());
  assert.equal(await (await caller.sendTask('amqp.add', [2, 3])).get({ timeout: 20 }), 5);
  const info = await (await caller.sendTask('amqp.info', [])).get({ timeout: 20 }) as { lang: string };
  assert.equal(info.lang, 'py');
  const conns = await rabbit.ctl('list_connections', 'ssl', 'peer_cert_subject', 'client_properties', '--no-table-headers', '-q');
  assert.ok(conns.split('\n').some((l) => /^true\s+CN=client/.test(l) && l.includes('celeriac rpc backend')), `the rpc backend's connection is TLS with the client certificate:\n${conns}`);

  const tq = uniqueName('amqp.tls.rpc.ts');
  const tsConf = { ...conf, task_default_queue: tq };
  const tsApp = amqpApp(tsConf, rabbit.tlsUrl!);
  const w = await tsWorker(tsApp, [tq]);
  t.after(async () => {
    await w.stop();
    await tsApp.close();
  });
  const id = randomUUID();
  // one Python process sends and waits: its reply queue (the app's oid) lives as long as it does
  const [sent, out] = await pyPeer([
    { op: 'send', name: 'amqp.add', args: [20, 22], options: { task_id: id } },
    { op: 'get', id, timeout: 20 },
  ], tsConf, rabbit.tlsUrl!) as [string, { state: string; result: unknown }];
  assert.equal(sent, id);
  assert.equal(out.state, 'SUCCESS');
  assert.equal(out.result, 42);
});

test('a wrong CA, a missing client certificate: a clear connection error naming the safe URL, never the password', { timeout: 60_000 }, async (t) => {
  if (!available) return t.skip('rabbitmq-server not installed');
  const url = rabbit.tlsUrl!.replace('guest:guest@', 'guest:sekrit-pw@');
  const safe = url.replace('sekrit-pw', '**');
  const attempt = async (useSsl: Record<string, unknown>) => {
    const reported: Error[] = [];
    const b = new AmqpBroker(url, {}, { settings: { brokerUseSsl: useSsl }, onError: (e) => reported.push(e) });
    try {
      await b.connect();
      assert.fail('connected');
    } catch (err) {
      const e = err as Error;
      assert.equal(e.name, 'BrokerConnectionError');
      assert.ok(e.message.startsWith(`cannot connect to the AMQP broker ${safe}: `), e.message);
      assert.ok(!inspect(e, { depth: 8 }).includes('sekrit-pw'), 'no password in the error or its cause');
      assert.ok(!inspect(reported, { depth: 8 }).includes('sekrit-pw'));
      return e.message;
    } finally {
      await b.close();
    }
  };
  const wrongCa = await attempt({ ...ssl, ca_certs: certs.otherCa });
  assert.match(wrongCa, /(self[- ]signed certificate|unable to (verify|get local issuer)).*not signed by a CA in broker_use_ssl ca_certs/i);
  // the node requires a client certificate (fail_if_no_peer_cert): the handshake is refused
  const noClientCert = await attempt({ ca_certs: certs.ca, cert_reqs: 'CERT_REQUIRED' });
  t.diagnostic(`wrong CA: ${wrongCa}`);
  t.diagnostic(`no client certificate: ${noClientCert}`);
  assert.match(noClientCert, /TLS handshake failed: tlsv13 alert certificate required \(the broker requires a client certificate: broker_use_ssl certfile\/keyfile\)$/);
  // a worker with broker_connection_retry_on_startup False reports the same, naming the setting
  const app = amqpApp({ broker_use_ssl: { ...ssl, ca_certs: certs.otherCa }, broker_connection_retry_on_startup: false }, url);
  const w = new Worker(app, { queues: [uniqueName('amqp.tls.bad')], logger: silentLogger });
  await assert.rejects(w.start(), (err: Error) => {
    assert.match(err.message, new RegExp(`^consumer: Cannot connect to ${safe.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: .*Not retrying`));
    assert.match(err.message, /(self[- ]signed certificate|unable to (verify|get local issuer)).*not signed by a CA in broker_use_ssl ca_certs/i);
    assert.ok(!inspect(err, { depth: 8 }).includes('sekrit-pw'));
    return true;
  });
  await w.stop();
});
