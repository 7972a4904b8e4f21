/** Assertions shared by the tests. */
import assert from 'node:assert/strict';
import { ProtocolError } from '../../protocol/errors.ts';

/** Runs `fn`, asserts it threw a ProtocolError about `part` (and `match`/`path` when given), returns it. */
export function throwsProtocolError(fn: () => unknown, part: string, match?: RegExp, path?: string): ProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ProtocolError, `expected a ProtocolError, got ${String(caught)}`);
  assert.equal(caught.part, part, caught.message);
  if (match) assert.match(caught.message, match);
  if (path !== undefined) assert.equal(caught.path, path, caught.message);
  return caught;
}
