import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  signature,
  immutableSignature,
  signatureFromDict,
  cloneSignature,
  freezeSignature,
  chain,
  chainToMessage,
  group,
  groupToMessages,
  chord,
  chordToMessages,
  xmap,
  xstarmap,
  chunks,
  chunksToGroup,
  mapMessage,
  link,
  linkError,
  embedCallbacks,
} from '../../protocol/canvas.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import type { PyValue } from '../../protocol/values.ts';

// Known answers: json.dumps(sig) with Celery 5.6.3, app name 't' (tasks t.add, t.tsum).
const json = (v: unknown) => JSON.stringify(v);
const py = (text: string) => JSON.stringify(JSON.parse(text));
const add = (args: PyValue[] = [], options = {}) => signature('t.add', args, {}, options);
const OID = 'ab7c6e05-1d20-3f33-8bfd-9c2580e1295e';

test('signature / si dict forms', () => {
  // add.s(1, 2, z=3).set(queue='q')
  assert.equal(json(signature('t.add', [1, 2], { z: 3 }, { queue: 'q' })),
    py('{"task": "t.add", "args": [1, 2], "kwargs": {"z": 3}, "options": {"queue": "q"}, "subtask_type": null, "immutable": false}'));
  assert.equal(json(immutableSignature('t.add', [1])),
    py('{"task": "t.add", "args": [1], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": true}'));
});

test('chain / group / chord dict forms', () => {
  assert.equal(json(chain([add([1, 1], { task_id: 'a' }), add([2], { task_id: 'b' })])),
    py('{"task": "celery.chain", "args": [], "kwargs": {"tasks": [{"task": "t.add", "args": [1, 1], "kwargs": {}, "options": {"task_id": "a"}, "subtask_type": null, "immutable": false}, {"task": "t.add", "args": [2], "kwargs": {}, "options": {"task_id": "b"}, "subtask_type": null, "immutable": false}]}, "options": {}, "subtask_type": "chain", "immutable": false}'));
  assert.equal(json(group([add([1, 1], { task_id: 'a' }), add([2, 2], { task_id: 'b' })])),
    py('{"task": "celery.group", "args": [], "kwargs": {"tasks": [{"task": "t.add", "args": [1, 1], "kwargs": {}, "options": {"task_id": "a"}, "subtask_type": null, "immutable": false}, {"task": "t.add", "args": [2, 2], "kwargs": {}, "options": {"task_id": "b"}, "subtask_type": null, "immutable": false}]}, "options": {}, "subtask_type": "group", "immutable": false}'));
  assert.equal(json(chord([add([1, 1], { task_id: 'a' }), add([2, 2], { task_id: 'b' })], signature('t.tsum', [], {}, { task_id: 'c' }))),
    py('{"task": "celery.chord", "args": [], "kwargs": {"kwargs": {}, "header": [{"task": "t.add", "args": [1, 1], "kwargs": {}, "options": {"task_id": "a"}, "subtask_type": null, "immutable": false}, {"task": "t.add", "args": [2, 2], "kwargs": {}, "options": {"task_id": "b"}, "subtask_type": null, "immutable": false}], "body": {"task": "t.tsum", "args": [], "kwargs": {}, "options": {"task_id": "c"}, "subtask_type": null, "immutable": false}}, "options": {}, "subtask_type": "chord", "immutable": false}'));
});

test('map / starmap / chunks dict forms (subtask_type null, immutable true)', () => {
  assert.equal(json(xmap(add(), [1, 2])),
    py('{"task": "celery.map", "args": [], "kwargs": {"task": {"task": "t.add", "args": [], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}, "it": [1, 2]}, "options": {}, "subtask_type": null, "immutable": true}'));
  assert.equal(json(xstarmap(add(), [[1, 2], [3, 4]])),
    py('{"task": "celery.starmap", "args": [], "kwargs": {"task": {"task": "t.add", "args": [], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}, "it": [[1, 2], [3, 4]]}, "options": {}, "subtask_type": null, "immutable": true}'));
  assert.equal(json(chunks(add(), [[1, 2], [3, 4], [5, 6]], 2)),
    py('{"task": "celery.chunks", "args": [], "kwargs": {"task": {"task": "t.add", "args": [], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}, "it": [[1, 2], [3, 4], [5, 6]], "n": 2}, "options": {}, "subtask_type": null, "immutable": true}'));
  assert.equal(json(chunksToGroup(add(), [[1, 2], [3, 4], [5, 6]], 2)),
    py('{"task": "celery.group", "args": [], "kwargs": {"tasks": [{"task": "celery.starmap", "args": [], "kwargs": {"task": {"task": "t.add", "args": [], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}, "it": [[1, 2], [3, 4]]}, "options": {}, "subtask_type": null, "immutable": true}, {"task": "celery.starmap", "args": [], "kwargs": {"task": {"task": "t.add", "args": [], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}, "it": [[5, 6]]}, "options": {}, "subtask_type": null, "immutable": true}]}, "options": {}, "subtask_type": "group", "immutable": false}'));
  // add.map([1,2]).apply_async(): body [[], {"task": ..., "it": [1, 2]}, embed], header task "celery.map"
  assert.equal(json(mapMessage(xmap(add(), [1, 2]))),
    py('{"task": "celery.map", "args": [], "kwargs": {"task": {"task": "t.add", "args": [], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}, "it": [1, 2]}}'));
});

