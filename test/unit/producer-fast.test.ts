// Shortcuts of the producer's hot path give what the general code gives: the reprs of empty args and
// kwargs (no saferepr walk), and the error for an option given in both spellings (no 'seen' map).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argsrepr, kwargsrepr } from '../../protocol/repr.ts';
import { createTaskMessage } from '../../protocol/task.ts';
import { normalizeSendOptions } from '../../src/send-options.ts';

test('argsrepr and kwargsrepr of empty args and kwargs are saferepr\'s', () => {
  const hidden = Object.defineProperty({}, 'hidden', { value: 1, enumerable: false }) as Record<string, never>;
  for (const asTuple of [true, false, undefined]) {
    for (const kwargs of [{}, Object.create(null), hidden, { a: 1 }]) {
      for (const args of [[], [1], new Array(0)]) {
        const h = createTaskMessage({ task: 't', id: 'i', args, kwargs, ...(asTuple === undefined ? {} : { argsAsTuple: asTuple }) }).headers;
        assert.equal(h.argsrepr, argsrepr(args, 1024, asTuple ?? true));
        assert.equal(h.kwargsrepr, kwargsrepr(kwargs, 1024));
      }
    }
  }
});

test('an option given in both spellings names both, in the order given', () => {
  assert.throws(() => normalizeSendOptions({ task_id: 'a', taskId: 'b' }), { message: 'send option task_id is given twice (as task_id and taskId)' });
  assert.throws(() => normalizeSendOptions({ taskId: 'a', task_id: 'b' }), { message: 'send option task_id is given twice (as taskId and task_id)' });
  assert.throws(() => normalizeSendOptions({ parent: null, parent_id: 'p', parentId: 'q' }, 'route option'), /route option parent_id is given twice \(as parent_id and parentId\)/);
  assert.deepEqual(normalizeSendOptions({ task_id: undefined, taskId: 'b', time_limit: null, timeLimit: 3 }), { taskId: 'b', timeLimit: 3 });
});
