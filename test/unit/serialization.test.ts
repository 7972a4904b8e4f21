import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContentDisallowed, DecodeError, EncodeError, ProtocolError } from '../../protocol/errors.ts';
import { Decimal, PyDate, PyDateTime, PyTime, UUID } from '../../protocol/values.ts';
import type { PyValue } from '../../protocol/values.ts';
import { parseKombuJson, stringifyKombuJson } from '../../protocol/serialization/json.ts';
import { decodeMsgpack, encodeMsgpack } from '../../protocol/serialization/msgpack.ts';
import { parseYaml, stringifyYaml } from '../../protocol/serialization/yaml.ts';
import { SERIALIZERS, dumps, getSerializer, loads } from '../../protocol/serialization/index.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));

// Produced by kombu 5.6.2 `kombu.utils.json.dumps` (Python 3.11).
const KOMBU_JSON =
  '{"dt": {"__type__": "datetime", "__value__": "2024-02-29T12:30:45.123456+00:00"}, "naive": {"__type__": "datetime", "__value__": "2024-02-29T12:30:45"}, "d": {"__type__": "date", "__value__": "2024-02-29"}, "t": {"__type__": "time", "__value__": "23:59:58.000500"}, "dec": {"__type__": "decimal", "__value__": "3.14159265358979323846"}, "u": {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}, "b": {"__type__": "bytes", "__value__": "hello bytes"}, "b2": {"__type__": "bytes", "__value__": "\\u0001\\u0002"}, "raw": {"__type__": "base64", "__value__": "/wA="}, "big": 1180591620717411303424, "neg": -18446744073709551616, "s": "h\\u00e9llo \\ud83c\\udf89", "f": 1.5, "tup": [1, 2]}';

const EXPECTED: Record<string, PyValue> = {
  dt: new PyDateTime('2024-02-29T12:30:45.123456+00:00'),
  naive: new PyDateTime('2024-02-29T12:30:45'),
  d: new PyDate('2024-02-29'),
  t: new PyTime('23:59:58.000500'),
  dec: new Decimal('3.14159265358979323846'),
  u: new UUID('12345678-1234-5678-1234-567812345678'),
  b: enc('hello bytes'),
  b2: new Uint8Array([1, 2]),
  raw: new Uint8Array([0xff, 0]),
  big: 1180591620717411303424n,
  neg: -18446744073709551616n,
  s: 'h\u00e9llo \u{1f389}',
  f: 1.5,
  tup: [1, 2],
};

test('json: decodes what kombu emits (every tag type, bigints, surrogate pairs)', () => {
  const v = parseKombuJson(KOMBU_JSON) as Record<string, PyValue>;
  assert.deepEqual(v, EXPECTED);
  assert.equal((v.dt as PyDateTime).isoformat, '2024-02-29T12:30:45.123456+00:00');
  assert.equal((v.naive as PyDateTime).naive, true);
  assert.equal(Object.getPrototypeOf(v.b), Uint8Array.prototype);
});

test('json: encodes to the very text kombu writes for the same values (round trip)', () => {
  const text = stringifyKombuJson(EXPECTED);
  // byte for byte what kombu.utils.json.dumps wrote: separators, ensure_ascii escapes, surrogate pairs
  assert.equal(text, KOMBU_JSON);
  assert.deepEqual(parseKombuJson(text), EXPECTED);
});

test('json: Python number text: float exponents as repr() writes them', () => {
  // json.dumps([1e-07, 1e-05, 0.0001, 1.5e-10, 1e+21, 1e+300, 0.5, 12345678901234567890]) in Python 3.11
  assert.equal(stringifyKombuJson([1e-7, 1e-5, 0.0001, 1.5e-10, 1e21, 1e300, 0.5, 12345678901234567890n]),
    '[1e-07, 1e-05, 0.0001, 1.5e-10, 1e+21, 1e+300, 0.5, 12345678901234567890]');
  assert.equal(stringifyKombuJson({ 'k:,"': '1e-5, 0.00001: x', n: -0.000025 }), '{"k:,\\"": "1e-5, 0.00001: x", "n": -2.5e-05}');
  assert.equal(stringifyKombuJson('\u007f\u0080'), '"\\u007f\\u0080"');
});