test('clone merges like Signature._merge', () => {
  // add.s(1, z=1).clone((9,), {'y': 2}, queue='x')
  assert.equal(json(cloneSignature(signature('t.add', [1], { z: 1 }), [9], { y: 2 }, { queue: 'x' })),
    py('{"task": "t.add", "args": [9, 1], "kwargs": {"z": 1, "y": 2}, "options": {"queue": "x"}, "subtask_type": null, "immutable": false}'));
  // add.si(1).clone((9,), {'y': 2})
  assert.equal(json(cloneSignature(immutableSignature('t.add', [1]), [9], { y: 2 })),
    py('{"task": "t.add", "args": [1], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": true}'));
  // add.s(1).set(group_id='g1').clone(group_id='g2', queue='q'): group_id is immutable
  assert.equal(json(cloneSignature(add([1], { group_id: 'g1' }), null, null, { group_id: 'g2', queue: 'q' })),
    py('{"task": "t.add", "args": [1], "kwargs": {}, "options": {"group_id": "g1", "queue": "q"}, "subtask_type": null, "immutable": false}'));
  // stamped headers are immutable too
  const stamped = add([], { stamped_headers: ['s'], s: 1 });
  assert.equal(cloneSignature(stamped, null, null, { s: 2 }).options['s'], 1);
  // deep copy: mutating the clone leaves the original alone
  const orig = add([[1]] as PyValue[], { link: [add()] as unknown as PyValue });
  const c = cloneSignature(orig);
  (c.args[0] as PyValue[]).push(2);
  assert.deepEqual(orig.args, [[1]]);
});

test('link / link_error and embed callbacks', () => {
  const s = linkError(link(add([1, 1], { task_id: 'a' }), add([5])), immutableSignature('t.tsum', [[1]]));
  // add.s(1,1).set(task_id='a', link=add.s(5), link_error=[tsum.si([1])]).apply_async() embed:
  assert.equal(json(embedCallbacks(s)),
    py('{"callbacks": [{"task": "t.add", "args": [5], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}], "errbacks": [{"task": "t.tsum", "args": [[1]], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": true}]}'));
  assert.deepEqual(embedCallbacks(add()), { callbacks: null, errbacks: null });
  // linking the same callback twice is a no-op (append_to_list_option)
  assert.equal((link(link(add(), add([5])), add([5])).options['link'] as PyValue[]).length, 1);
  // a single dict under options.link (from .set(link=sig)) counts as one callback
  assert.equal(embedCallbacks(add([], { link: add([5]) as unknown as PyValue })).callbacks?.length, 1);
});

test('chain message: first step + reversed embed.chain', () => {
  const m = chainToMessage(
    [add([1, 1], { task_id: 'a' }), add([2], { task_id: 'b' }), add([3], { task_id: 'c' })],
    { replyTo: OID },
  );
  // chain(add.s(1,1).set(task_id='a'), add.s(2).set(task_id='b'), add.s(3).set(task_id='c')).apply_async()
  assert.equal(json(m.chain),
    py(`[{"task": "t.add", "args": [3], "kwargs": {}, "options": {"task_id": "c", "reply_to": "${OID}"}, "subtask_type": null, "immutable": false}, {"task": "t.add", "args": [2], "kwargs": {}, "options": {"task_id": "b", "reply_to": "${OID}"}, "subtask_type": null, "immutable": false}]`));
  assert.deepEqual(m.first.args, [1, 1]);
  assert.deepEqual(m.taskIds, ['a', 'b', 'c']);
  assert.equal(m.first.options['task_id'], 'a');
  // nested chains are spliced; partial args prepended to the first step; fresh ids when missing
  let n = 0;
  const m2 = chainToMessage(chain([add([1]), chain([add([2]), add([3])])]), { args: [0], taskIdFactory: () => `id${n++}` });
  assert.deepEqual(m2.first.args, [0, 1]);
  assert.deepEqual(m2.chain.map((s) => s.args), [[3], [2]]);
  assert.equal(new Set(m2.taskIds).size, 3);
});

