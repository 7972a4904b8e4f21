// Keyword arguments from TypeScript callers: kw() for delay/s/si, applyAsync(args, kwargs), typed by the
// handle's third type parameter (the @ts-expect-error lines are checked by `tsc -p tsconfig.json`), and
// the producer's typing check (a wrong call rejects with Python's TypeError before anything is sent).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Celery, type TaskHandle } from '../../src/app.ts';
import { kw } from '../../src/kwargs.ts';

function typed(app: Celery): void {
  const add = app.task<[x: number, y: number], number, { x: number; y: number }>('k.add');
  void add.delay(1, 2);
  void add.delay(1, kw({ y: 2 }));
  void add.applyAsync([], { x: 1, y: 2 });
  void add.applyAsync([1], { y: 2 });
  void add.s(kw({ y: 2 }));
  // @ts-expect-error y is a number
  void add.delay(1, kw({ y: 'two' }));
  // @ts-expect-error no such keyword
  void add.applyAsync([1], { z: 2 });
}

test('kw() and applyAsync kwargs reach the message; s()/si() take keywords too', () => {
  const app = new Celery({ env: {} });
  void typed;
  const add = app.task('k.add', (x: number, y: number) => x + y);
  assert.deepEqual([add.s(1, kw({ y: 2 })).args, add.s(1, kw({ y: 2 })).kwargs], [[1], { y: 2 }]);
  assert.deepEqual([add.si(kw({ x: 1, y: 2 })).args, add.si(kw({ x: 1, y: 2 })).kwargs], [[], { x: 1, y: 2 }]);
  // an object that is not marked stays a positional argument
  assert.deepEqual(app.task('k.obj', (o: object) => o).s({ y: 2 }).args, [{ y: 2 }]);
});

test('the producer checks calls of tasks it knows the parameters of (typing), and nothing is sent', async () => {
  const app = new Celery({
    env: {},
    createBroker: () => { throw new Error('no broker: nothing may be sent'); },
  });
  // untyped handles (as JavaScript callers have): TypeScript would refuse these calls already
  const add = app.task('k.add', (x: number, y: number) => x + y) as unknown as TaskHandle;
  const declared = app.task('k.py', { params: ['day', '*', 'fmt='] }); // implemented in Python
  const loose = app.task('k.loose', (x: number) => x, { typing: false }) as unknown as TaskHandle;
  const fails = async (p: Promise<unknown>, text: string) =>
    assert.rejects(p, (e: Error) => e instanceof TypeError && e.name === 'TypeError' && e.message === text);
  await fails(add.delay(1), "add() missing 1 required positional argument: 'y'");
  await fails(add.delay(1, 2, 3), 'add() takes 2 positional arguments but 3 were given');
  await fails(add.applyAsync([1], { z: 3 }), "add() got an unexpected keyword argument 'z'");
  await fails(add.applyAsync([1], { x: 3 }), "add() got multiple values for argument 'x'");
  await fails(declared.delay('2026-12-06', 'pdf'), 'py() takes 1 positional argument but 2 were given');
  await fails(app.applyAsync(add.s(1, 2, 3)), 'add() takes 2 positional arguments but 3 were given');
  // typing: false sends (here: reaches the broker factory, which refuses)
  await assert.rejects(loose.delay(1, 2), /no broker/);
});
