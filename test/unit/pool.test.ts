// The pool building blocks that need no broker: Celery's pool names, and what crosses between the main
// thread and a pool thread (values keep their Python classes, errors their Python shape).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { poolFromName } from '../../src/worker/pool/pool.ts';
import { decodeError, decodeValue, encodeError, encodeValue } from '../../src/worker/pool/transfer.ts';
import { Decimal, PyDateTime, UUID } from '../../protocol/values.ts';
import { exceptionToInfo, PythonError, Reject, TimeLimitExceeded } from '../../protocol/exceptions.ts';
import { formatTraceback } from '../../src/worker/traceback.ts';

const clone = <T>(v: T): T => structuredClone(v);

test("Celery's pool names map onto async, threads and processes", () => {
  assert.deepEqual(poolFromName('prefork'), { pool: 'processes', solo: false });
  assert.deepEqual(poolFromName('processes'), { pool: 'processes', solo: false });
  assert.deepEqual(poolFromName('threads'), { pool: 'threads', solo: false });
  assert.deepEqual(poolFromName('solo'), { pool: 'async', solo: true });
  assert.deepEqual(poolFromName('eventlet'), { pool: 'async', solo: false });
  assert.deepEqual(poolFromName('gevent'), { pool: 'async', solo: false });
  assert.deepEqual(poolFromName('celery.concurrency.prefork:TaskPool'), { pool: 'processes', solo: false });
  assert.equal(poolFromName('nosuch'), null);
});

test('values cross a thread boundary with their Python classes', () => {
  const dt = new PyDateTime('2026-01-02T03:04:05.123456+01:00');
  const value = { when: dt, amount: new Decimal('1.10'), id: new UUID('5b0c3f57-4f0e-4f0e-8f0e-5b0c3f574f0e'), list: [1n, new Uint8Array([1, 2]), null], ['__proto__']: 'x' };
  const back = decodeValue(clone(encodeValue(value))) as typeof value;
  assert.ok(back.when instanceof PyDateTime);
  assert.equal(back.when.isoformat, dt.isoformat);
  assert.equal(back.when.microsecond, 123456);
  assert.ok(back.amount instanceof Decimal);
  assert.equal(String(back.amount), '1.10');
  assert.ok(back.id instanceof UUID);
  assert.equal(String(back.id), '5b0c3f57-4f0e-4f0e-8f0e-5b0c3f574f0e');
  assert.deepEqual(back.list, [1n, new Uint8Array([1, 2]), null]);
  assert.equal(Object.getOwnPropertyDescriptor(back, '__proto__')?.value, 'x');
});

test('errors cross as Celery stores them: type, module, args and the traceback formatted where they were thrown', () => {
  const err = new RangeError('division by zero');
  const back = decodeError(clone(encodeError(err)));
  assert.ok(back instanceof PythonError);
  assert.deepEqual(exceptionToInfo(back), exceptionToInfo(err));
  assert.equal(back.traceback, formatTraceback(err));
  const reject = decodeError(clone(encodeError(new Reject(['no', true]))));
  assert.ok(reject instanceof Reject, "Celery's own exceptions come back as their classes");
  assert.equal(reject.requeue, true);
  assert.ok(decodeError(clone(encodeError(new TimeLimitExceeded([2])))) instanceof TimeLimitExceeded);
});
