import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildResultMeta,
  parseResultMeta,
  resultValue,
  taskKey,
  groupKey,
  chordJoinKey,
  chordSizeKey,
  chordTotalKey,
  chordUnlockKey,
  asTuple,
  groupAsTuple,
  fromTuple,
  refToTuple,
  groupMeta,
  parseGroupMeta,
  chordJoinMember,
  chordJoinScore,
  parseChordJoinMember,
  buildRpcReply,
  parseRpcReply,
  startedMeta,
  type ResultRequest,
} from '../../protocol/result.ts';
import { PythonError, TaskRevokedError } from '../../protocol/exceptions.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import type { PyValue } from '../../protocol/values.ts';

// Known answers: Celery 5.6.3 `backend.store_result(...)` with cache+memory://, raw stored JSON.
const NOW = new Date('2026-11-21T11:41:07.106Z');
const DATE = '2026-11-21T11:41:07.106000+00:00';
const req = (over: Partial<ResultRequest> = {}): ResultRequest => ({
  group: null, parent_id: null, task: 't.add', args: [1, 2], kwargs: { z: 1 }, hostname: 'w1@h', retries: 0,
  delivery_info: { routing_key: 'celery', exchange: '' }, children: [], stamps: {}, stamped_headers: null, ...over,
});
const json = (v: unknown) => JSON.stringify(v);

test('SUCCESS with children tuples (task + group)', () => {
  const meta = buildResultMeta({
    taskId: 's1', state: 'SUCCESS', result: 5, now: NOW,
    request: req({ children: [asTuple('c1'), groupAsTuple('g1', ['m1', 'm2'])] }),
  });
  assert.equal(json(meta),
    '{"status":"SUCCESS","result":5,"traceback":null,"children":[[["c1",null],null],[["g1",null],[[["m1",null],null],[["m2",null],null]]]],"date_done":"2026-11-21T11:41:07.106000+00:00","task_id":"s1"}');
});

test('result_extended SUCCESS with group, parent and stamps', () => {
  const meta = buildResultMeta({
    taskId: 's2', state: 'SUCCESS', result: { a: [1] }, now: NOW, extended: true,
    request: req({ group: 'g9', parent_id: 'p9', retries: 2, stamps: { mystamp: 'v' }, stamped_headers: ['mystamp'] }),
  });
  // Python: {"status": "SUCCESS", "result": {"a": [1]}, "traceback": null, "children": [], "date_done": "...", "group_id": "g9",
  //  "parent_id": "p9", "name": "t.add", "args": [1, 2], "kwargs": {"z": 1}, "worker": "w1@h", "retries": 2, "queue": "celery",
  //  "stamped_headers": ["mystamp"], "mystamp": "v", "task_id": "s2"}
  assert.equal(json(meta), json({
    status: 'SUCCESS', result: { a: [1] }, traceback: null, children: [], date_done: DATE, group_id: 'g9', parent_id: 'p9',
    name: 't.add', args: [1, 2], kwargs: { z: 1 }, worker: 'w1@h', retries: 2, queue: 'celery', stamped_headers: ['mystamp'], mystamp: 'v', task_id: 's2',
  }));
  assert.deepEqual(parseResultMeta(JSON.parse(json(meta))), meta);
});

