// The operator commands' pure parts, each checked against what Celery 5.6 gives for the same input
// (expectations printed by celery.utils.text.pretty, celery.app.utils.filter_hidden_settings,
// celery.contrib.migrate.prepare_queues, click.confirm): report formatting and masking, purge's
// queue choice and lines, list's table, migrate's options and engine (ack only after the destination
// took the message), the management API client against a fake API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { encodeTaskMessage } from '../../protocol/message.ts';
import { createTaskMessage } from '../../protocol/task.ts';
import { ManagementUnavailableError, managementBindings, managementTarget } from '../../src/brokers/amqp/management.ts';
import { parseAmqpUrl } from '../../src/brokers/amqp/url.ts';
import { migrateTasks, prepareQueues, renamedQueue, taskNameOf } from '../../src/brokers/migrate.ts';
import { Celery } from '../../src/app.ts';
import { bindingsTable } from '../../src/cli/list.ts';
import { migrateArgs, progressLine } from '../../src/cli/migrate.ts';
import { Aborted, commaList, confirm } from '../../src/cli/ops.ts';
import { purgeQuestion, purgeSummary, queuesToPurge } from '../../src/cli/purge.ts';
import { reportSettings } from '../../src/cli/report.ts';
import { UsageError } from '../../src/cli/exit.ts';
import { pretty } from '../../src/pyformat.ts';
import { filterHiddenSettings, formatBugreport, humanize } from '../../src/settings-report.ts';
import { MemBroker } from '../helpers/mem-broker.ts';