test('json: plain Date becomes an aware UTC isoformat; NaN/Infinity like Python; undefined omitted', () => {
  const d = new Date(Date.UTC(2024, 1, 29, 12, 30, 45, 123));
  assert.equal(
    stringifyKombuJson({ d, u: undefined } as unknown as PyValue),
    '{"d": {"__type__": "datetime", "__value__": "2024-02-29T12:30:45.123000+00:00"}}',
  );
  assert.equal(stringifyKombuJson([Number.NaN, Infinity, -Infinity]), '[NaN, Infinity, -Infinity]');
  const back = parseKombuJson('[NaN, Infinity, -Infinity]') as number[];
  assert.ok(Number.isNaN(back[0]));
  assert.deepEqual(back.slice(1), [Infinity, -Infinity]);
  assert.equal(stringifyKombuJson('\ud800'), '"\\ud800"');
  assert.equal(parseKombuJson('"\\ud800"'), '\ud800');
  assert.equal(stringifyKombuJson('a"\u0000'), '"a\\"\\u0000"');
});

test('json: bigints stay exact; safe integers stay numbers', () => {
  assert.deepEqual(parseKombuJson('[9007199254740991, 9007199254740992, -9223372036854775808, 1.0, 12345678901234567.5]'), [
    9007199254740991, 9007199254740992n, -9223372036854775808n, 1, 12345678901234567.5,
  ]);
  assert.equal(stringifyKombuJson({ a: 2n ** 100n, b: [-(2n ** 64n)] }), '{"a": 1267650600228229401496703205376, "b": [-18446744073709551616]}');
  assert.deepEqual(parseKombuJson('{"a": 1267650600228229401496703205376, "s": "x"}'), { a: 2n ** 100n, s: 'x' });
});

test('json: big integers found anywhere in the tree (in tags, deep in lists) take the exact parser', () => {
  assert.deepEqual(parseKombuJson('{"t": {"__type__": "date", "__value__": "2024-01-02"}, "deep": [[[{"n": -9007199254740993}]]]}'),
    { t: new PyDate('2024-01-02'), deep: [[[{ n: -9007199254740993n }]]] });
  assert.deepEqual(parseKombuJson('[1e300, 1.5e16, -0.0]'), [1e300, 1.5e16, -0]);
  // nesting: what the exact parser accepts (Python refuses at about 1000 levels), with or without big ints
  const nest = (n: number, leaf: string) => '['.repeat(n) + leaf + ']'.repeat(n);
  let deep = parseKombuJson(nest(1500, '1'));
  for (let i = 0; i < 1500; i++) {
    assert.ok(Array.isArray(deep) && deep.length === 1, `level ${i}`);
    deep = deep[0]!;
  }
  assert.equal(deep, 1);
  assert.throws(() => parseKombuJson(nest(2500, '1')), /nested too deeply/);
  assert.throws(() => parseKombuJson(nest(2500, '18446744073709551616')), /nested too deeply/);
});

test('json: uuid int form, __proto__ key, nested tags inside tags', () => {
  assert.deepEqual(parseKombuJson('{"__type__": "uuid", "__value__": {"int": 1}}'), new UUID('00000000000000000000000000000001'));
  const o = parseKombuJson('{"__proto__": 1, "x": 12345678901234567890}') as Record<string, PyValue>;
  assert.equal(Object.getPrototypeOf(o), Object.prototype);
  assert.equal(o['__proto__'], 1);
  assert.deepEqual(parseKombuJson('[{"a": {"__type__": "date", "__value__": "2024-01-02"}}]'), [{ a: new PyDate('2024-01-02') }]);
  // escaped key names are the same key
  assert.deepEqual(parseKombuJson('{"\\u005f_type__": "bytes", "__value__": "hi"}'), enc('hi'));
});

test('json: decode errors are DecodeError with part body', () => {
  const cases = [
    '[1,',
    '{"a" 1}',
    '',
    '\ufeff{}',
    '{"__type__": "frobnicate", "__value__": 1}',
    '{"__type__": "datetime", "__value__": "yesterday"}',
    '{"__type__": "base64", "__value__": "abc"}',
    '{"__type__": "uuid", "__value__": "nope"}',
    '[' .repeat(100000),
    '[' .repeat(3000) + '12345678901234567890' + ']'.repeat(3000),
    '"\u0001"',
  ];
  for (const c of cases) {
    assert.throws(() => parseKombuJson(c), (e: unknown) => e instanceof DecodeError && e.part === 'body', c.slice(0, 40));
  }
  assert.throws(() => parseKombuJson('{"__type__": "frobnicate", "__value__": 1}'), /frobnicate/);
  assert.throws(() => parseKombuJson('[1, 2 x]'), /char 6/);
});