test('FAILURE, RETRY, REVOKED, STARTED, custom state', () => {
  const custom = new PythonError('CustomError', ['boom', 42], { excModule: '__main__' });
  const tb = 'Traceback (most recent call last):\n  ...\nCustomError: boom\n';
  assert.equal(json(buildResultMeta({ taskId: 'f1', state: 'FAILURE', result: custom, traceback: tb, now: NOW, request: req({ group: 'g9' }) })),
    json({ status: 'FAILURE', result: { exc_type: 'CustomError', exc_message: ['boom', 42], exc_module: '__main__' }, traceback: tb, children: [], date_done: DATE, group_id: 'g9', task_id: 'f1' }));
  assert.equal(json(buildResultMeta({ taskId: 'r1', state: 'RETRY', result: new PythonError('ValueError', ['x']), traceback: 'tb', now: NOW, request: req() })),
    '{"status":"RETRY","result":{"exc_type":"ValueError","exc_message":["x"],"exc_module":"builtins"},"traceback":"tb","children":[],"date_done":null,"task_id":"r1"}');
  // mark_as_revoked('v1', 'expired') — no request → children null
  assert.equal(json(buildResultMeta({ taskId: 'v1', state: 'REVOKED', result: 'expired', now: NOW })),
    '{"status":"REVOKED","result":{"exc_type":"TaskRevokedError","exc_message":["expired"],"exc_module":"celery.exceptions"},"traceback":null,"children":null,"date_done":"2026-11-21T11:41:07.106000+00:00","task_id":"v1"}');
  // mark_as_started('st1', pid=123, hostname='w1@h')
  assert.equal(json(startedMeta('st1', 123, 'w1@h')),
    '{"status":"STARTED","result":{"pid":123,"hostname":"w1@h"},"traceback":null,"children":null,"date_done":null,"task_id":"st1"}');
  assert.equal(json(buildResultMeta({ taskId: 'pr1', state: 'PROGRESS', result: { current: 1 }, request: req() })),
    '{"status":"PROGRESS","result":{"current":1},"traceback":null,"children":[],"date_done":null,"task_id":"pr1"}');
});

test('parseResultMeta + resultValue', () => {
  const failure = parseResultMeta({
    status: 'FAILURE', result: { exc_type: 'CustomError', exc_message: ['boom', 42], exc_module: 'rec_tasks' },
    traceback: 'tb', children: [], date_done: DATE, task_id: 'f1',
  });
  const err = resultValue(failure);
  assert.ok(err instanceof PythonError);
  assert.equal(err.message, "CustomError('boom', 42)");
  assert.equal(err.traceback, 'tb');
  assert.equal(err.state, 'FAILURE');
  const revoked = resultValue(parseResultMeta({ status: 'REVOKED', result: { exc_type: 'TaskRevokedError', exc_message: ['revoked'], exc_module: 'celery.exceptions' }, traceback: null, children: null, date_done: DATE, task_id: 'v' }));
  assert.ok(revoked instanceof TaskRevokedError);
  assert.equal(resultValue(parseResultMeta({ status: 'SUCCESS', result: 5, traceback: null, children: [], date_done: DATE, task_id: 's' })), 5);
  // task_id may be supplied from the key
  assert.equal(parseResultMeta({ status: 'PENDING', result: null }, 'x').task_id, 'x');
});

test('parseResultMeta rejects malformed records with ProtocolError(result)', () => {
  const isResultErr = (e: unknown) => e instanceof ProtocolError && e.part === 'result';
  for (const bad of [
    null, [], 'x', {}, { status: 5, task_id: 'a' }, { status: 'SUCCESS' },
    { status: 'SUCCESS', task_id: 'a', traceback: 3 },
    { status: 'SUCCESS', task_id: 'a', children: 'no' },
    { status: 'FAILURE', task_id: 'a', result: 'not an exception dict' },
    { status: 'FAILURE', task_id: 'a', result: { exc_message: [] } },
  ] as PyValue[]) {
    assert.throws(() => parseResultMeta(bad), isResultErr, json(bad));
  }
});

test('keys and global_keyprefix (BaseKeyValueStoreBackend._add_global_keyprefix)', () => {
  assert.equal(taskKey('x'), 'celery-task-meta-x');
  assert.equal(groupKey('x'), 'celery-taskset-meta-x');
  assert.equal(chordJoinKey('x'), 'celery-taskset-meta-x.j');
  assert.equal(chordSizeKey('x'), 'celery-taskset-meta-x.s');
  assert.equal(chordTotalKey('x'), 'celery-taskset-meta-x.t');
  assert.equal(chordUnlockKey('x'), 'chord-unlock-x');
  // Python: [prefix, task key, group key .j, chord key]
  const PY = [
    ['p', 'p_celery-task-meta-x', 'p_celery-taskset-meta-x.j', 'p_chord-unlock-x'],
    ['p:', 'p:celery-task-meta-x', 'p:celery-taskset-meta-x.j', 'p:chord-unlock-x'],
    ['p_', 'p_celery-task-meta-x', 'p_celery-taskset-meta-x.j', 'p_chord-unlock-x'],
    ['p-', 'p-celery-task-meta-x', 'p-celery-taskset-meta-x.j', 'p-chord-unlock-x'],
    ['p.', 'p.celery-task-meta-x', 'p.celery-taskset-meta-x.j', 'p.chord-unlock-x'],
    ['pp/', 'pp/_celery-task-meta-x', 'pp/_celery-taskset-meta-x.j', 'pp/_chord-unlock-x'],
  ] as const;
  for (const [p, t, j, c] of PY) {
    assert.deepEqual([taskKey('x', p), chordJoinKey('x', p), chordUnlockKey('x', p)], [t, j, c]);
  }
});

