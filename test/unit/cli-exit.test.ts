// The exit statuses and error lines every celeriac command shares (src/cli/exit.ts): Celery's sysexits
// codes by kind of failure, one line naming the command, passwords redacted, the stack only on request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from '../../protocol/errors.ts';
import { ResultTimeoutError } from '../../src/backend.ts';
import { ConfigurationError, OperationalError } from '../../src/errors.ts';
import {
  EX_CONFIG, EX_DATAERR, EX_NOINPUT, EX_SOFTWARE, EX_TEMPFAIL, EX_UNAVAILABLE, EX_USAGE, exitCodeFor, reportError, UsageError,
} from '../../src/cli/exit.ts';
import { AppLoadError } from '../../src/cli/load-app.ts';

function report(err: unknown, traceback = false): { code: number; text: string } {
  let text = '';
  const code = reportError('call', err, { traceback, stream: { write: (s: string) => (text += s) } });
  return { code, text };
}

test('sysexits statuses as Celery uses them, by kind of failure', () => {
  assert.equal(EX_USAGE, 64);
  assert.equal(EX_UNAVAILABLE, 69);
  assert.equal(EX_SOFTWARE, 70);
  assert.equal(exitCodeFor(new UsageError('-c/--concurrency must be an integer >= 1, got "0"')), EX_USAGE);
  assert.equal(exitCodeFor(new AppLoadError('not-found', './nope.ts: no such file', { spec: './nope.ts' })), EX_NOINPUT);
  assert.equal(exitCodeFor(new AppLoadError('no-app', './m.ts exports no app', { spec: './m.ts' })), EX_CONFIG);
  assert.equal(exitCodeFor(new ConfigurationError('unsupported broker URL foo://x')), EX_CONFIG);
  assert.equal(exitCodeFor(new ProtocolError('envelope', 'no input')), EX_DATAERR);
  assert.equal(exitCodeFor(new ResultTimeoutError('id', 1)), EX_TEMPFAIL);
  assert.equal(exitCodeFor(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })), EX_UNAVAILABLE);
  assert.equal(exitCodeFor(new OperationalError('cannot publish', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') })), EX_UNAVAILABLE);
  assert.equal(exitCodeFor(new TypeError("Cannot read properties of undefined (reading 'x')")), EX_SOFTWARE);
  assert.equal(exitCodeFor(Object.assign(new Error('custom'), { exitCode: 3 })), 3);
});

test('one line naming the command, the password redacted; a bug says how to get its stack; the stack only with traceback', () => {
  let r = report(new ConfigurationError('cannot use redis://user:s3cret@cache:6379/0 here'));
  assert.equal(r.code, EX_CONFIG);
  assert.equal(r.text, 'celeriac call: ConfigurationError: cannot use redis://user:**@cache:6379/0 here\n');
  r = report(new TypeError('x is not a function'));
  assert.equal(r.code, EX_SOFTWARE);
  assert.equal(r.text, 'celeriac call: TypeError: x is not a function (an unexpected error: rerun with --traceback for the stack trace)\n');
  const bug = new Error('kaput at amqp://guest:hunter2@rabbit//', { cause: new Error('deeper') });
  r = report(bug, true);
  const [first, ...rest] = r.text.trimEnd().split('\n');
  assert.equal(first, 'celeriac call: Error: kaput at amqp://guest:**@rabbit//');
  assert.match(rest.join('\n'), /^Error: kaput at amqp:\/\/guest:\*\*@rabbit\/\/\n\s+at /);
  assert.match(rest.join('\n'), /\nCaused by: Error: deeper\n\s+at /);
  assert.doesNotMatch(r.text, /hunter2/);
});
