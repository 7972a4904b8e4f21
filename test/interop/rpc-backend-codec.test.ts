// The rpc:// backend's pure parts against what real Celery 5.6 / kombu put on the wire
// (fixtures/backend/amqp_rpc_replies.json): reply bytes and properties, decoding, URLs, createBackend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createBackend, RpcBackend } from '../../src/backends/index.ts';
import { decodeRpcReply, encodeRpcReply, RpcReplyError, toRpcReply } from '../../src/backends/rpc/reply.ts';
import { parseAmqpUrl, parseAmqpUrls } from '../../src/brokers/amqp/url.ts';
import { BackendNotImplementedError } from '../../src/backend.ts';
import { ConfigurationError } from '../../src/errors.ts';
import { buildResultMeta, parseResultMeta, resultValue } from '../../protocol/result.ts';
import { PythonError } from '../../protocol/exceptions.ts';
import { ContentDisallowed } from '../../protocol/errors.ts';

const require = createRequire(import.meta.url);
const amqplibDir = dirname(require.resolve('amqplib'));
const defs = require(join(amqplibDir, 'lib/defs.js')) as {
  decode(id: number, buf: Buffer): Record<string, unknown>;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
  BasicProperties: number;
};

interface Capture {
  routing_key: string;
  body_b64: string;
  properties_raw_b64: string;
  properties: Record<string, unknown>;
  expected: { body: Record<string, unknown>; properties: Record<string, unknown> };
}
const captures = (JSON.parse(readFileSync('fixtures/backend/amqp_rpc_replies.json', 'utf8')) as { captures: Capture[] }).captures;

/** The property block amqplib puts on the wire for publish options (between the header frame's sizes and frame-end). */
function wireProperties(options: Record<string, unknown>, size: number): Buffer {
  const frame = defs.encodeProperties(defs.BasicProperties, 1, size, options);
  return frame.subarray(7 + 12, frame.length - 1);
}

test('fixtures: every state Celery published (STARTED, PROGRESS, RETRY?, SUCCESS, FAILURE) is in the recording', () => {
  const states = new Set(captures.map((c) => c.expected.body['status']));
  for (const s of ['STARTED', 'PROGRESS', 'SUCCESS', 'FAILURE']) assert.ok(states.has(s), `fixture lacks ${s}`);
});

test('encodeRpcReply: same body (celeriac JSON is compact, kombu puts spaces) and a byte-identical AMQP property block', () => {
  for (const c of captures) {
    const body = c.expected.body;
    const meta = parseResultMeta(body as never);
    const { content, options } = encodeRpcReply(meta, { serializer: 'json', persistent: false, correlationId: c.properties['correlation_id'] as string });
    assert.deepEqual(JSON.parse(content.toString()), JSON.parse(Buffer.from(c.body_b64, 'base64').toString()), `body of ${body['task_id']} ${body['status']}`);
    assert.deepEqual(Object.keys(JSON.parse(content.toString())), ['task_id', 'status', 'result', 'traceback', 'children']);
    assert.equal(
      wireProperties(options as never, content.length).toString('base64'),
      c.properties_raw_b64,
      `properties of ${body['task_id']} ${body['status']}`,
    );
  }
});

test('encodeRpcReply: from a worker-built record (date_done and result_extended fields are not sent), correlation id defaults to the task id, persistent = delivery_mode 2', () => {
  const meta = buildResultMeta({ taskId: 't-1', state: 'SUCCESS', result: 5, request: { children: [], task: 'x', args: [1], kwargs: {} }, extended: true });
  assert.deepEqual(toRpcReply(meta), { task_id: 't-1', status: 'SUCCESS', result: 5, traceback: null, children: [] });
  const { content, options } = encodeRpcReply(meta, { serializer: 'json', persistent: true });
  // kombu's json.dumps separators (", ", ": "), as the recorded replies above
  assert.equal(content.toString(), '{"task_id": "t-1", "status": "SUCCESS", "result": 5, "traceback": null, "children": []}');
  assert.deepEqual(options, { contentType: 'application/json', contentEncoding: 'utf-8', headers: {}, deliveryMode: 2, priority: 0, correlationId: 't-1' });
  const msgpack = encodeRpcReply(meta, { serializer: 'msgpack', persistent: false, correlationId: 'c-9' });
  assert.equal(msgpack.options.contentType, 'application/x-msgpack');
  assert.equal(msgpack.options.correlationId, 'c-9');
  assert.equal(decodeRpcReply({ content: msgpack.content, properties: msgpack.options }, ['msgpack']).meta.result, 5);
});

test('decodeRpcReply: Celery replies decode; FAILURE becomes a PythonError with its traceback', () => {
  for (const c of captures) {
    const { meta, correlationId } = decodeRpcReply(
      { content: Buffer.from(c.body_b64, 'base64'), properties: { correlationId: c.properties['correlation_id'], contentType: c.properties['content_type'], contentEncoding: c.properties['content_encoding'] } },
      ['json'],
    );
    assert.equal(correlationId, c.expected.properties['correlation_id']);
    assert.equal(meta.task_id, c.expected.body['task_id']);
    assert.equal(meta.status, c.expected.body['status']);
    if (meta.status === 'FAILURE') {
      const err = resultValue(meta);
      assert.ok(err instanceof PythonError);
      assert.ok(meta.traceback && /Traceback/.test(meta.traceback));
    }
  }
});

