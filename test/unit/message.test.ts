// protocol/task.ts + protocol/message.ts against what Celery 5.6.3 / kombu 5.6.2 put on the wire.
// The literals below were captured once with the venv's Python (app.send_task(...) then LRANGE on Redis,
// app.amqp.as_task_v2(...), and celery.worker.strategy.hybrid_to_proto2 / proto1_to_proto2 on a
// task_protocol=1 message). See the report of the session that wrote this file for the scripts.
import { test } from 'node:test';
import { throwsProtocolError } from '../helpers/assert.ts';
import assert from 'node:assert/strict';
import { createTaskMessage } from '../../protocol/task.ts';
import {
  LazyTaskMessage, decodeBody, decodeTaskHeaders, decodeTaskMessage, encodeTaskMessage, hybridToProto2, proto1ToProto2,
} from '../../protocol/message.ts';
import { decodeRedisEnvelope, encodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { ContentDisallowed, ProtocolError } from '../../protocol/errors.ts';
import { PyDateTime, type PyDict, type PyValue } from '../../protocol/values.ts';
import { parseKombuJson } from '../../protocol/serialization/index.ts';
import type { RawMessage, TaskMessage } from '../../protocol/types.ts';

const PLAIN_ENVELOPE = "{\"body\": \"W1syLCAzXSwgeyJ6IjogNH0sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVsbCwgImNob3JkIjogbnVsbH1d\", \"content-encoding\": \"utf-8\", \"content-type\": \"application/json\", \"headers\": {\"lang\": \"py\", \"task\": \"proj.add\", \"id\": \"11111111-2222-3333-4444-555555555555\", \"shadow\": null, \"eta\": null, \"expires\": null, \"group\": null, \"group_index\": null, \"retries\": 0, \"timelimit\": [null, null], \"root_id\": \"11111111-2222-3333-4444-555555555555\", \"parent_id\": null, \"argsrepr\": \"(2, 3)\", \"kwargsrepr\": \"{'z': 4}\", \"origin\": \"gen1@host\", \"ignore_result\": false, \"replaced_task_nesting\": 0, \"stamped_headers\": null, \"stamps\": {}}, \"properties\": {\"correlation_id\": \"11111111-2222-3333-4444-555555555555\", \"reply_to\": \"rrrr\", \"origin\": \"gen1@host\", \"delivery_mode\": 2, \"delivery_info\": {\"exchange\": \"\", \"routing_key\": \"capq\"}, \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \"2ecf913b-393a-4670-9a80-129be4681283\"}}";
const MSGPACK_ENVELOPE = "{\"body\": \"k5ICA4GhegSEqWNhbGxiYWNrc8CoZXJyYmFja3PApWNoYWluwKVjaG9yZMA=\", \"content-encoding\": \"binary\", \"content-type\": \"application/x-msgpack\", \"headers\": {\"lang\": \"py\", \"task\": \"proj.add\", \"id\": \"33333333-2222-3333-4444-555555555555\", \"shadow\": null, \"eta\": null, \"expires\": null, \"group\": null, \"group_index\": null, \"retries\": 0, \"timelimit\": [null, null], \"root_id\": \"33333333-2222-3333-4444-555555555555\", \"parent_id\": null, \"argsrepr\": \"(2, 3)\", \"kwargsrepr\": \"{'z': 4}\", \"origin\": \"gen1@host\", \"ignore_result\": false, \"replaced_task_nesting\": 0, \"stamped_headers\": null, \"stamps\": {}}, \"properties\": {\"correlation_id\": \"33333333-2222-3333-4444-555555555555\", \"reply_to\": \"rrrr\", \"origin\": \"gen1@host\", \"delivery_mode\": 2, \"delivery_info\": {\"exchange\": \"\", \"routing_key\": \"capq\"}, \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \"7c18e1fc-6517-4d19-88ad-b5b9d44b9dc2\"}}";
const YAML_ENVELOPE = "{\"body\": \"LSAtIDIKICAtIDMKLSB6OiA0Ci0gY2FsbGJhY2tzOiBudWxsCiAgY2hhaW46IG51bGwKICBjaG9yZDogbnVsbAogIGVycmJhY2tzOiBudWxsCg==\", \"content-encoding\": \"utf-8\", \"content-type\": \"application/x-yaml\", \"headers\": {\"lang\": \"py\", \"task\": \"proj.add\", \"id\": \"33333333-2222-3333-4444-555555555555\", \"shadow\": null, \"eta\": null, \"expires\": null, \"group\": null, \"group_index\": null, \"retries\": 0, \"timelimit\": [null, null], \"root_id\": \"33333333-2222-3333-4444-555555555555\", \"parent_id\": null, \"argsrepr\": \"(2, 3)\", \"kwargsrepr\": \"{'z': 4}\", \"origin\": \"gen1@host\", \"ignore_result\": false, \"replaced_task_nesting\": 0, \"stamped_headers\": null, \"stamps\": {}}, \"properties\": {\"correlation_id\": \"33333333-2222-3333-4444-555555555555\", \"reply_to\": \"rrrr\", \"origin\": \"gen1@host\", \"delivery_mode\": 2, \"delivery_info\": {\"exchange\": \"\", \"routing_key\": \"capq\"}, \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \"ae8da211-1639-44d2-b4d0-a59b812efdfb\"}}";
const AS_TASK_V2 = {"headers": {"lang": "py", "task": "proj.mul", "id": "tid-2", "shadow": "sh", "eta": "2026-01-02T03:04:35.678901+00:00", "expires": "2026-01-02T03:05:05.678901+00:00", "group": "g1", "group_index": 2, "retries": 3, "timelimit": [10, 5.5], "root_id": "root", "parent_id": "par", "argsrepr": "(1,)", "kwargsrepr": "{}", "origin": "o", "ignore_result": true, "replaced_task_nesting": 1, "stamped_headers": ["s1"], "stamps": {"s1": "v1"}}, "properties": {"correlation_id": "tid-2", "reply_to": ""}, "body": [[1], {}, {"callbacks": [{"task": "proj.cb", "args": [1], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}], "errbacks": null, "chain": [{"task": "proj.c2", "args": [], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}, {"task": "proj.c1", "args": [], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}], "chord": null}]};
const V1_ENVELOPE = "{\"body\": \"eyJ0YXNrIjogInByb2ouYWRkIiwgImlkIjogInYxLXRhc2staWQiLCAiYXJncyI6IFsxLCAyXSwgImt3YXJncyI6IHsieiI6IDN9LCAiZ3JvdXAiOiAiZ3JwIiwgImdyb3VwX2luZGV4IjogbnVsbCwgInJldHJpZXMiOiAwLCAiZXRhIjogIjIwMjYtMTEtMjFUMTE6NDQ6NDEuNjMxNzUyKzAwOjAwIiwgImV4cGlyZXMiOiBudWxsLCAidXRjIjogdHJ1ZSwgImNhbGxiYWNrcyI6IFt7InRhc2siOiAicHJvai50c3VtIiwgImFyZ3MiOiBbXSwgImt3YXJncyI6IHt9LCAib3B0aW9ucyI6IHt9LCAic3VidGFza190eXBlIjogbnVsbCwgImltbXV0YWJsZSI6IGZhbHNlfV0sICJlcnJiYWNrcyI6IG51bGwsICJ0aW1lbGltaXQiOiBbNywgbnVsbF0sICJ0YXNrc2V0IjogImdycCIsICJjaG9yZCI6IG51bGx9\", \"content-encoding\": \"utf-8\", \"content-type\": \"application/json\", \"headers\": {}, \"properties\": {\"correlation_id\": \"v1-task-id\", \"reply_to\": \"rrrr\", \"delivery_mode\": 2, \"delivery_info\": {\"exchange\": \"\", \"routing_key\": \"capq\"}, \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \"d9794942-60c7-4f88-a9b3-e68214da126a\"}}";
const V1_HYBRID = {"body": [[1, 2], {"z": 3}, {"callbacks": [{"task": "proj.tsum", "args": [], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}], "errbacks": null, "chord": null, "chain": null}], "headers": {"lang": null, "task": "proj.add", "id": "v1-task-id", "root_id": null, "parent_id": null, "group": "grp", "meth": null, "shadow": null, "eta": "2026-11-21T11:44:41.631752+00:00", "expires": null, "retries": 0, "timelimit": [7, null], "argsrepr": null, "kwargsrepr": null, "origin": null}, "utc": true};
const V1_PROTO1 = {"body": [[1, 2], {"z": 3}, {"callbacks": [{"task": "proj.tsum", "args": [], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}], "errbacks": null, "chord": null, "chain": null}], "headers": {"task": "proj.add", "id": "v1-task-id", "args": [1, 2], "kwargs": {"z": 3}, "group": "grp", "group_index": null, "retries": 0, "eta": "2026-11-21T11:44:41.631752+00:00", "expires": null, "utc": true, "callbacks": [{"task": "proj.tsum", "args": [], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}], "errbacks": null, "timelimit": [7, null], "taskset": "grp", "chord": null, "argsrepr": "[1, 2]", "kwargsrepr": "{'z': 3}", "headers": {}}, "utc": true};

const enc = new TextEncoder();


function rawOf(headers: PyDict, body: string | Uint8Array, contentType = 'application/json'): RawMessage {
  return {
    body: typeof body === 'string' ? enc.encode(body) : body,
    contentType,
    contentEncoding: 'utf-8',
    headers,
    properties: { correlation_id: 'x', reply_to: '', delivery_mode: 2, priority: 0 },
    deliveryInfo: { exchange: '', routing_key: 'celery' },
  };
}

const plainPy = JSON.parse(PLAIN_ENVELOPE) as { body: string; headers: PyDict; properties: PyDict };

test('createTaskMessage = app.send_task(...) field by field (headers in Celery order)', () => {
  const msg = createTaskMessage({
    task: 'proj.add', id: '11111111-2222-3333-4444-555555555555', args: [2, 3], kwargs: { z: 4 },
    replyTo: 'rrrr', origin: 'gen1@host',
  });
  assert.deepEqual(msg.headers, plainPy.headers);
  assert.deepEqual(Object.keys(msg.headers), Object.keys(plainPy.headers));
  assert.equal(msg.properties.correlation_id, plainPy.properties.correlation_id);
  assert.equal(msg.properties.reply_to, 'rrrr');
  assert.equal(msg.properties.delivery_mode, 2);
  assert.equal(msg.properties.priority, 0);
  assert.equal(msg.properties.expiration, undefined);
  assert.deepEqual(msg.body.embed, { callbacks: null, errbacks: null, chain: null, chord: null });

  // the serialized body decodes to what kombu serialized (the bytes differ only in JSON whitespace:
  // our serializer writes compact separators, kombu ", " / ": "; both read either)
  const raw = encodeTaskMessage(msg, { deliveryInfo: { exchange: '', routing_key: 'capq' } });
  assert.deepEqual(parseKombuJson(new TextDecoder().decode(raw.body)), parseKombuJson(Buffer.from(plainPy.body, 'base64').toString('utf8')));
  assert.equal(raw.contentType, 'application/json');
  assert.equal(raw.contentEncoding, 'utf-8');

  // and so is the whole Redis envelope, key order included (Python also copied the `origin` option into
  // properties, and the delivery tag is random)
  const tag = String(plainPy.properties.delivery_tag);
  const ours = parseKombuJson(encodeRedisEnvelope(raw, { deliveryTag: tag })) as PyDict;
  const theirs = parseKombuJson(PLAIN_ENVELOPE) as PyDict;
  delete (theirs.properties as PyDict).origin;
  ours.body = theirs.body = null; // compared above
  assert.deepEqual(ours, theirs);
  assert.deepEqual(Object.keys(ours), Object.keys(theirs));
  assert.deepEqual(Object.keys(ours.properties as PyDict), Object.keys(theirs.properties as PyDict));
  assert.deepEqual(Object.keys(ours.headers as PyDict), Object.keys(theirs.headers as PyDict));
});

test('createTaskMessage = as_task_v2 with countdown/expires/limits/stamps/embed', () => {
  const py = AS_TASK_V2 as unknown as { headers: PyDict; properties: PyDict; body: [PyValue[], PyDict, PyDict] };
  const sig = (task: string, args: PyValue[] = []) => ({ task, args, kwargs: {}, options: {}, subtask_type: null, immutable: false });
  const msg = createTaskMessage({
    task: 'proj.mul', id: 'tid-2', args: [1], kwargs: {}, countdown: 30, expires: 60,
    now: new PyDateTime('2026-01-02T03:04:05.678901+00:00'),
    group: 'g1', groupIndex: 2, retries: 3, timeLimit: 10, softTimeLimit: 5.5, rootId: 'root', parentId: 'par',
    shadow: 'sh', origin: 'o', ignoreResult: true, replacedTaskNesting: 1, stampedHeaders: ['s1'], stamps: { s1: 'v1' },
    callbacks: [sig('proj.cb', [1])], chain: [sig('proj.c2'), sig('proj.c1')],
  });
  assert.deepEqual(msg.headers, py.headers);
  assert.deepEqual(Object.keys(msg.headers), Object.keys(py.headers));
  assert.deepEqual([msg.body.args, msg.body.kwargs, msg.body.embed], py.body);
  assert.equal(msg.properties.correlation_id, 'tid-2');
  assert.equal(msg.properties.reply_to, ''); // as_task_v2: reply_to or ''
  assert.equal(msg.properties.expiration, '60000'); // send_task: expires seconds -> kombu str(int(s * 1000))
});

test('createTaskMessage: defaults, custom headers merged flat, expiration rules', () => {
  const now = new Date(Date.UTC(2026, 0, 1, 0, 0, 0));
  const m = createTaskMessage({
    task: 't', args: [2, 3], argsAsTuple: false, headers: { 'x-tenant': 'acme', 'x-n': null, retries: 7 }, priority: 5,
    expires: new Date(Date.UTC(2000, 0, 1)), now,
  });
  assert.match(m.headers.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(m.headers.root_id, m.headers.id);
  assert.equal(m.headers.argsrepr, '[2, 3]'); // send_task(args=[2, 3]) gives a list repr (captured)
  assert.equal(m.headers.kwargsrepr, '{}');
  assert.equal(m.headers.expires, '2000-01-01T00:00:00+00:00');
  assert.equal(m.properties.expiration, '0'); // expires in the past -> "0" (captured)
  assert.equal(m.properties.priority, 5);
  assert.equal(m.headers.retries, 7); // headers2.update(headers) overrides
  assert.deepEqual(Object.keys(m.headers).slice(-2), ['x-tenant', 'x-n']);

  const e = createTaskMessage({ task: 't', eta: new PyDateTime('2030-01-02T03:04:05.678901'), expires: '2031-06-07T08:09:10+00:00', now });
  assert.equal(e.headers.eta, '2030-01-02T03:04:05.678901'); // naive eta passes through unchanged
  assert.equal(e.headers.expires, '2031-06-07T08:09:10+00:00');
  assert.equal(e.properties.expiration, String((Date.UTC(2031, 5, 7, 8, 9, 10) - now.getTime())));
  const c = createTaskMessage({ task: 't', countdown: 1.5, expires: 2.0005, now });
  assert.equal(c.headers.eta, '2026-01-01T00:00:01.500000+00:00');
  assert.equal(c.headers.expires, '2026-01-01T00:00:02.000500+00:00');
  assert.equal(c.properties.expiration, '2000');

  throwsProtocolError(() => createTaskMessage({ task: '' }), 'headers', /task name/);
  throwsProtocolError(() => createTaskMessage({ task: 't', args: {} as never }), 'body', /list or tuple/);
  throwsProtocolError(() => createTaskMessage({ task: 't', kwargs: [] as never }), 'body', /mapping/);
  throwsProtocolError(() => createTaskMessage({ task: 't', countdown: NaN }), 'headers', /finite/);
  throwsProtocolError(() => createTaskMessage({ task: 't', stampedHeaders: ['a'] }), 'headers', /stamped header/);
});

const SAMPLE: TaskMessage = createTaskMessage({
  task: 'proj.sample', id: 'sample-id', args: [1, 'two', [3, { four: 4 }], null, true, 2.5, 'h\u00e9llo \u{1f389}'],
  kwargs: { a: { b: [1, 2] }, c: null }, origin: 'gen1@h', headers: { 'x-n': 1 },
  callbacks: { task: 'cb', args: [], kwargs: {}, options: {}, subtask_type: null, immutable: false },
});

for (const serializer of ['json', 'msgpack', 'yaml']) {
  for (const compression of [null, 'zlib', 'gzip', 'bzip2', 'lzma', 'xz', 'zstd', 'brotli']) {
    test(`encode -> Redis envelope -> decode round trip: ${serializer} + ${compression ?? 'no compression'}`, () => {
      const raw = encodeTaskMessage(SAMPLE, { serializer, compression });
      if (compression) assert.match(String(raw.headers.compression), /^application\//);
      const back = decodeRedisEnvelope(encodeRedisEnvelope(raw));
      const msg = decodeTaskMessage(back, { accept: [serializer] });
      assert.equal(msg.protocol, 2);
      assert.deepEqual(msg.body, SAMPLE.body);
      const { compression: _c, ...headers } = msg.headers;
      assert.deepEqual(headers, SAMPLE.headers);
      assert.equal(msg.properties.content_type, raw.contentType);
      assert.deepEqual(msg.deliveryInfo, { exchange: '', routing_key: 'celery', redelivered: false });
    });
  }
}

test('decodes the real msgpack and yaml messages Celery sent', () => {
  for (const [env, ct] of [[MSGPACK_ENVELOPE, 'application/x-msgpack'], [YAML_ENVELOPE, 'application/x-yaml']] as const) {
    const raw = decodeRedisEnvelope(env);
    assert.equal(raw.contentType, ct);
    const msg = decodeTaskMessage(raw, { accept: ['json', 'msgpack', 'yaml'] });
    assert.deepEqual(msg.body, { args: [2, 3], kwargs: { z: 4 }, embed: { callbacks: null, errbacks: null, chain: null, chord: null } });
    assert.equal(msg.headers.argsrepr, '(2, 3)');
    // not accepted -> ContentDisallowed (part content-type)
    const err = throwsProtocolError(() => decodeTaskMessage(raw), 'content-type');
    assert.ok(err instanceof ContentDisallowed);
  }
});

test('re-encoding a decoded compressed message drops the stale compression header', () => {
  const raw = encodeTaskMessage(SAMPLE, { compression: 'zlib' });
  const msg = decodeTaskMessage(raw);
  const again = encodeTaskMessage(msg);
  assert.equal(again.headers.compression, undefined);
  assert.deepEqual(decodeTaskMessage(again).body, SAMPLE.body);
});

test('decodeTaskHeaders never touches the body', () => {
  // invalid JSON, a content type nobody accepts, and a compression header over garbage: still fine
  const raw = rawOf({ ...SAMPLE.headers, compression: 'application/x-gzip' }, '{{{{ not json', 'application/x-nothing');
  const info = decodeTaskHeaders(raw);
  assert.equal(info.protocol, 2);
  assert.equal(info.task, 'proj.sample');
  assert.equal(info.id, 'sample-id');
  assert.deepEqual(info.headers?.timelimit, [null, null]);
  assert.equal(info.properties.content_type, 'application/x-nothing');
  // the body is only looked at by decodeBody / decodeTaskMessage
  throwsProtocolError(() => decodeBody(raw, { accept: ['application/x-nothing'] }), 'compression');
  const lazy = new LazyTaskMessage(rawOf(SAMPLE.headers as PyDict, '[[1], {}, {'));
  assert.equal(lazy.task, 'proj.sample');
  assert.equal(lazy.bodyDecoded, false);
  throwsProtocolError(() => lazy.body, 'body');
  const ok = new LazyTaskMessage(encodeTaskMessage(SAMPLE));
  assert.deepEqual(ok.body, SAMPLE.body);
  assert.equal(ok.bodyDecoded, true);
});

test('decodeTaskHeaders completes missing headers with the worker defaults', () => {
  const info = decodeTaskHeaders(rawOf({ task: 'a', id: 'b', 'x-custom': [1] }, ''));
  assert.deepEqual(info.headers, {
    task: 'a', id: 'b', 'x-custom': [1], lang: 'py', shadow: null, eta: null, expires: null, group: null, group_index: null,
    retries: 0, timelimit: [null, null], root_id: null, parent_id: null, argsrepr: null, kwargsrepr: null, origin: null,
    ignore_result: false, replaced_task_nesting: 0, stamped_headers: null, stamps: {},
  });
  // a datetime eta (kombu-JSON tagged; Celery's maybe_iso8601 accepts it) becomes its isoformat
  const dt = decodeTaskHeaders(rawOf({ task: 'a', id: 'b', eta: new PyDateTime('2030-01-01T00:00:00.5+00:00') }, ''));
  assert.equal(dt.headers?.eta, '2030-01-01T00:00:00.5+00:00');
});

test('header validation errors name the header (part "headers")', () => {
  const base = { task: 'a', id: 'b' };
  const cases: Array<[PyDict, string]> = [
    [{ task: 5, id: 'b' }, 'headers.task'],
    [{ task: 'a' }, 'headers.id'],
    [{ ...base, timelimit: [1] }, 'headers.timelimit'],
    [{ ...base, timelimit: 'x' }, 'headers.timelimit'],
    [{ ...base, timelimit: [1, 'x'] }, 'headers.timelimit[1]'],
    [{ ...base, retries: '1' }, 'headers.retries'],
    [{ ...base, retries: 1.5 }, 'headers.retries'],
    [{ ...base, group_index: 'x' }, 'headers.group_index'],
    [{ ...base, eta: 5 }, 'headers.eta'],
    [{ ...base, ignore_result: 'yes' }, 'headers.ignore_result'],
    [{ ...base, stamped_headers: [1] }, 'headers.stamped_headers[0]'],
    [{ ...base, stamps: [] }, 'headers.stamps'],
    [{ ...base, shadow: {} }, 'headers.shadow'],
  ];
  for (const [h, path] of cases) {
    throwsProtocolError(() => decodeTaskHeaders(rawOf(h, '[[], {}, null]')), 'headers', undefined, path);
    throwsProtocolError(() => decodeTaskMessage(rawOf(h, 'not even json')), 'headers', undefined, path);
  }
  // no task header at all is not an error: it is a protocol 1 message (the body decides)
  assert.equal(decodeTaskHeaders(rawOf({ id: 'b' }, '')).protocol, 1);
  throwsProtocolError(() => decodeTaskMessage(rawOf({ id: 'b' }, 'not json')), 'body');
  throwsProtocolError(() => decodeTaskHeaders({ ...rawOf(base, ''), headers: [] as never }), 'headers', /dict/);
  throwsProtocolError(() => decodeTaskHeaders({ ...rawOf(base, ''), properties: { priority: 'high' } }), 'properties', /priority/);
});

test('body validation errors (part "body") say what was wrong', () => {
  const h = { task: 'a', id: 'b' };
  const cases: Array<[string, RegExp, string]> = [
    ['{"x": 1}', /no task header|body/, 'body'],
    ['[1, 2]', /3 elements/, 'body'],
    ['"str"', /must be a list/, 'body'],
    ['[{}, {}, null]', /args \(body\[0\]\) must be a list/, 'body[0]'],
    ['[[], [], null]', /kwargs \(body\[1\]\) must be a dict/, 'body[1]'],
    ['[[], {}, 5]', /embed \(body\[2\]\) must be a dict or null/, 'body[2]'],
    ['[[], {}, {"callbacks": 5}]', /callbacks/, 'body[2].callbacks'],
    ['[[], {}, {"chain": [1]}]', /chain\[0\]/, 'body[2].chain[0]'],
    ['[[], {}, {"chord": []}]', /chord/, 'body[2].chord'],
  ];
  for (const [body, re, path] of cases) {
    if (body.startsWith('{')) {
      // a dict body without args under v2 headers is not hybrid: it is a bad v2 body
      throwsProtocolError(() => decodeTaskMessage(rawOf(h, body)), 'body', /must be a list/);
      continue;
    }
    throwsProtocolError(() => decodeTaskMessage(rawOf(h, body)), 'body', re, path);
  }
  // missing embed keys default to null; embed null is allowed
  assert.deepEqual(decodeTaskMessage(rawOf(h, '[[1], {"a": 1}, {"chord": null}]')).body.embed, { callbacks: null, errbacks: null, chain: null, chord: null });
  assert.deepEqual(decodeTaskMessage(rawOf(h, '[[1], {"a": 1}, null]')).body.embed, { callbacks: null, errbacks: null, chain: null, chord: null });
  // undecodable / disallowed / not a task at all
  throwsProtocolError(() => decodeTaskMessage(rawOf(h, '[[1], {')), 'body');
  throwsProtocolError(() => decodeTaskMessage(rawOf(h, '[[], {}, null]', 'application/x-python-serialize')), 'content-type', /pickle/);
  throwsProtocolError(() => decodeTaskMessage(rawOf({}, '[[], {}, null]')), 'body', /not a protocol 1 task/);
  throwsProtocolError(() => decodeTaskMessage(rawOf({}, '{"id": "x"}')), 'body', /no "task" key/);
  throwsProtocolError(() => decodeTaskMessage(rawOf({}, '{"task": "t", "id": "i", "args": [], "kwargs": []}')), 'body', /mapping/);
  throwsProtocolError(() => decodeTaskMessage(rawOf({}, '{"task": "t", "args": []}')), 'body', /id is missing/, 'body.id');
  throwsProtocolError(() => decodeTaskMessage(rawOf({ ...h, compression: 'application/x-gzip' }, 'not zlib')), 'compression');
  throwsProtocolError(() => decodeTaskMessage(rawOf({ ...h, compression: 'application/x-nope' }, 'x')), 'compression');
  throwsProtocolError(() => decodeTaskMessage(rawOf({ ...h, compression: 5 }, 'x')), 'headers', /compression/);
});

test('protocol v1 message -> v2 exactly like the worker (hybrid_to_proto2)', () => {
  const raw = decodeRedisEnvelope(V1_ENVELOPE);
  assert.deepEqual(raw.headers, {});
  const info = decodeTaskHeaders(raw);
  assert.equal(info.protocol, 1);
  assert.equal(info.headers, null);
  const msg = decodeTaskMessage(raw);
  assert.equal(msg.protocol, 1);
  assert.equal(msg.utc, true);
  const py = V1_HYBRID as unknown as { body: [PyValue[], PyDict, PyDict]; headers: PyDict };
  assert.deepEqual([msg.body.args, msg.body.kwargs, msg.body.embed], py.body);
  // Celery's headers dict, in Celery's order, then the completed TaskHeaders keys
  assert.deepEqual(Object.keys(msg.headers).slice(0, Object.keys(py.headers).length), Object.keys(py.headers));
  for (const [k, v] of Object.entries(py.headers)) {
    if (k === 'lang') assert.equal(msg.headers.lang, 'py'); // null lang is completed (documented)
    else assert.deepEqual(msg.headers[k], v, k);
  }
  assert.equal(msg.headers.ignore_result, false);
  assert.deepEqual(msg.headers.stamps, {});
  assert.equal(msg.properties.correlation_id, 'v1-task-id');
  const lazy = new LazyTaskMessage(raw);
  assert.equal(lazy.protocol, 1);
  assert.equal(lazy.task, 'proj.add');
});

test('proto1_to_proto2 and hybrid_to_proto2 match Celery on the same input', () => {
  const raw = decodeRedisEnvelope(V1_ENVELOPE);
  const body = decodeBody(raw) as PyDict;
  const p1 = proto1ToProto2({}, { ...body });
  const py1 = V1_PROTO1 as unknown as { body: [PyValue[], PyDict, PyDict]; headers: PyDict };
  assert.deepEqual(p1.headers, py1.headers);
  assert.deepEqual(Object.keys(p1.headers), Object.keys(py1.headers));
  assert.deepEqual([p1.body.args, p1.body.kwargs, p1.body.embed], py1.body);
  const hy = hybridToProto2({}, { ...body });
  assert.deepEqual(hy.headers, (V1_HYBRID as unknown as { headers: PyDict }).headers);

  // Python: proto1_to_proto2(M(headers={'x-h': 1}), {'task': 'proj.x', 'id': 'i', 'kwargs': {'a': 1}, 'taskset': 'ts',
  //                                                 'utc': False, 'timelimit': [None, 3]})
  const noArgs = proto1ToProto2({ 'x-h': 1 }, { task: 'proj.x', id: 'i', kwargs: { a: 1 }, taskset: 'ts', utc: false, timelimit: [null, 3] });
  const pyNoArgs = {
    body: [[], { a: 1 }, { callbacks: null, errbacks: null, chord: null, chain: null }],
    headers: { task: 'proj.x', id: 'i', kwargs: { a: 1 }, taskset: 'ts', utc: false, timelimit: [null, 3], argsrepr: '()', kwargsrepr: "{'a': 1}", headers: { 'x-h': 1 }, group: 'ts' },
    utc: false,
  };
  assert.deepEqual(noArgs.headers, pyNoArgs.headers);
  assert.deepEqual(Object.keys(noArgs.headers), Object.keys(pyNoArgs.headers));
  assert.deepEqual([noArgs.body.args, noArgs.body.kwargs, noArgs.body.embed], pyNoArgs.body);
  assert.equal(noArgs.utc, false);
  // the same through decodeTaskMessage (no task header, body without args)
  const m = decodeTaskMessage(rawOf({ 'x-h': 1 }, JSON.stringify({ task: 'proj.x', id: 'i', kwargs: { a: 1 }, taskset: 'ts', utc: false, timelimit: [null, 3] })));
  assert.equal(m.protocol, 1);
  assert.equal(m.headers.group, 'ts');
  assert.deepEqual(m.headers.timelimit, [null, 3]);
  assert.equal(m.utc, false);
});

test('hybrid message: v2 headers with a v1 dict body (headers win)', () => {
  const raw = rawOf({ task: 'proj.h', id: 'hid', retries: 2 }, JSON.stringify({ task: 'ignored', id: 'ignored', args: [1], kwargs: {}, retries: 9, eta: 'E', callbacks: null }));
  const msg = decodeTaskMessage(raw);
  assert.equal(msg.protocol, 1);
  assert.equal(msg.headers.task, 'proj.h');
  assert.equal(msg.headers.id, 'hid');
  assert.equal(msg.headers.retries, 2);
  assert.equal(msg.headers.eta, 'E');
  assert.deepEqual(msg.body.args, [1]);
  const lazy = new LazyTaskMessage(raw);
  assert.equal(lazy.protocol, 2);
  assert.deepEqual(lazy.body.args, [1]);
  assert.equal(lazy.protocol, 1);
  assert.equal(lazy.headers.eta, 'E');
});

test('fuzz: mutated bodies and headers only ever raise ProtocolError', () => {
  let seed = 4242;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const values: PyValue[] = [null, 1, -1, 1.5, 'x', '', true, [], {}, [1, 'x'], { a: 1 }, new Uint8Array([1]), 2n ** 70n, [null, null], ['a']];
  const headerKeys = Object.keys(SAMPLE.headers).concat(['compression', '__proto__', 'x']);
  for (const serializer of ['json', 'msgpack', 'yaml']) {
    const base = encodeTaskMessage(SAMPLE, { serializer });
    for (let i = 0; i < 1500; i++) {
      const body = new Uint8Array(base.body);
      for (let k = 0, n = 1 + rnd(3); k < n; k++) body[rnd(body.length)] = rnd(256);
      const headers: PyDict = { ...base.headers };
      if (rnd(3) === 0) {
        const key = headerKeys[rnd(headerKeys.length)] as string;
        Object.defineProperty(headers, key, { value: values[rnd(values.length)], enumerable: true, writable: true, configurable: true });
      }
      const raw = { ...base, body: rnd(5) === 0 ? body.subarray(0, rnd(body.length)) : body, headers };
      for (const fn of [() => decodeTaskHeaders(raw), () => decodeTaskMessage(raw, { accept: [serializer] }), () => new LazyTaskMessage(raw).body]) {
        try {
          fn();
        } catch (err) {
          assert.ok(err instanceof ProtocolError, `${serializer}: ${String(err)}`);
        }
      }
    }
  }
});

// Issue 15 item 5, decided as Celery 5.6's worker does (celery/worker/strategy.py, consumer.py, request.py;
// checked by calling hybrid_to_proto2 / Request / build_tracer in Python):
test('item 5: a v2 message whose body is the dict {"args": []} is a hybrid message: Celery runs it with no arguments, so do we', () => {
  const base = encodeTaskMessage(createTaskMessage({ task: 'tsrec.add', id: 'h-1', args: [1, 2] }));
  const raw = { ...base, body: new TextEncoder().encode('{"args": []}') };
  const msg = decodeTaskMessage(raw, { accept: ['json'] });
  // hybrid_to_proto2: args [] / kwargs {}, the message headers override the (absent) body fields
  assert.equal(msg.headers.task, 'tsrec.add');
  assert.equal(msg.headers.id, 'h-1');
  assert.deepEqual([msg.body.args, msg.body.kwargs], [[], {}]);
  assert.deepEqual({ ...msg.body.embed }, { callbacks: null, errbacks: null, chain: null, chord: null });
});

test('item 5: an eta sent as an AMQP timestamp is a datetime eta, as Celery\'s maybe_iso8601 takes it (UTC)', () => {
  const base = encodeTaskMessage(createTaskMessage({ task: 'tsrec.add', id: 't-1', args: [1, 2] }));
  // py-amqp decodes a 'T' field to a naive UTC datetime; fromAmqpHeaders does the same (a PyDateTime)
  const msg = decodeTaskMessage({ ...base, headers: { ...base.headers, eta: new PyDateTime('2020-01-01T00:00:00') } }, { accept: ['json'] });
  assert.equal(String(msg.headers.eta), '2020-01-01T00:00:00');
});

test('item 5: a task name sent as bytes is refused (Celery: strategies[b"..."] misses, the message is rejected as unregistered)', () => {
  const base = encodeTaskMessage(createTaskMessage({ task: 'tsrec.add', id: 'b-1', args: [1, 2] }));
  const raw = { ...base, headers: { ...base.headers, task: new TextEncoder().encode('tsrec.add') } };
  for (const decode of [() => decodeTaskHeaders(raw), () => decodeTaskMessage(raw, { accept: ['json'] })]) {
    assert.throws(decode, (e: Error) => e instanceof ProtocolError && e.part === 'headers' && /task must be a string, got bytes/.test(e.message));
  }
});
