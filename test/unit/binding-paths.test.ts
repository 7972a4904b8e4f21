// Argument binding (issue 12) where it meets the app: a task whose parameters can be neither read nor
// found declared is refused by app.task itself (at registration, not when a call arrives), and the
// errbacks a TypeScript worker calls inline get what Celery's `_call_task_errbacks` gives them
// (test/python/errback_truth.py: the signature's own arguments and keywords, an immutable one only its
// own, a bound errback sent the old way).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Celery } from '../../src/app.ts';
import { callTaskErrbacks } from '../../src/canvas/chord.ts';
import { ConfigurationError } from '../../src/errors.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';
import type { SignatureDict } from '../../protocol/types.ts';
import { requirePython, runPython } from '../helpers/peers.ts';

const HINT = "declare them: app.task('proj.area', fn, { params: ['x', 'y='] })";

test('app.task refuses, when registering, a task whose parameters can be neither read nor found declared', async () => {
  const app = new Celery({ env: {} });
  const refused = (register: () => unknown, why: string) =>
    assert.throws(register, (e: unknown) => e instanceof ConfigurationError &&
      e.message.startsWith(`task proj.area: cannot read the parameters of its function (${why}); ${HINT}`));
  refused(() => app.task('proj.area', ({ w, h }: { w: number; h: number }) => w * h), 'a destructuring pattern');
  refused(() => app.task('proj.area', new Function('return (function (url) { return __webpack_require__(1)(url) })')() as () => unknown),
    'bundled code: it refers to __webpack_require__');
  refused(() => app.task('proj.area', Math.max), 'a native or bound function');
  assert.equal(app.tasks.has('proj.area'), false, 'nothing registered');
  // a handle declared first (a typed handle, no parameters known) and implemented later is read then
  app.task('proj.area');
  refused(() => app.task('proj.area', ({ w, h }: { w: number; h: number }) => w * h), 'a destructuring pattern');
  // declared, it registers, and a wrong call is Python's TypeError
  const area = app.task('proj.box', ({ w, h }: { w: number; h: number }) => w * h, { params: ['box'] });
  assert.equal(app.tasks.get('proj.box')!.params!.source, 'declared');
  // @ts-expect-error the missing argument is the point: the runtime check must refuse it too
  await assert.rejects(area.delay(), { name: 'TypeError', message: "box() missing 1 required positional argument: 'box'" });
  // TypeScript's optional parameter reads as required unless declared
  const opt = app.task('proj.opt', (x: number, y?: number) => x + (y ?? 0));
  assert.deepEqual(app.tasks.get('proj.opt')!.params!.positional, [{ name: 'x', optional: false }, { name: 'y', optional: false }]);
  await assert.rejects(opt.delay(1), { name: 'TypeError', message: "opt() missing 1 required positional argument: 'y'" });
});

test("errbacks called inline get what Celery's _call_task_errbacks gives them", async (t) => {
  if (!requirePython(t)) return;
  const app = new Celery({ env: {}, createBroker: () => { throw new Error('sent'); } });
  const got: PyDict[] = [];
  const show = (v: unknown): PyValue => (v instanceof Error ? { exc: v.message } : v && typeof v === 'object' && 'id' in v ? { request: (v as { id: string }).id } : v as PyValue);
  // the twins of test/python/errback_truth.py's tasks
  app.task('e.on_err', (request: unknown, exc: unknown, traceback: unknown, tag: unknown = 'none', ...rest: unknown[]) => {
    const extra = rest.pop() as PyDict;
    got.push({ request: show(request), exc: show(exc), traceback: show(traceback), tag: show(tag), more: rest.map(show), extra });
  }, { params: ['request', 'exc', 'traceback', 'tag=', '*more', '**extra'] });
  app.task('e.bound_err', (self: { name: string }, request: unknown, exc: unknown, traceback: unknown, tag: unknown) => {
    got.push({ self: self.name, request: show(request), exc: show(exc), traceback: show(traceback), tag: show(tag) });
  }, { bind: true });
  const errbacks: { task: string; args: PyValue[]; kwargs: PyDict; immutable: boolean }[] = [
    { task: 'e.on_err', args: [], kwargs: {}, immutable: false },
    { task: 'e.on_err', args: [], kwargs: { tag: 'x' }, immutable: false },
    { task: 'e.on_err', args: [1, 2], kwargs: { z: 3 }, immutable: false },
    { task: 'e.on_err', args: [1, 2, 3], kwargs: { tag: 't' }, immutable: true },
    { task: 'e.on_err', args: [], kwargs: { exc: 1 }, immutable: false },
    { task: 'e.bound_err', args: [], kwargs: { tag: 'b' }, immutable: false },
  ];
  const truth = (JSON.parse(await runPython('test/python/errback_truth.py', { errbacks })) as { results: ({ got: PyDict } | { error: string })[] }).results;
  for (const [i, e] of errbacks.entries()) {
    got.length = 0;
    const sig: SignatureDict = { ...e, options: {}, subtask_type: null };
    let ours: { got: PyDict } | { error: string };
    try {
      await callTaskErrbacks(app, { id: 'the-failed-id', errbacks: [sig] }, new Error('boom'), 'the traceback');
      ours = { got: got[0]! };
    } catch (err) {
      // Celery sends a bound errback the old way, `(task_id,)`, whose typing check fails here
      ours = { error: (err as Error).message };
    }
    assert.deepEqual(ours, truth[i], `${e.task} ${JSON.stringify(e)}`);
  }
  assert.deepEqual(truth[1], { got: { request: { request: 'the-failed-id' }, exc: { exc: 'boom' }, traceback: 'the traceback', tag: 'x', more: [], extra: {} } });
});