test('pretty(value, width=50): the text Celery\'s report prints for each setting', () => {
  const cases: [unknown, string][] = [
    [['json', 'msgpack', 'yaml', 'application/x-python-serialize', 'application/data'], "['json',\n 'msgpack',\n 'yaml',\n 'application/x-python-serialize',\n 'application/data']"],
    [{ z: null, long_key_name_here: 'x'.repeat(60), a: { c: [1, 2, 3], b: 1 } }, `\n    'a': {'b': 1, 'c': [1, 2, 3]},\n    'long_key_name_here': '${'x'.repeat(60)}',\n    'z': None}`],
    ['y'.repeat(70), `'${'y'.repeat(70)}'`],
    ['short words '.repeat(8), "('short words short words short words short '\n 'words short words short words short words '\n 'short words ')"],
    [{ q: ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta', 'iota', 'kappa'] },
      "\n    'q': [   'alpha',\n             'beta',\n             'gamma',\n             'delta',\n             'epsilon',\n             'zeta',\n             'eta',\n             'theta',\n             'iota',\n             'kappa']}"],
    [[{ name: 'qa' }, { name: 'qb', exchange: { name: 'x', type: 'topic' }, routing_key: 'b.#' }], "[{'name': 'qa'},\n {'exchange': {'name': 'x', 'type': 'topic'},\n  'name': 'qb',\n  'routing_key': 'b.#'}]"],
    [true, 'True'], [null, 'None'], [3.5, '3.5'], [42, '42'],
  ];
  for (const [value, expected] of cases) assert.equal(pretty(value, 50), expected, JSON.stringify(value));
});

test('filterHiddenSettings: Celery\'s HIDDEN_SETTINGS, nested dicts key by key, broker and backend URLs', () => {
  const conf = {
    broker_url: 'redis://u:pw@h:6379/0', result_backend: 'redis://:pw@h/1', result_backend_transport_options: { password: 'p', x: 1 },
    broker_transport_options: { sentinel_kwargs: { password: 'p2', db: 1 }, visibility_timeout: 1 }, aws_secret: 'x', beat_dburi: 'sqlite://',
    task_default_routing_key: 'k', database_engine_options: { a: 1 }, redis_backend_use_ssl: { ssl_keyfile: '/k', ssl_certfile: '/c' }, worker_concurrency: 4,
  };
  // filter_hidden_settings(conf) in Celery 5.6.3
  assert.deepEqual(filterHiddenSettings(conf), {
    broker_url: 'redis://u:********@h:6379/0', result_backend: 'redis://:********@h/1', result_backend_transport_options: { password: '********', x: 1 },
    broker_transport_options: { sentinel_kwargs: { password: '********', db: 1 }, visibility_timeout: 1 }, aws_secret: '********', beat_dburi: '********',
    task_default_routing_key: '********', database_engine_options: { a: 1 }, redis_backend_use_ssl: { ssl_keyfile: '********', ssl_certfile: '/c' }, worker_concurrency: 4,
  });
  // Celery's rules: broker URLs as Connection(url).as_uri(), backend URLs as maybe_sanitize_url (the
  // query dropped); and, where Celery prints it, a URL's password under another name is masked too
  assert.deepEqual(filterHiddenSettings({ redbeat_redis_url: 'redis://:pw@h/2', broker_url: 'redis://localhost', result_backend: 'redis://:pw@h/1?x=1', other: 'http://h/x:y@z' }),
    { redbeat_redis_url: 'redis://:********@h/2', broker_url: 'redis://localhost:6379//', result_backend: 'redis://:********@h/1', other: 'http://h/x:y@z' });
});

test('bugreport layout: the results line as maybe_sanitize_url(result_backend or \'disabled\') (mask **)', () => {
  const fields = { software: ['a', 'b'], system: 'Linux', arch: 'x64, LE', kernelVersion: '6', imp: 'Node.js', loader: 'l', transport: 'redis', settings: 'x: 1' } as const;
  assert.equal(formatBugreport({ ...fields, resultBackend: 'redis://:pw@h:6379/1?ssl=1' }),
    '\nsoftware -> a\n            b\nplatform -> system:Linux arch:x64, LE\n            kernel version:6 imp:Node.js\nloader   -> l\nsettings -> transport:redis results:redis://:**@h:6379/1\n\nx: 1\n');
  assert.match(formatBugreport({ ...fields, resultBackend: '' }), /^settings -> transport:redis results:disabled$/m);
});

test('reportSettings: the settings the app was given, in that order, in Celery\'s names and forms', () => {
  const env = { CELERY_BROKER_URL: 'redis://flag:6379/0' };
  const app = new Celery({ env, task_default_queue: 'proj', task_publish_retry_policy: { max_retries: 5 }, worker_concurrency: 2, result_expires: 86400 });
  // the given ones even at their default value (conf.without_defaults()); not broker_url from CELERY_BROKER_URL (-b)
  const given = reportSettings(app, env);
  assert.deepEqual(given, {
    task_default_queue: 'proj',
    task_publish_retry_policy: { max_retries: 5, interval_start: 0, interval_step: 0.2, interval_max: 1 },
    worker_concurrency: 2,
    result_expires: 86400,
  });
  assert.deepEqual(Object.keys(given), ['task_default_queue', 'task_publish_retry_policy', 'worker_concurrency', 'result_expires']);
  const own = new Celery({ env: {}, broker_url: 'redis://:pw@own:6379/0', task_default_exchange: 'ex' });
  assert.equal(humanize(filterHiddenSettings(reportSettings(own, {}))), "broker_url: 'redis://:********@own:6379/0'\ntask_default_exchange: 'ex'");
});

test('purge: -Q else the app\'s queues, minus -X; Celery\'s question and lines', () => {
  assert.deepEqual(queuesToPurge(['b', 'a'], undefined, undefined), ['a', 'b']);
  assert.deepEqual(queuesToPurge(['a', 'b'], 'c,d,', 'd'), ['c']);
  assert.deepEqual(queuesToPurge(['a', 'b'], undefined, 'a,b'), []);
  assert.deepEqual(commaList('a,,b'), ['a', 'b']);
  assert.equal(purgeQuestion(['q1']), 'WARNING:This will remove all tasks from queue: q1.\n         There is no undo for this operation!\n\n(to skip this prompt use the -f option)\nAre you sure you want to delete all tasks?');
  assert.ok(purgeQuestion(['a', 'b'], true).startsWith('\x1b[31mWARNING\x1b[0m:This will remove all tasks from queues: a, b.'));
  assert.equal(purgeSummary(1, 1), 'Purged 1 message from 1 known task queue.');
  assert.equal(purgeSummary(5, 2), 'Purged 5 messages from 2 known task queues.');
  assert.equal(purgeSummary(0, 1), 'No messages purged from 1 queue.');
});

test('confirm: click\'s y/yes, n/no/empty/end of input abort, anything else asks again', async () => {
  const ask = async (input: string) => {
    const i = new PassThrough();
    const o = new PassThrough();
    let out = '';
    o.on('data', (d: Buffer) => (out += d.toString()));
    const p = confirm('Sure?', i, o).then(() => 'yes', (e: unknown) => (e instanceof Aborted ? 'aborted' : String(e)));
    i.end(input);
    return [await p, out];
  };
  assert.deepEqual(await ask('y\n'), ['yes', 'Sure? [y/N]: ']);
  assert.deepEqual(await ask('YES\n'), ['yes', 'Sure? [y/N]: ']);
  assert.deepEqual(await ask('n\n'), ['aborted', 'Sure? [y/N]: ']);
  assert.deepEqual(await ask('\n'), ['aborted', 'Sure? [y/N]: ']);
  assert.deepEqual(await ask(''), ['aborted', 'Sure? [y/N]: ']);
  assert.deepEqual(await ask('what\ny'), ['yes', 'Sure? [y/N]: Error: invalid input\nSure? [y/N]: ']);
});

test('list bindings: Celery\'s table (28-wide columns, longer names not cut)', () => {
  const long = 'q'.repeat(30);
  assert.equal(bindingsTable([{ queue: 'celery', exchange: 'celery', routingKey: 'celery' }, { queue: long, exchange: '', routingKey: long }]),
    'Queue                        Exchange                     Routing Key\n' +
    '----------------             ----------------             ----------------\n' +
    'celery                       celery                       celery\n' +
    `${long}                              ${long}\n`);
});

test('migrate: options, prepare_queues, renamed queues, the progress line', () => {
  assert.deepEqual(migrateArgs({}), { limit: null, timeout: 1, ackMessages: false, tasks: new Set(), renames: new Map(), forever: false });
  const a = migrateArgs({ limit: '3', timeout: '0.5', ackMessages: true, tasks: 'a.x,b.y', queues: 'q1,q2:q3', forever: true });
  assert.deepEqual(a, { limit: 3, timeout: 0.5, ackMessages: true, tasks: new Set(['a.x', 'b.y']), renames: new Map([['q1', 'q1'], ['q2', 'q3']]), forever: true });
  assert.throws(() => migrateArgs({ limit: '0' }), UsageError);
  assert.throws(() => migrateArgs({ timeout: 'soon' }), UsageError);
  // celery.contrib.migrate.prepare_queues('a,b:c') == {'a': 'a', 'b': 'c'}
  assert.deepEqual(prepareQueues('a,b:c'), new Map([['a', 'a'], ['b', 'c']]));
  const q = { name: 'b', exchange: { name: 'b', type: 'direct' as const }, routingKey: 'b' };
  assert.deepEqual(renamedQueue(q, prepareQueues('b:c')), { name: 'c', exchange: { name: 'c', type: 'direct' }, routingKey: 'c' });
  const topic = { name: 'b', exchange: { name: 'tx', type: 'topic' as const }, routingKey: 'b.#' };
  assert.deepEqual(renamedQueue(topic, prepareQueues('b:c')), { ...topic, name: 'c' });
  assert.equal(progressLine({ count: 2, strtotal: '?' }, [[1, 2], { a: null }, {}], { contentType: 'application/json' }), "Migrating task 2/?: [[1, 2], {'a': None}, {}]");
  assert.equal(progressLine({ count: 1, strtotal: '3' }, undefined, { contentType: 'application/x-python-serialize' }), 'Migrating task 1/3: <body not decodable here (application/x-python-serialize)>');
});

function taskRaw(task: string, id: string) {
  const raw = encodeTaskMessage(createTaskMessage({ task, id, args: [1, 2], kwargs: {} }));
  raw.deliveryInfo = { exchange: '', routing_key: 'q' };
  return raw;
}

test('migrateTasks: publish, then ack; a refused publish stops with the message unacked; -n and -T', async () => {
  const queues = [{ name: 'q', exchange: { name: 'q', type: 'direct' as const }, routingKey: 'q' }];
  const source = new MemBroker();
  const dest = new MemBroker();
  dest.failPublishOf.add('bad.task');
  const publishedBeforeAck: boolean[] = [];
  const m = await migrateTasks({ source, dest, queues, ackMessages: true, timeout: null, limit: 3, tasks: new Set(['good.task', 'bad.task']) });
  const d1 = source.deliver(taskRaw('good.task', 'id1'));
  const origAck = d1.ack.bind(d1);
  d1.ack = async () => {
    publishedBeforeAck.push(dest.published.some((p) => p.raw.headers.id === 'id1'));
    return origAck();
  };
  const d2 = source.deliver(taskRaw('other.task', 'id2'));
  const d3 = source.deliver(taskRaw('bad.task', 'id3'));
  const d4 = source.deliver(taskRaw('good.task', 'id4'));
  await assert.rejects(m.done, /publish refused/);
  assert.deepEqual(publishedBeforeAck, [true]);
  assert.equal(d1.settled, 'ack');
  assert.equal(d2.settled, null, 'filtered out by -T: left on the source');
  assert.equal(d3.settled, null, 'refused by the destination: left on the source');
  assert.equal(d4.settled, null, 'after the failure nothing more is taken');
  assert.deepEqual(dest.published.map((p) => p.raw.headers.id), ['id1']);
  assert.equal(m.state.count, 1);
  assert.equal(taskNameOf(d2.raw, undefined), 'other.task');

  // -n 2 without -a: two copied, none acked
  const s2 = new MemBroker();
  const t2 = new MemBroker();
  const m2 = await migrateTasks({ source: s2, dest: t2, queues, timeout: null, limit: 2 });
  const ds = ['a', 'b', 'c'].map((id) => s2.deliver(taskRaw('good.task', id)));
  assert.equal((await m2.done).count, 2);
  assert.deepEqual(t2.published.map((p) => p.raw.headers.id), ['a', 'b']);
  assert.deepEqual(ds.map((d) => d.settled), [null, null, null]);
  assert.deepEqual(t2.published[0]!.target, { exchange: '', routingKey: 'q' });
});

test('management API: GET /api/bindings/<vhost> with the URL\'s credentials, queue bindings only; errors', async () => {
  const seen: { url?: string; auth?: string }[] = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url, auth: req.headers.authorization });
    if (req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`) {
      res.writeHead(401, 'Unauthorized').end('{}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([
      { source: '', vhost: 'v h', destination: 'q1', destination_type: 'queue', routing_key: 'q1', arguments: {} },
      { source: 'ex', vhost: 'v h', destination: 'q1', destination_type: 'queue', routing_key: 'rk', arguments: {} },
      { source: 'ex', vhost: 'v h', destination: 'ex2', destination_type: 'exchange', routing_key: 'x', arguments: {} },
    ]));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const ep = parseAmqpUrl('amqp://u:p@127.0.0.1:5672/v%20h');
    const target = managementTarget(ep, { manager_port: port });
    assert.deepEqual(await managementBindings(target), [{ queue: 'q1', exchange: '', routingKey: 'q1' }, { queue: 'q1', exchange: 'ex', routingKey: 'rk' }]);
    assert.deepEqual(await managementBindings(target, ['ex']), [{ queue: 'q1', exchange: 'ex', routingKey: 'rk' }]);
    assert.equal(seen[0]!.url, '/api/bindings/v%20h');
    await assert.rejects(managementBindings(managementTarget(ep, { manager_port: port, manager_password: 'no' })), (e: Error) => e instanceof ManagementUnavailableError && /answered 401 Unauthorized: check the user/.test(e.message) && !e.message.includes('no'));
  } finally {
    await new Promise((r) => server.close(r));
  }
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const freePort = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  await assert.rejects(managementBindings(managementTarget(parseAmqpUrl('amqp://u:p@127.0.0.1:5672//'), { manager_port: freePort })), (e: Error) => e instanceof ManagementUnavailableError && /did not answer \(ECONNREFUSED\)/.test(e.message));
});
