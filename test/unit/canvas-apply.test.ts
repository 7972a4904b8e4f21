// The canvas engine's pure parts (src/canvas/freeze.ts), checked against canvas.py's behaviour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chain, chord, group, signature } from '../../protocol/canvas.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import { descend, freeze, prepareSteps, tasksOf } from '../../src/canvas/freeze.ts';
import { pipe } from '../../src/canvas/replace.ts';

const host = { oid: 'oid-1' };
const s = (name: string, ...args: number[]) => signature(name, args);

test('_chord._descend counts what reports to a chord', () => {
  const g = group([chain([s('a'), s('b')]), group([s('c'), s('d')]), chord([s('e'), s('f')], s('g'))]);
  assert.equal(descend(g), 1 + 2 + 1);
  assert.equal(descend(chain([s('a'), group([s('b'), s('c')])])), 2);
});

test('prepare_steps upgrades group | sig to a chord and links result parents', () => {
  const { tasks, results } = prepareSteps(host, [7], {}, [s('a'), group([s('b'), s('c')]), s('d')]);
  assert.deepEqual(tasks.map((t) => t.subtask_type ?? t.task), ['chord', 'a']);
  const c = tasks[0]!;
  const body = c.kwargs['body'] as unknown as SignatureDict;
  assert.equal(body.task, 'd');
  const members = tasksOf(c.kwargs['header'] as unknown as SignatureDict);
  assert.deepEqual(members.map((m) => (m.options['chord'] as unknown as SignatureDict).options['task_id']), [body.options['task_id'], body.options['task_id']]);
  assert.deepEqual(members.map((m) => m.options['group_index']), [0, 1]);
  // chord.freeze: the chord's id is the header's; members get group_id only when applied (_prepared), as in Python
  assert.equal(c.options['task_id'], (c.kwargs['header'] as unknown as SignatureDict).options['task_id']);
  assert.equal(members[0]!.options['group_id'], undefined);
  assert.deepEqual(tasks[1]!.args, [7]);
  // results[0] is d's, its parent the header group, whose parent is a's
  const last = results[0]!;
  assert.equal(last.id, body.options['task_id']);
  assert.equal(last.parent?.kind, 'group');
  assert.equal(last.parent?.parent?.id, tasks[1]!.options['task_id']);
});

test('group freeze flattens nested groups like deque.extendleft (reversed)', () => {
  const g = group([s('a'), group([s('b'), s('c')]), s('d')]);
  const r = freeze(host, g);
  assert.equal(r.kind, 'group');
  assert.deepEqual(tasksOf(g).map((t) => t.task), ['a', 'c', 'b', 'd']);
  assert.deepEqual(tasksOf(g).map((t) => t.options['group_index']), [0, 1, 2, 3]);
  assert.deepEqual(tasksOf(g).map((t) => t.options['reply_to']), ['oid-1', 'oid-1', 'oid-1', 'oid-1']);
});

test('| as Celery: chain | sig after a group makes a chord, chord | sig extends the body', () => {
  const c = pipe(chain([s('a'), group([s('b'), s('c')])]), s('d'));
  assert.equal(tasksOf(c)[1]!.subtask_type, 'chord');
  const ch = pipe(chord([s('a')], s('b')), s('c'));
  assert.equal((ch.kwargs['body'] as unknown as SignatureDict).subtask_type, 'chain');
  assert.equal(pipe(group([s('a'), s('b')]), s('c')).subtask_type, 'chord');
});