test('group messages: group_id / group_index on each member', () => {
  const g = groupToMessages(group([add([1, 1], { task_id: 'a' }), add([2, 2], { task_id: 'b' })], { task_id: 'g' }), { replyTo: OID });
  assert.equal(g.groupId, 'g');
  assert.deepEqual(g.members.map((m) => [m.options['task_id'], m.options['group_id'], m.options['group_index']]), [['a', 'g', 0], ['b', 'g', 1]]);
  // nested groups are flattened
  const g2 = groupToMessages([add([1]), group([add([2]), add([3])])], { groupId: 'G' });
  assert.deepEqual(g2.members.map((m) => [m.args, m.options['group_index']]), [[[1], 0], [[2], 1], [[3], 2]]);
  // chunks → group of starmap members with group options
  const c = groupToMessages(chunksToGroup(add(), [[1, 2], [3, 4], [5, 6]], 2), { groupId: 'g' });
  assert.deepEqual(c.members.map((m) => [m.task, m.kwargs['it'], m.options['group_index']]), [['celery.starmap', [[1, 2], [3, 4]], 0], ['celery.starmap', [[5, 6]], 1]]);
});

test('chord messages: embed.chord = body frozen with the header group id', () => {
  const gid = 'dbf523eb-a331-4be8-9d44-60d394031382';
  const c = chordToMessages([add([1, 1], { task_id: 'a' }), add([2, 2], { task_id: 'b' })], signature('t.tsum', [], {}, { task_id: 'c' }), { groupId: gid, replyTo: OID });
  // embed.chord of each header message, Python:
  assert.equal(json(c.body),
    py(`{"task": "t.tsum", "args": [], "kwargs": {}, "options": {"task_id": "c", "reply_to": "${OID}", "group_id": "${gid}"}, "subtask_type": null, "immutable": false}`));
  assert.equal(c.chordSize, 2);
  assert.deepEqual(c.members.map((m) => [m.options['task_id'], m.options['group_id'], m.options['group_index']]), [['a', gid, 0], ['b', gid, 1]]);
  assert.deepEqual(c.members[0]?.options['chord'], c.body);
});

test('freeze keeps existing ids and sets options in Celery order', () => {
  const f = freezeSignature(add([1]), { taskId: 't', rootId: 'r', parentId: 'p', replyTo: 'q', groupId: 'g', groupIndex: 0 });
  assert.deepEqual(Object.keys(f.options), ['task_id', 'root_id', 'parent_id', 'reply_to', 'group_id', 'group_index']);
  assert.equal(freezeSignature(add([], { task_id: 'keep' }), { taskId: 'new' }).options['task_id'], 'keep');
  assert.match(String(freezeSignature(add()).options['task_id']), /^[0-9a-f-]{36}$/);
});

test('signatureFromDict validates with paths', () => {
  const ok = signatureFromDict({ task: 't.add', args: [1], chord_size: null });
  assert.equal(json(ok), '{"task":"t.add","args":[1],"kwargs":{},"options":{},"subtask_type":null,"immutable":false,"chord_size":null}');
  const py1 = JSON.parse('{"task": "celery.chain", "args": [], "kwargs": {"tasks": [{"task": "t.add", "args": [1, 1], "kwargs": {}, "options": {"task_id": "a"}, "subtask_type": null, "immutable": false}]}, "options": {}, "subtask_type": "chain", "immutable": false}');
  assert.deepEqual(signatureFromDict(py1), py1);
  const cases: [unknown, string][] = [
    ['x', 'signature'],
    [{ args: [] }, 'signature.task'],
    [{ task: 't', args: 'no' }, 'signature.args'],
    [{ task: 't', kwargs: [] }, 'signature.kwargs'],
    [{ task: 't', options: 1 }, 'signature.options'],
    [{ task: 't', immutable: 'yes' }, 'signature.immutable'],
    [{ task: 'celery.chain', subtask_type: 'chain', kwargs: { tasks: [{ task: 1 }] } }, 'signature.kwargs.tasks[0].task'],
    [{ task: 't', options: { link: [{}] } }, 'signature.options.link[0].task'],
  ];
  for (const [bad, path] of cases) {
    assert.throws(() => signatureFromDict(bad as PyValue), (e: unknown) => e instanceof ProtocolError && e.part === 'signature' && e.path === path, path);
  }
});