test('json: fuzz never throws anything but ProtocolError', () => {
  const alphabet = ['{', '}', '[', ']', '"', ':', ',', '1', '9', '-', 'e', '.', 'N', 'a', 'I', '\\', 'u', ' ', '__type__', '__value__', 'true', 'n'];
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < 20000; i++) {
    let s = '';
    const len = Math.floor(rnd() * 30);
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(rnd() * alphabet.length)];
    if (rnd() < 0.2) s += '12345678901234567890';
    try {
      parseKombuJson(s);
    } catch (e) {
      assert.ok(e instanceof ProtocolError, `${JSON.stringify(s)}: ${String(e)}`);
    }
  }
});

test('json: encode errors name the path', () => {
  assert.throws(
    () => stringifyKombuJson({ a: [1, (() => 1) as unknown as PyValue] }),
    (e: unknown) => e instanceof EncodeError && e.path === '$.a[1]' && /function/.test(e.message),
  );
  assert.throws(() => stringifyKombuJson({ m: new Map() as unknown as PyValue }), (e: unknown) => e instanceof EncodeError && e.path === '$.m');
  assert.throws(() => stringifyKombuJson({ s: Symbol('x') as unknown as PyValue }), EncodeError);
  assert.throws(() => stringifyKombuJson(new Date(Number.NaN)), EncodeError);
  const cyc: Record<string, PyValue> = {};
  cyc.self = cyc;
  assert.throws(() => stringifyKombuJson(cyc), (e: unknown) => e instanceof EncodeError && /circular/.test(e.message));
});

// msgpack.packb(v, use_bin_type=True) of
// {'a': 2**64-1, 'b': -2**63, 'c': 2**40, 'd': 1.5, 'e': b'\x01\x02\xff', 's': 'héllo 🎉', 'n': None,
//  't': True, 'l': [1, 'x', (2,)], 'big': 2**53, 'neg': -5, 'f': -1.25e300}
const KOMBU_MSGPACK =
  'jKFhz///////////oWLTgAAAAAAAAAChY88AAAEAAAAAAKFkyz/4AAAAAAAAoWXEAwEC/6Fzq2jDqWxsbyDwn46JoW7AoXTDoWyTAaF4kQKjYmlnzwAgAAAAAAAAo25lZ/uhZsv+Pd1LqgCTAw==';
const MSGPACK_VALUE: PyValue = {
  a: 2n ** 64n - 1n,
  b: -(2n ** 63n),
  c: 2 ** 40,
  d: 1.5,
  e: new Uint8Array([1, 2, 255]),
  s: 'héllo 🎉',
  n: null,
  t: true,
  l: [1, 'x', [2]],
  big: 2n ** 53n,
  neg: -5,
  f: -1.25e300,
};

test('msgpack: decodes kombu bytes and encodes byte-identically', () => {
  assert.deepEqual(decodeMsgpack(b64(KOMBU_MSGPACK)), MSGPACK_VALUE);
  assert.equal(Buffer.from(encodeMsgpack(MSGPACK_VALUE)).toString('base64'), KOMBU_MSGPACK);
  // a safe integer above 32 bits is packed as an integer (Python reads an int, not a float)
  assert.deepEqual([...encodeMsgpack(2 ** 40)], [0xcf, 0, 0, 1, 0, 0, 0, 0, 0]);
  assert.equal(decodeMsgpack(encodeMsgpack(2 ** 40)), 2 ** 40);
});

test('msgpack: unencodable values raise EncodeError like kombu', () => {
  for (const v of [new PyDateTime('2024-01-01T00:00:00'), new Date(), new Decimal('1'), new UUID('12345678123456781234567812345678'), new PyDate('2024-01-01'), new PyTime('10:00'), 2n ** 64n, -(2n ** 63n) - 1n]) {
    assert.throws(() => encodeMsgpack({ x: v }), (e: unknown) => e instanceof EncodeError && e.path === '$.x');
  }
});

