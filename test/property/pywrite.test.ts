/**
 * Property: the direct JSON writer (pywrite.ts, which `stringifyKombuJson` and the producer use for plain
 * values) gives exactly JSON.stringify's text rewritten the Python way (`pythonJsonText`: separators,
 * ensure_ascii, float exponents) for every plain JSON value, and declines (null) everything else, which
 * then takes the general replacer path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isPlainJson, stringifyKombuJson } from '../../protocol/serialization/json.ts';
import { pythonJsonDumps, pythonJsonStr } from '../../protocol/serialization/pywrite.ts';
import { pythonJsonString, pythonJsonText } from '../../protocol/serialization/pyjson.ts';
import { pyValue } from './arbitraries.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300) * 3;

const str = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme-composite' }),
  fc.constantFrom('', '__proto__', '0.00001', '1e-7', '"', '\\', '\u007f', '\ud800', '\udc00x', ',', ':', '", "'));
const num = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.constantFrom(0, -0, 1e21, 1e-7, 0.00001, 0.0001, 5e-324, 2 ** 53, 1e100, -1.5e-5));
const plain = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, str, num, fc.boolean(), fc.constant(null), tie('arr'), tie('obj')),
  arr: fc.array(fc.oneof(tie('v'), fc.constant(undefined)), { maxLength: 5 }),
  obj: fc.dictionary(fc.oneof(str, fc.constantFrom('0', '10', '2', '-1', '01')), fc.oneof(tie('v'), fc.constant(undefined)), { maxKeys: 5 }),
})).v;

test('pythonJsonDumps = pythonJsonText(JSON.stringify) = stringifyKombuJson for plain JSON values', () => {
  fc.assert(fc.property(plain, (v) => {
    assert.equal(isPlainJson(v), true);
    assert.equal(pythonJsonDumps(v), pythonJsonText(JSON.stringify(v)));
    assert.equal(pythonJsonDumps(v), stringifyKombuJson(v as never));
  }), { numRuns: RUNS });
});

test('pythonJsonDumps declines what is not plain JSON, and matches the general path otherwise', () => {
  fc.assert(fc.property(pyValue('json'), (v) => {
    const direct = pythonJsonDumps(v);
    if (direct === null) assert.equal(isPlainJson(v), false);
    else {
      assert.equal(direct, pythonJsonText(JSON.stringify(v)));
      assert.equal(direct, stringifyKombuJson(v));
    }
  }), { numRuns: RUNS });
  for (const v of [NaN, Infinity, 10n, new Date(0), new Uint8Array(1), () => 1, Symbol('s'), undefined, { a: () => 1 }, [1, { b: 2n }]]) {
    assert.equal(pythonJsonDumps(v), null);
  }
  const withToJSON = Object.assign([1, 2], { toJSON: () => 'x' });
  assert.equal(pythonJsonDumps(withToJSON), null);
  let deep: unknown = 1;
  for (let i = 0; i < 70; i++) deep = [deep];
  assert.equal(pythonJsonDumps(deep), null);
  assert.equal(pythonJsonDumps(Object.defineProperty({}, '__proto__', { value: 1, enumerable: true })), '{"__proto__": 1}');
  assert.equal(pythonJsonDumps(Object.assign(Object.create(null), { b: 1, 2: 'x' })), '{"2": "x", "b": 1}');
});

test('pythonJsonStr = pythonJsonString', () => {
  fc.assert(fc.property(str, (s) => assert.equal(pythonJsonStr(s), pythonJsonString(s))), { numRuns: RUNS });
});
