// fromAmqpHeaders builds an error's path only on an error (it runs for every header of every delivery):
// the depth limit, the paths in errors and the special keys stay what they were.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromAmqpHeaders } from '../../protocol/envelope/amqp.ts';
import { ProtocolError } from '../../protocol/errors.ts';

function nested(levels: number, leaf: unknown): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

test('headers nested 200 levels decode; one more level is a ProtocolError naming the path', () => {
  assert.deepEqual(fromAmqpHeaders({ a: nested(199, 1) }), { a: nested(199, 1) });
  assert.deepEqual(fromAmqpHeaders({ a: nested(199, null) }), { a: nested(199, null) });
  for (const leaf of [1, 'x', null, true]) {
    assert.throws(() => fromAmqpHeaders({ a: nested(200, leaf) }), (e: Error) =>
      e instanceof ProtocolError && /nested too deeply/.test(e.message) && (e as ProtocolError & { path?: string }).path === `headers.a${'[0]'.repeat(200)}`);
  }
});

test('an undecodable value names its path; typed values, __proto__ keys and buffers decode as before', () => {
  assert.throws(() => fromAmqpHeaders({ a: [1, { b: () => 0 }] }), (e: Error) =>
    e instanceof ProtocolError && /unsupported AMQP header value of type function/.test(e.message) && (e as ProtocolError & { path?: string }).path === 'headers.a[1].b');
  assert.throws(() => fromAmqpHeaders({ t: { '!': 'x', value: Symbol('s') } }), (e: Error) => (e as ProtocolError & { path?: string }).path === 'headers.t');
  const h = fromAmqpHeaders(JSON.parse('{"__proto__": {"x": 1}, "n": [1, "s", null, false]}') as Record<string, unknown>);
  assert.ok(Object.hasOwn(h, '__proto__'));
  assert.equal(Object.getPrototypeOf(h), Object.prototype);
  assert.deepEqual(h.n, [1, 's', null, false]);
  const buf = Buffer.from('ab');
  const out = fromAmqpHeaders({ b: buf }).b as Uint8Array;
  assert.ok(!(out instanceof Buffer) && out instanceof Uint8Array);
  assert.deepEqual([...out], [97, 98]);
});