test('decodeRpcReply: bad replies get specific errors naming the task', () => {
  const props = { correlationId: 'bad-1', contentType: 'application/json', contentEncoding: 'utf-8' };
  assert.throws(() => decodeRpcReply({ content: Buffer.from('{not json'), properties: props }, ['json']), (e: unknown) =>
    e instanceof RpcReplyError && e.correlationId === 'bad-1' && /RPC reply for task bad-1 cannot be decoded/.test(e.message));
  assert.throws(() => decodeRpcReply({ content: Buffer.from('[1, 2]'), properties: props }, ['json']), (e: unknown) =>
    e instanceof RpcReplyError && /is not a Celery result/.test(e.message));
  assert.throws(
    () => decodeRpcReply({ content: Buffer.from([0x80, 0x04]), properties: { ...props, contentType: 'application/x-python-serialize', contentEncoding: 'binary' } }, ['json']),
    (e: unknown) => e instanceof RpcReplyError && e.cause instanceof ContentDisallowed && /pickle/.test(e.message),
  );
  assert.throws(() => decodeRpcReply({ content: Buffer.from('{}'), properties: {} }, ['json']), (e: unknown) =>
    e instanceof RpcReplyError && e.correlationId === null && /without correlation_id/.test(e.message));
});

test('the rpc:// backend reads broker_url with the transport\'s parser (vhosts the kombu way, failover, TLS)', () => {
  const vh = (u: string) => parseAmqpUrl(u).vhost;
  assert.equal(vh('amqp://guest:guest@127.0.0.1:5672//'), '/');
  assert.equal(vh('amqp://127.0.0.1:5672/'), '/');
  assert.equal(vh('amqp://127.0.0.1'), '/');
  assert.equal(vh('amqp://h/prod'), 'prod');
  assert.equal(vh('amqp://h/%2Fprod'), '/prod');
  const [first, second] = parseAmqpUrls('pyamqp://u%40x:p%3Aw@rabbit:5673//?heartbeat=30;amqp://other//');
  assert.deepEqual(
    [first!.protocol, first!.hostname, first!.port, first!.username, first!.password, first!.vhost, first!.heartbeat],
    ['amqp', 'rabbit', 5673, 'u@x', 'p:w', '/', 30],
  );
  assert.equal(first!.safeUrl, 'pyamqp://u%40x:**@rabbit:5673//?heartbeat=30');
  assert.equal(second!.hostname, 'other');
  assert.equal(parseAmqpUrl('amqps://h//').port, 5671);
  assert.equal(parseAmqpUrl('amqp://h//').username, 'guest');
  assert.throws(() => parseAmqpUrl('redis://h/0'), ConfigurationError);
  // what the backend holds: every failover URL, broker_use_ssl applied, the password never shown
  const b = new RpcBackend({ broker_url: 'amqp://u:secret@a//;amqp://u:secret@b/%2Fprod', broker_use_ssl: { cert_reqs: 'CERT_NONE' } });
  assert.deepEqual(b.endpoints.map((e) => [e.protocol, e.hostname, e.port, e.vhost]), [['amqps', 'a', 5671, '/'], ['amqps', 'b', 5671, '/prod']]);
  assert.equal(b.brokerSafeUrl, 'amqp://u:**@a//;amqp://u:**@b/%2Fprod');
  assert.equal(new RpcBackend({ broker_url: 'amqp://u:secret@h:5673//' }).brokerSafeUrl, 'amqp://u:**@h:5673//');
});

test('createBackend("rpc://") uses broker_url; needs an AMQP broker; clear errors otherwise', async () => {
  assert.throws(() => createBackend('rpc://'), (e: unknown) => e instanceof ConfigurationError && /set broker_url/.test((e as Error).message));
  assert.throws(() => createBackend('rpc://', { broker_url: 'redis://localhost:6379/0' }), (e: unknown) =>
    e instanceof ConfigurationError && /needs an AMQP broker/.test((e as Error).message));
  const b = createBackend('rpc://', { broker_url: 'amqp://guest:secret@127.0.0.1:5672//', oid: 'my-oid', result_expires: 60 });
  assert.ok(b instanceof RpcBackend);
  assert.equal(b.safeUrl, 'rpc://');
  assert.equal(b.oid, 'my-oid');
  assert.deepEqual(b.queueArguments(), { 'x-expires': { '!': 'int', value: 60000 } });
  assert.deepEqual(new RpcBackend({ broker_url: 'amqp://h//', result_expires: null }).queueArguments(), {});
  assert.deepEqual(new RpcBackend({ broker_url: 'amqp://h//' }).queueArguments(), { 'x-expires': { '!': 'int', value: 86400000 } });
  assert.throws(() => new RpcBackend({ broker_url: 'amqp://h//', result_expires: 0 }).queueArguments(), /x-expires 0/);
  assert.throws(() => new RpcBackend({ broker_url: 'amqp://h//', result_serializer: 'pickle' }), ConfigurationError);
  // Celery: NotImplementedError for groups and forget; no chords
  await assert.rejects(b.saveGroup('g', []), (e: unknown) => e instanceof BackendNotImplementedError && e.name === 'NotImplementedError' && /save_group is not supported/.test((e as Error).message));
  await assert.rejects(b.restoreGroup('g'), /restore_group is not supported by this backend/);
  await assert.rejects(b.deleteGroup('g'), /delete_group is not supported by this backend/);
  await assert.rejects(b.forget('t'), /backend does not implement forget/);
  assert.throws(() => (b as RpcBackend).ensureChordsAllowed(), /does not support chords/);
  // the worker side publishes nothing without reply_to (and so needs no connection)
  await b.storeResult(buildResultMeta({ taskId: 't', state: 'SUCCESS', result: 1 }), { reply_to: null });
  await b.storeResult(buildResultMeta({ taskId: 't', state: 'SUCCESS', result: 1 }));
  await b.close();
});