test('msgpack: decode errors are DecodeError', () => {
  for (const hex of ['', 'c1', '81a1', '810101', 'a2c328', '0102', 'd6ff00000000', 'd40100']) {
    assert.throws(() => decodeMsgpack(Buffer.from(hex, 'hex')), (e: unknown) => e instanceof DecodeError && e.part === 'body', hex);
  }
});

// yaml.safe_dump({'dt': aware, 'naive': naive, 'd': date, 'raw': b'\xff\x00', 'big': 2**70, 's': 'héllo 🎉',
//                 'f': 1e-7, 'inf': inf, 'l': [1, 'x', None, True]})
const KOMBU_YAML =
  'YmlnOiAxMTgwNTkxNjIwNzE3NDExMzAzNDI0CmQ6IDIwMjQtMDItMjkKZHQ6IDIwMjQtMDItMjkgMTI6MzA6NDUuMTIzNDU2KzAwOjAwCmY6IDEuMGUtMDcKaW5mOiAuaW5mCmw6Ci0gMQotIHgKLSBudWxsCi0gdHJ1ZQpuYWl2ZTogMjAyNC0wMi0yOSAxMjozMDo0NQpyYXc6ICEhYmluYXJ5IHwKICAvd0E9CnM6ICJoXHhFOWxsbyBcVTAwMDFGMzg5Igo=';
const YAML_VALUE: PyValue = {
  big: 1180591620717411303424n,
  d: new PyDate('2024-02-29'),
  dt: new PyDateTime('2024-02-29T12:30:45.123456+00:00'),
  f: 1e-7,
  inf: Infinity,
  l: [1, 'x', null, true],
  naive: new PyDateTime('2024-02-29T12:30:45'),
  raw: new Uint8Array([0xff, 0]),
  s: 'héllo 🎉',
};

test('yaml: decodes what PyYAML safe_dump wrote', () => {
  assert.deepEqual(SERIALIZERS.yaml.decode(b64(KOMBU_YAML)), YAML_VALUE);
});

test('yaml: timestamps decode as PyYAML safe_load does', () => {
  const v = parseYaml('a: 2024-02-29 12:30:45.123456789+05:30\nb: 2024-2-9 1:02:03\nc: 2024-02-29T12:30:45Z\nd: 2024-02-29\ne: 2024-02-29 12:30:45 -08\n') as Record<string, PyDateTime>;
  assert.equal(v.a?.isoformat, '2024-02-29T12:30:45.123456+05:30');
  assert.equal(v.b?.isoformat, '2024-02-09T01:02:03');
  assert.equal(v.c?.isoformat, '2024-02-29T12:30:45+00:00');
  assert.deepEqual(v.d, new PyDate('2024-02-29'));
  assert.equal(v.e?.isoformat, '2024-02-29T12:30:45-08:00');
  // PyYAML's YAML 1.1 scalars
  assert.deepEqual(parseYaml('[yes, No, on, n, y, ~, 0x1F, 017, 1_000, 1:30, 1e5, 1.0e+5, .NaN, -.inf, 0o17]'), [
    true, false, true, 'n', 'y', null, 31, 15, 1000, 90, '1e5', 100000, Number.NaN, -Infinity, '0o17',
  ]);
  assert.equal(parseYaml(''), null);
});

test('yaml: encoding round-trips and is PyYAML-loadable', () => {
  const v: PyValue = {
    a: new PyDateTime('2024-02-29T12:30:45.123456+05:30'),
    b: new Uint8Array([0, 255]),
    big: 2n ** 70n,
    d: new PyDate('2024-02-29'),
    e: 1e-7,
    h: Number.NaN,
    s: 'h\u00e9llo \u{1f389} "q" \\ \n\t\u0000 \u2028',
    yes: 'yes',
    z: 1e21,
    l: [1, [2, {}], []],
  };
  const text = stringifyYaml(v);
  // Verified with yaml.safe_load: gives the same Python values.
  assert.equal(
    text,
    '{"a": !!timestamp "2024-02-29T12:30:45.123456+05:30", "b": !!binary "AP8=", "big": 1180591620717411303424, "d": !!timestamp "2024-02-29", "e": 1.0e-7, "h": .nan, "l": [1, [2, {}], []], "s": "h\\xE9llo \\U0001F389 \\"q\\" \\\\ \\n\\t\\x00 \\u2028", "yes": "yes", "z": 1.0e+21}\n',
  );
  assert.deepEqual(parseYaml(text), v);
  assert.deepEqual(parseYaml(stringifyYaml(YAML_VALUE)), YAML_VALUE);
});

