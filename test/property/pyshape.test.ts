/**
 * Property: a ShapeText (pyshape.ts) writes the members of every object exactly as pythonJsonDumps does,
 * whatever came before it: objects are drawn from a few shapes and a few values per key, so the remembered
 * segments are hit, missed on one value, and relearned; skipped keys are left out; anything pythonJsonDumps
 * would not write the same way is declined (null), and so may be objects of shapes that do not repeat.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ShapeText } from '../../protocol/serialization/pyshape.ts';
import { pythonJsonDumps } from '../../protocol/serialization/pywrite.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

/** What a ShapeText must give for `o`: the members of pythonJsonDumps(o minus `skip`), or null. */
function expected(o: Record<string, unknown>, skip: readonly string[]): string | null {
  const rest: Record<string, unknown> = {};
  for (const k of Object.keys(o)) {
    if (o[k] === undefined) return null;
    if (!skip.includes(k)) Object.defineProperty(rest, k, { value: o[k], enumerable: true, writable: true, configurable: true });
  }
  const text = pythonJsonDumps(rest);
  return text === null ? null : text.slice(1, -1);
}

const KEYS = ['lang', 'task', 'id', 'eta', 'timelimit', 'stamps', '0', '10', '__proto__', 'ünï', 'skip_me', 'a"b'];
const value = fc.oneof(
  fc.constantFrom<unknown>(null, 'py', 'x', '', 'é', '\u2028', 0, -0, 1, 2.5, 1e-7, 1e21, true, false, undefined, NaN, Infinity),
  fc.constantFrom<unknown>([null, null], [1, null], [], ['a'], {}, { a: 1 }, [[1]], new Date(0), 10n),
  fc.uuid(),
  fc.string({ maxLength: 6 }),
  fc.double(),
);
// few shapes: prefixes of a few key orders, so consecutive objects often share their keys
const shape = fc.constantFrom(KEYS, KEYS.slice(0, 5), [...KEYS].reverse(), ['id', 'skip_me', 'task'], []).chain((keys) =>
  fc.integer({ min: 0, max: keys.length }).map((n) => keys.slice(0, n)));
const object = fc.tuple(shape, fc.array(value, { minLength: KEYS.length, maxLength: KEYS.length }), fc.boolean()).map(([keys, values, nullProto]) => {
  const o: Record<string, unknown> = nullProto ? Object.create(null) : {};
  keys.forEach((k, i) => Object.defineProperty(o, k, { value: values[i], enumerable: true, writable: true, configurable: true }));
  return o;
});
// a message stream: each object is a fresh one, or the previous one with a value or two changed
const stream = fc.array(fc.tuple(object, fc.nat(), value, fc.boolean()), { minLength: 1, maxLength: 30 }).map((steps) => {
  const out: Record<string, unknown>[] = [];
  for (const [o, at, v, again] of steps) {
    const prev = out[out.length - 1];
    if (again && prev) {
      const copy = { ...prev };
      const keys = Object.keys(copy);
      if (keys.length) Object.defineProperty(copy, keys[at % keys.length]!, { value: v, enumerable: true, writable: true, configurable: true });
      out.push(copy);
    } else out.push(o);
  }
  return out;
});

test('ShapeText.members = the members pythonJsonDumps writes, over streams of similar objects', () => {
  fc.assert(fc.property(stream, fc.boolean(), (objects, skipping) => {
    const skip = skipping ? ['skip_me', 'eta'] : [];
    const shapes = new ShapeText(skip);
    for (const o of objects) {
      const want = expected(o, skip);
      const got = shapes.members(o);
      // null is always allowed for a plain object too (declined: the caller writes it in general)
      if (want === null || got !== null) assert.equal(got, want);
    }
  }), { numRuns: RUNS });
});

test('ShapeText: repeated messages hit the remembered segments, and a changed value is noticed', () => {
  const shapes = new ShapeText(['delivery_tag']);
  const msg = (id: string, retries: number, tl: unknown[]) => ({ lang: 'py', id, retries, timelimit: tl, stamps: {}, delivery_tag: id });
  assert.equal(shapes.members(msg('a', 0, [null, null])), '"lang": "py", "id": "a", "retries": 0, "timelimit": [null, null], "stamps": {}');
  assert.equal(shapes.members(msg('b', 0, [null, null])), '"lang": "py", "id": "b", "retries": 0, "timelimit": [null, null], "stamps": {}');
  assert.equal(shapes.members(msg('c', 1, [5, null])), '"lang": "py", "id": "c", "retries": 1, "timelimit": [5, null], "stamps": {}');
  assert.equal(shapes.members({ ...msg('d', 0, [null, null]), stamps: { s: 1 } }), '"lang": "py", "id": "d", "retries": 0, "timelimit": [null, null], "stamps": {"s": 1}');
  assert.equal(shapes.members(Object.assign([1, 2], { toJSON: () => 1 }) as never), null);
  const arr = Object.assign([null, null], { toJSON: () => 'x' });
  assert.equal(shapes.members(msg('e', 0, arr)), null);
  assert.equal(shapes.members(new (class X { a = 1 })()), null);
  // a run of objects that never repeat a shape is mostly declined, then a repeating shape is written again
  for (let i = 0; i < 100; i++) shapes.members({ [`k${i}`]: i });
  for (let i = 0; i < 20; i++) shapes.members(msg(`r${i}`, 0, [null, null]));
  assert.equal(shapes.members(msg('f', 0, [null, null])), '"lang": "py", "id": "f", "retries": 0, "timelimit": [null, null], "stamps": {}');
});
