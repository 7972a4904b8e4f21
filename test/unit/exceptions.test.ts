import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  exceptionFromInfo,
  exceptionToInfo,
  parseExceptionInfo,
  PythonError,
  NotRegistered,
  TaskRevokedError,
  ChordError,
  TimeLimitExceeded,
  SoftTimeLimitExceeded,
  WorkerLostError,
  Retry,
  Reject,
  Ignore,
  MaxRetriesExceededError,
  TaskError,
  CeleryTimeoutError,
  tracebackOf,
  type ExceptionInfo,
} from '../../protocol/exceptions.ts';
import { pyRepr } from '../../protocol/repr.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import * as states from '../../protocol/states.ts';

// Backend.prepare_exception(...) output, Celery 5.6.3 / billiard (json.dumps of the dict).
const PY: Record<string, [ExceptionInfo, Function]> = {
  custom: [{ exc_type: 'CustomError', exc_message: ['boom', 42], exc_module: '__main__' }, PythonError],
  nested: [{ exc_type: 'Outer.Inner', exc_message: ['x'], exc_module: '__main__' }, PythonError],
  value: [{ exc_type: 'ValueError', exc_message: ['bad'], exc_module: 'builtins' }, PythonError],
  key: [{ exc_type: 'KeyError', exc_message: ['k'], exc_module: 'builtins' }, PythonError],
  zero: [{ exc_type: 'ZeroDivisionError', exc_message: ['division by zero'], exc_module: 'builtins' }, PythonError],
  notreg: [{ exc_type: 'NotRegistered', exc_message: ['t.nope'], exc_module: 'celery.exceptions' }, NotRegistered],
  revoked: [{ exc_type: 'TaskRevokedError', exc_message: ['revoked'], exc_module: 'celery.exceptions' }, TaskRevokedError],
  chord: [{ exc_type: 'ChordError', exc_message: ['Dependency x raised ValueError()'], exc_module: 'celery.exceptions' }, ChordError],
  tle: [{ exc_type: 'TimeLimitExceeded', exc_message: [30], exc_module: 'billiard.exceptions' }, TimeLimitExceeded],
  stle: [{ exc_type: 'SoftTimeLimitExceeded', exc_message: [], exc_module: 'billiard.exceptions' }, SoftTimeLimitExceeded],
  wle: [
    { exc_type: 'WorkerLostError', exc_message: ['Worker exited prematurely: signal 9 (SIGKILL) Job: 0.'], exc_module: 'billiard.exceptions' },
    WorkerLostError,
  ],
  retry: [{ exc_type: 'Retry', exc_message: ["Retry(Retry(...), ValueError('x'), 1)", "ValueError('x')", 1], exc_module: 'celery.exceptions' }, Retry],
  reject: [{ exc_type: 'Reject', exc_message: ['no', false], exc_module: 'celery.exceptions' }, Reject],
  ignore: [{ exc_type: 'Ignore', exc_message: [], exc_module: 'celery.exceptions' }, Ignore],
  maxr: [
    { exc_type: 'MaxRetriesExceededError', exc_message: ["Can't retry t.add[a] args:() kwargs:{}"], exc_module: 'celery.exceptions' },
    MaxRetriesExceededError,
  ],
  taskerror: [{ exc_type: 'TaskError', exc_message: ['te'], exc_module: 'celery.exceptions' }, TaskError],
  noargs: [{ exc_type: 'Exception', exc_message: [], exc_module: 'builtins' }, PythonError],
  timeout: [{ exc_type: 'TimeoutError', exc_message: ['The operation timed out.'], exc_module: 'celery.exceptions' }, CeleryTimeoutError],
};

test('Python info → JS error → info round trips, with the specific class', () => {
  for (const [name, [info, cls]] of Object.entries(PY)) {
    const err = exceptionFromInfo(info, 'Traceback...', states.FAILURE);
    assert.ok(err instanceof cls, name);
    assert.ok(err instanceof PythonError && err instanceof Error, name);
    assert.equal(err.name, info.exc_type, name);
    assert.equal(err.excType, info.exc_type);
    assert.equal(err.excModule, info.exc_module);
    assert.deepEqual(err.excMessage, info.exc_message);
    assert.equal(err.traceback, 'Traceback...');
    assert.equal(err.state, 'FAILURE');
    assert.deepEqual(exceptionToInfo(err), info, name);
  }
});

test('messages look like Python reprs', () => {
  assert.equal(exceptionFromInfo(PY.custom![0]).message, "CustomError('boom', 42)");
  assert.equal(exceptionFromInfo(PY.value![0]).message, "ValueError('bad')");
  assert.equal(exceptionFromInfo(PY.nested![0]).message, "Inner('x')");
  assert.equal(exceptionFromInfo(PY.noargs![0]).message, 'Exception()');
  assert.equal(exceptionFromInfo(PY.tle![0]).message, 'TimeLimitExceeded(30)');
  // repr(NotRegistered('t.nope')) in Python:
  assert.equal(exceptionFromInfo(PY.notreg![0]).message, "Task of kind 't.nope' never registered, please make sure it's imported.");
  assert.equal(pyRepr(["it's", null, true, { a: 1.5 }]), `["it's", None, True, {'a': 1.5}]`);
});

test('typed accessors', () => {
  assert.equal((exceptionFromInfo(PY.reject![0]) as Reject).requeue, false);
  assert.equal((exceptionFromInfo(PY.notreg![0]) as NotRegistered).taskName, 't.nope');
  assert.equal((exceptionFromInfo(PY.tle![0]) as TimeLimitExceeded).limit, 30);
  assert.equal((exceptionFromInfo(PY.retry![0]) as Retry).when, 1);
  // celery.exceptions re-exports billiard's: Python resolves both module names.
  assert.ok(exceptionFromInfo({ exc_type: 'TimeLimitExceeded', exc_message: [1], exc_module: 'celery.exceptions' }) instanceof TimeLimitExceeded);
  const v = exceptionFromInfo(PY.value![0]);
  assert.equal(v.excType, 'ValueError');
  assert.equal(v.qualifiedName, 'builtins.ValueError');
  assert.equal(v.reason, 'bad');
});