test('yaml: errors', () => {
  for (const t of ['a: [', 'a: b: c', '- 2024-13-01', '!!python/object:os.system x', '&a [*a, *a]\n'.repeat(1) + 'x']) {
    assert.throws(() => parseYaml(t), (e: unknown) => e instanceof DecodeError, t);
  }
  for (const v of [new Decimal('1'), new UUID('12345678123456781234567812345678'), new PyTime('10:00')]) {
    assert.throws(() => stringifyYaml([v]), (e: unknown) => e instanceof EncodeError && e.path === '$[0]');
  }
});

test('registry: names, content types, pickle and unknown', () => {
  assert.equal(getSerializer('json'), SERIALIZERS.json);
  assert.equal(getSerializer('application/x-msgpack'), SERIALIZERS.msgpack);
  assert.equal(SERIALIZERS.yaml.contentType, 'application/x-yaml');
  assert.equal(SERIALIZERS.msgpack.contentEncoding, 'binary');
  assert.throws(() => getSerializer('pickle'), (e: unknown) => e instanceof ProtocolError && e.part === 'serializer' && /Python/.test(e.message));
  assert.throws(() => getSerializer('application/x-python-serialize'), /Python/);
  assert.throws(() => getSerializer('bson'), (e: unknown) => e instanceof ProtocolError && /json/.test(e.message) && /msgpack/.test(e.message));
});

test('registry: dumps/loads round trip for each serializer', () => {
  const v: PyValue = { args: [1, 'two', 2n ** 64n - 1n], kw: { b: new Uint8Array([1, 2, 3]) } };
  for (const name of ['json', 'msgpack', 'yaml']) {
    const { body, contentType, contentEncoding } = dumps(v, name);
    assert.deepEqual(loads(body, contentType, contentEncoding, [name]), v, name);
  }
  const d = dumps({ x: 1 });
  assert.equal(d.contentType, 'application/json');
  assert.equal(d.contentEncoding, 'utf-8');
  assert.equal(new TextDecoder().decode(d.body), '{"x": 1}');
});

test('registry: loads follows kombu accept/trust/encoding rules', () => {
  const json = enc('{"a": 1}');
  assert.deepEqual(loads(json, 'application/json', 'utf-8'), { a: 1 });
  assert.deepEqual(loads(json, 'application/json', 'utf-8', ['application/json']), { a: 1 });
  assert.throws(
    () => loads(dumps(1, 'yaml').body, 'application/x-yaml', 'utf-8'),
    (e: unknown) => e instanceof ContentDisallowed && e.part === 'content-type' && /application\/x-yaml/.test(e.message) && /accept_content/.test(e.message),
  );
  assert.throws(() => loads(enc('x'), 'application/x-python-serialize', 'binary'), ContentDisallowed);
  // text/plain is NOT trusted by kombu
  assert.throws(() => loads(enc('hi'), 'text/plain', 'utf-8'), ContentDisallowed);
  assert.equal(loads(enc('hi'), 'text/plain', 'utf-8', ['json', 'text/plain']), 'hi');
  // always trusted
  assert.equal(loads(enc('hi'), 'application/text', 'utf-8'), 'hi');
  assert.deepEqual(loads(enc('hi'), 'application/data', 'binary'), enc('hi'));
  // empty content type = application/data, empty encoding = utf-8 -> text
  assert.equal(loads(enc('hi'), '', ''), 'hi');
  // empty body is returned as is
  assert.deepEqual(loads(new Uint8Array(0), 'application/json', 'utf-8'), new Uint8Array(0));
  // invalid UTF-8
  assert.throws(() => loads(new Uint8Array([0xff]), '', ''), (e: unknown) => e instanceof DecodeError);
  assert.throws(() => loads(new Uint8Array([0xff]), 'application/json', 'utf-8'), DecodeError);
  assert.throws(() => loads(json, 'application/json', 'utf-8', ['frob']), ProtocolError);
});