test('result tuples: as_tuple / result_from_tuple', () => {
  const chainRef = { kind: 'task', id: 'c3', parent: { kind: 'task', id: 'c2', parent: { kind: 'task', id: 'c1', parent: null } } } as const;
  // AsyncResult('c3', parent=AsyncResult('c2', parent=AsyncResult('c1'))).as_tuple()
  assert.equal(json(refToTuple(chainRef)), '[["c3",[["c2",[["c1",null],null]],null]],null]');
  assert.deepEqual(fromTuple(JSON.parse('[["c3",[["c2",[["c1",null],null]],null]],null]')), chainRef);
  // GroupResult('g1', [AsyncResult('m1'), AsyncResult('m2', parent=AsyncResult('p'))], parent=AsyncResult('gp')).as_tuple()
  const g = groupAsTuple('g1', ['m1', asTuple('m2', asTuple('p'))], asTuple('gp'));
  assert.equal(json(g), '[["g1",[["gp",null],null]],[[["m1",null],null],[["m2",[["p",null],null]],null]]]');
  const ref = fromTuple(g as unknown as PyValue);
  assert.equal(ref.kind, 'group');
  assert.deepEqual(refToTuple(ref), g);
  // bare id form accepted by result_from_tuple
  assert.deepEqual(fromTuple(['abc', null]), { kind: 'task', id: 'abc', parent: null });
  assert.throws(() => fromTuple([1, null]), ProtocolError);
  assert.throws(() => fromTuple('x'), ProtocolError);
});

test('group meta (_save_group)', () => {
  const m = groupMeta('g1', ['m1', 'm2']);
  assert.equal(json(m), '{"result":[["g1",null],[[["m1",null],null],[["m2",null],null]]]}');
  const parsed = parseGroupMeta(JSON.parse(json(m)));
  assert.deepEqual(parsed.results.map((r) => r.id), ['m1', 'm2']);
  assert.throws(() => parseGroupMeta({ result: [['x', null], null] }), ProtocolError);
});

test('chord .j member: [1, tid, state, encode_result(result)]', () => {
  // self.encode([1, tid, state, self.encode_result(result, state)])
  assert.equal(json(chordJoinMember('tid', 'SUCCESS', 4)), '[1,"tid","SUCCESS",4]');
  assert.equal(json(chordJoinMember('tid', 'FAILURE', new PythonError('ValueError', ['x']))),
    '[1,"tid","FAILURE",{"exc_type":"ValueError","exc_message":["x"],"exc_module":"builtins"}]');
  assert.equal(chordJoinScore(null), '+inf');
  assert.equal(chordJoinScore(2), 2);
  const p = parseChordJoinMember([1, 'tid', 'FAILURE', { exc_type: 'ValueError', exc_message: ['x'], exc_module: 'builtins' }]);
  assert.ok(p.result instanceof PythonError);
  assert.deepEqual(parseChordJoinMember([1, 'a', 'SUCCESS', [1, 2]]), { taskId: 'a', state: 'SUCCESS', result: [1, 2] });
});

test('RPC reply body (RPCBackend._to_result): no date_done', () => {
  assert.equal(json(buildRpcReply({ taskId: 't1', state: 'FAILURE', result: new PythonError('ValueError', ['x']), traceback: 'tb', request: req() })),
    '{"task_id":"t1","status":"FAILURE","result":{"exc_type":"ValueError","exc_message":["x"],"exc_module":"builtins"},"traceback":"tb","children":[]}');
  const ok = buildRpcReply({ taskId: 't1', state: 'SUCCESS', result: 5, request: req() });
  assert.equal(json(ok), '{"task_id":"t1","status":"SUCCESS","result":5,"traceback":null,"children":[]}');
  assert.deepEqual(parseRpcReply(JSON.parse(json(ok))), ok);
});