test('non-list exc_message and missing exc_module are accepted like Python', () => {
  const e = exceptionFromInfo({ exc_type: 'KeyError', exc_message: 'single', exc_module: 'builtins' });
  assert.deepEqual(e.excMessage, ['single']);
  const info = parseExceptionInfo({ exc_type: 'CustomError', exc_message: ['boom', 42] });
  assert.equal(info.exc_module, 'celery.backends.base');
});

test('malformed exception dicts raise ProtocolError(exception)', () => {
  for (const bad of [null, 'x', [], {}, { exc_type: '' }, { exc_type: 3 }, { exc_type: 'X', exc_module: 5 }]) {
    assert.throws(
      () => parseExceptionInfo(bad as never),
      (e: unknown) => e instanceof ProtocolError && e.part === 'exception',
    );
  }
  assert.throws(() => exceptionFromInfo({ nope: 1 }), ProtocolError);
});

// JS → Python mapping. Each output was fed to Celery 5.6.3 `backend.exception_to_python`:
//   {"exc_type":"Exception","exc_message":["m"],"exc_module":"builtins"}  -> builtins Exception('m')
//   {"exc_type":"TypeError","exc_message":["m"],"exc_module":"builtins"}  -> builtins TypeError('m')
//   {"exc_type":"NameError",...,"exc_module":"builtins"}                  -> builtins NameError(...)
//   {"exc_type":"MyError","exc_message":["m",1],"exc_module":"celeriac"}  -> celery.exceptions.MyError('m', 1) (synthetic Exception subclass)
//   {"exc_type":"print","exc_message":["m"],"exc_module":"builtins"}      -> SecurityError (why non-exception names are never produced)
test('JS errors map to Python shapes that Python rebuilds', () => {
  assert.deepEqual(exceptionToInfo(new Error('m')), { exc_type: 'Exception', exc_message: ['m'], exc_module: 'builtins' });
  assert.deepEqual(exceptionToInfo(new Error()), { exc_type: 'Exception', exc_message: [], exc_module: 'builtins' });
  assert.deepEqual(exceptionToInfo(new TypeError('m')), { exc_type: 'TypeError', exc_message: ['m'], exc_module: 'builtins' });
  assert.deepEqual(exceptionToInfo(new RangeError('m')), { exc_type: 'ValueError', exc_message: ['m'], exc_module: 'builtins' });
  assert.deepEqual(exceptionToInfo(new SyntaxError('m')), { exc_type: 'ValueError', exc_message: ['m'], exc_module: 'builtins' });
  assert.deepEqual(exceptionToInfo(new ReferenceError('m')), { exc_type: 'NameError', exc_message: ['m'], exc_module: 'builtins' });
  class MyError extends Error {}
  assert.deepEqual(exceptionToInfo(new MyError('m')), { exc_type: 'MyError', exc_message: ['m'], exc_module: 'celeriac' });
  class Named extends Error {
    override name = 'KeyError';
  }
  assert.deepEqual(exceptionToInfo(new Named('k')), { exc_type: 'KeyError', exc_message: ['k'], exc_module: 'builtins' });
  const weird = new Error('m');
  weird.name = 'Weird Name!';
  assert.deepEqual(exceptionToInfo(weird), { exc_type: 'Exception', exc_message: ['m'], exc_module: 'builtins' });
  assert.deepEqual(exceptionToInfo('boom'), { exc_type: 'Exception', exc_message: ['boom'], exc_module: 'builtins' });
  assert.deepEqual(exceptionToInfo(new NotRegistered(['x'])), { exc_type: 'NotRegistered', exc_message: ['x'], exc_module: 'celery.exceptions' });
  assert.equal(tracebackOf(new PythonError('X', [], { traceback: 'tb' })), 'tb');
  assert.match(tracebackOf(new Error('m')) ?? '', /Error: m/);
});

test('states: sets and precedence as celery/states.py', () => {
  assert.deepEqual([...states.READY_STATES].sort(), ['FAILURE', 'REVOKED', 'SUCCESS']);
  assert.deepEqual([...states.UNREADY_STATES].sort(), ['PENDING', 'RECEIVED', 'REJECTED', 'RETRY', 'STARTED']);
  assert.deepEqual([...states.EXCEPTION_STATES].sort(), ['FAILURE', 'RETRY', 'REVOKED']);
  assert.deepEqual([...states.PROPAGATE_STATES].sort(), ['FAILURE', 'REVOKED']);
  // precedence(): SUCCESS 0, FAILURE 1, unknown 2, REVOKED 3, STARTED 4, RECEIVED 5, REJECTED 6, RETRY 7, PENDING 8
  assert.deepEqual(
    ['SUCCESS', 'FAILURE', 'PROGRESS', 'REVOKED', 'STARTED', 'RECEIVED', 'REJECTED', 'RETRY', 'PENDING', 'IGNORED'].map(states.precedence),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 2],
  );
  // state('PROGRESS') > state(STARTED) is True; state('PROGRESS') > state('SUCCESS') is False
  assert.ok(states.compareStates('PROGRESS', 'STARTED') > 0);
  assert.ok(states.compareStates('PROGRESS', 'SUCCESS') < 0);
  assert.equal(states.isReady('REVOKED'), true);
  assert.equal(states.isReady('RETRY'), false);
});
