// AsyncResult.collect() / iterdeps(): Celery's breadth-first walk over stored children and group
// members, with IncompleteStream on a result that is not ready (unless intermediate).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asTuple, buildResultMeta, groupAsTuple, type ResultMeta } from '../../protocol/result.ts';
import type { PyValue } from '../../protocol/values.ts';
import type { ResultBackend } from '../../src/backend.ts';
import { AsyncResult, GroupResult, IncompleteStream } from '../../src/result.ts';

function memoryBackend(records: Record<string, ResultMeta>): ResultBackend {
  const meta = async (id: string) => records[id] ?? ({ status: 'PENDING', result: null, task_id: id, children: [] } as unknown as ResultMeta);
  return {
    safeUrl: 'memory://',
    connect: async () => undefined,
    storeResult: async () => undefined,
    getTaskMeta: meta,
    waitForReady: meta,
    forget: async () => undefined,
    saveGroup: async () => undefined,
    restoreGroup: async () => null,
    deleteGroup: async () => undefined,
    close: async () => undefined,
  };
}

const done = (id: string, value: PyValue, children: PyValue[] = []) =>
  ({ ...buildResultMeta({ taskId: id, state: 'SUCCESS', result: value, children }), task_id: id }) as ResultMeta;

test('collect(): the result, then its children breadth first (a group counts as a node with its members)', async () => {
  const backend = memoryBackend({
    root: done('root', 'r', [asTuple('c1'), groupAsTuple('g', [asTuple('m1'), asTuple('m2')])]),
    c1: done('c1', 1, [asTuple('c4')]),
    c4: done('c4', 4),
    m1: done('m1', 10),
    m2: done('m2', 20),
  });
  const seen: [string, unknown][] = [];
  for await (const [r, value] of new AsyncResult('root', backend).collect()) seen.push([r.id, value]);
  assert.deepEqual(seen, [['root', 'r'], ['c1', 1], ['g', [10, 20]], ['c4', 4], ['m1', 10], ['m2', 20]]);

  const pairs: [string | null, string][] = [];
  for await (const [parent, node] of new AsyncResult('root', backend).iterdeps()) pairs.push([parent?.id ?? null, node.id]);
  assert.deepEqual(pairs, [[null, 'root'], ['root', 'c1'], ['root', 'g'], ['c1', 'c4'], ['g', 'm1'], ['g', 'm2']]);
  assert.ok(new GroupResult('g', ['m1'], backend) instanceof GroupResult);
});

test('iterdeps(): a result that is not ready ends the stream with IncompleteStream, unless intermediate', async () => {
  const backend = memoryBackend({ root: done('root', 'r', [asTuple('pending-child')]) });
  const walk = async (intermediate: boolean) => {
    const ids: string[] = [];
    for await (const [, node] of new AsyncResult('root', backend).iterdeps({ intermediate })) ids.push(node.id);
    return ids;
  };
  assert.deepEqual(await walk(true), ['root', 'pending-child']);
  await assert.rejects(walk(false), (err: Error) => err instanceof IncompleteStream && err.name === 'IncompleteStream' && /pending-child/.test(err.message));
});
