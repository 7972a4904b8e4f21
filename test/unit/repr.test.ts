// protocol/repr.ts against Python 3.11 `repr` and Celery 5.6.3 `celery.utils.saferepr.saferepr`.
// The expected strings below were produced by running the venv's Python on the `py` expression of each case
// (long outputs are stored as length + sha256 + head/tail).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PyTuple, argsrepr, kwargsrepr, pyBytesRepr, pyFloatRepr, pyRepr, pyStrRepr, saferepr, truncate, type ReprValue } from '../../protocol/repr.ts';
import { Decimal, PyDate, PyDateTime, PyTime, UUID } from '../../protocol/values.ts';

type Expected = string | { length: number; sha256: string; head: string; tail: string };
const T = (items: ReprValue[]) => new PyTuple(items as never);
const B = (s: string) => new TextEncoder().encode(s);

function check(got: string, exp: Expected, label: string): void {
  if (typeof exp === 'string') {
    assert.equal(got, exp, label);
    return;
  }
  assert.equal(got.slice(0, exp.head.length), exp.head, `${label} (head)`);
  assert.equal(got.slice(-exp.tail.length), exp.tail, `${label} (tail)`);
  assert.equal([...got].length, exp.length, `${label} (length in code points)`);
  assert.equal(createHash('sha256').update(got).digest('hex'), exp.sha256, `${label} (sha256)`);
}

const SAFEREPR_CASES: Array<{ py: string; value: () => ReprValue; r1024: Expected; rnone: Expected; repr: Expected }> = [
  {
    py: "(2, 3)",
    value: () => (T([2, 3])),
    r1024: "(2, 3)",
    rnone: "(2, 3)",
    repr: "(2, 3)",
  },
  {
    py: "{'z': 4}",
    value: () => ({ z: 4 }),
    r1024: "{'z': 4}",
    rnone: "{'z': 4}",
    repr: "{'z': 4}",
  },
  {
    py: "(1,)",
    value: () => (T([1])),
    r1024: "(1,)",
    rnone: "(1,)",
    repr: "(1,)",
  },
  {
    py: "()",
    value: () => (T([])),
    r1024: "()",
    rnone: "()",
    repr: "()",
  },
  {
    py: "[2, 3]",
    value: () => ([2, 3]),
    r1024: "[2, 3]",
    rnone: "[2, 3]",
    repr: "[2, 3]",
  },
  {
    py: "(0.1, 1e-5, 0.0001, 1e16, 1234567890123456.5, 1.2345678901234568e+17, 2.5e-07, 1.5e300, 1e300, 3.14159, -2.5, 1e22, 5e-3",
    value: () => (T([0.1, 1e-5, 0.0001, 1e16, 1234567890123456.5, 1.2345678901234568e17, 2.5e-7, 1.5e300, 1e300, 3.14159, -2.5, 1e22, 5e-324, 1.7976931348623157e308, Infinity, -Infinity, NaN, -0])),
    r1024: "(0.1, 1e-05, 0.0001, 1e+16, 1234567890123456.5, 1.2345678901234568e+17, 2.5e-07, 1.5e+300, 1e+300, 3.14159, -2.5, 1e+22, 5e-324, 1.7976931348623157e+308, inf, -inf, nan, -0.0)",
    rnone: "(0.1, 1e-05, 0.0001, 1e+16, 1234567890123456.5, 1.2345678901234568e+17, 2.5e-07, 1.5e+300, 1e+300, 3.14159, -2.5, 1e+22, 5e-324, 1.7976931348623157e+308, inf, -inf, nan, -0.0)",
    repr: "(0.1, 1e-05, 0.0001, 1e+16, 1234567890123456.5, 1.2345678901234568e+17, 2.5e-07, 1.5e+300, 1e+300, 3.14159, -2.5, 1e+22, 5e-324, 1.7976931348623157e+308, inf, -inf, nan, -0.0)",
  },
  {
    py: "(True, False, None)",
    value: () => (T([true, false, null])),
    r1024: "(True, False, None)",
    rnone: "(True, False, None)",
    repr: "(True, False, None)",
  },
  {
    py: "(\"it's\", 'a\"b', 'a\\nb', 'tab\\t', '\\u00e9', '\\\\', '\\U0001f389', \"'''\", '\\x00\\x7f', '\\u200b')",
    value: () => (T(["it's", 'a"b', 'a\nb', 'tab\t', '\u00e9', '\\', '\u{1f389}', "'''", '\x00\x7f', '\u200b'])),
    r1024: "('it\\'s', 'a\"b', 'a\nb', 'tab\t', '\u00e9', '\\', '\ud83c\udf89', '\\'\\'\\'', '\u0000\u007f', '\u200b')",
    rnone: "('it\\'s', 'a\"b', 'a\nb', 'tab\t', '\u00e9', '\\', '\ud83c\udf89', '\\'\\'\\'', '\u0000\u007f', '\u200b')",
    repr: "(\"it's\", 'a\"b', 'a\\nb', 'tab\\t', '\u00e9', '\\\\', '\ud83c\udf89', \"'''\", '\\x00\\x7f', '\\u200b')",
  },
  {
    py: "(b'hello', b'\\x00\\xff', b\"it's\", b'\\xc3\\xa9')",
    value: () => (T([B('hello'), new Uint8Array([0, 255]), B("it's"), new Uint8Array([0xc3, 0xa9])])),
    r1024: "(b'hello', b'00ff', b'it's', b'\u00e9')",
    rnone: "(b'hello', b'00ff', b'it's', b'\u00e9')",
    repr: "(b'hello', b'\\x00\\xff', b\"it's\", b'\\xc3\\xa9')",
  },
  {
    py: "([[[[1]]]],)",
    value: () => (T([[[[[1]]]]])),
    r1024: "([[[...]]],)",
    rnone: "([[[...]]],)",
    repr: "([[[[1]]]],)",
  },
  {
    py: "({'a': {'b': {'c': {'d': 1}}}},)",
    value: () => (T([{ a: { b: { c: { d: 1 } } } }])),
    r1024: "({'a': {'b': {...}}},)",
    rnone: "({'a': {'b': {...}}},)",
    repr: "({'a': {'b': {'c': {'d': 1}}}},)",
  },
  {
    py: "(2**70, -5, 2**53 + 1)",
    value: () => (T([2n ** 70n, -5, 2n ** 53n + 1n])),
    r1024: "(1180591620717411303424, -5, 9007199254740993)",
    rnone: "(1180591620717411303424, -5, 9007199254740993)",
    repr: "(1180591620717411303424, -5, 9007199254740993)",
  },
  {
    py: "('x' * 2000,)",
    value: () => (T(['x'.repeat(2000)])),
    r1024: { length: 1034, sha256: "c3139d5ce3cb98c84352182911e78c3e216a721b465676b14cdafc227d8e57a1", head: "('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...', ..." },
    rnone: { length: 2005, sha256: "52e4d093218036d64369664d22e93f1d181e664d2e8372d63eb093f023aea5f9", head: "('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',)" },
    repr: { length: 2005, sha256: "52e4d093218036d64369664d22e93f1d181e664d2e8372d63eb093f023aea5f9", head: "('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',)" },
  },
  {
    py: "(list(range(1000)),)",
    value: () => (T([Array.from({ length: 1000 }, (_, i) => i)])),
    r1024: { length: 1035, sha256: "38e3e5460cbe0761a5d7e58b14492cde8ccbc0b95136bcc959d202afe699fcea", head: "([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, ", tail: ", 217, 218, 219, 220, 221, 222, 223, 224, 225, 22..., ...],)" },
    rnone: { length: 4893, sha256: "69a21dce875fd11b27d6975c3b3b6f809f5e4d359f80ac3fe641dad8dd0d5983", head: "([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, ", tail: "88, 989, 990, 991, 992, 993, 994, 995, 996, 997, 998, 999],)" },
    repr: { length: 4893, sha256: "69a21dce875fd11b27d6975c3b3b6f809f5e4d359f80ac3fe641dad8dd0d5983", head: "([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, ", tail: "88, 989, 990, 991, 992, 993, 994, 995, 996, 997, 998, 999],)" },
  },
  {
    py: "{str(i): i for i in range(300)}",
    value: () => (Object.fromEntries(Array.from({ length: 300 }, (_, i) => [String(i), i]))),
    r1024: { length: 1030, sha256: "520dfc33eb2ac461dff4ef8f987675841399cf8cfdc50637fc8c12ccb2bbc076", head: "{'0': 0, '1': 1, '2': 2, '3': 3, '4': 4, '5': 5, '6': 6, '7'", tail: " '99': 99, '100': 100, '101': 101, '102': 102, '103': , ...}" },
    rnone: { length: 3380, sha256: "f7ff05498254af33bcf5922e79818fbf6d95b92e1d9f4d6b9ae42ab72522ae0c", head: "{'0': 0, '1': 1, '2': 2, '3': 3, '4': 4, '5': 5, '6': 6, '7'", tail: " '295': 295, '296': 296, '297': 297, '298': 298, '299': 299}" },
    repr: { length: 3380, sha256: "f7ff05498254af33bcf5922e79818fbf6d95b92e1d9f4d6b9ae42ab72522ae0c", head: "{'0': 0, '1': 1, '2': 2, '3': 3, '4': 4, '5': 5, '6': 6, '7'", tail: " '295': 295, '296': 296, '297': 297, '298': 298, '299': 299}" },
  },
  {
    py: "('a b c d e f ' * 200,)",
    value: () => (T(['a b c d e f '.repeat(200)])),
    r1024: { length: 1032, sha256: "f1a92985d686b5dea6fc7d5d88378b334224a2347b077ae567c62cb985169146", head: "('a b c d e f a b c d e f a b c d e f a b c d e f a b c d e ", tail: "f a b c d e f a b c d e f a b c d e f a b c d e f a...', ..." },
    rnone: { length: 2405, sha256: "8fd18ca42e52549c4bb5621da4f5eb6ad449b8fa1559d9e9c6ff001370c79157", head: "('a b c d e f a b c d e f a b c d e f a b c d e f a b c d e ", tail: " c d e f a b c d e f a b c d e f a b c d e f a b c d e f ',)" },
    repr: { length: 2405, sha256: "8fd18ca42e52549c4bb5621da4f5eb6ad449b8fa1559d9e9c6ff001370c79157", head: "('a b c d e f a b c d e f a b c d e f a b c d e f a b c d e ", tail: " c d e f a b c d e f a b c d e f a b c d e f a b c d e f ',)" },
  },
  {
    py: "(['x' * 100] * 20,)",
    value: () => (T([Array(20).fill('x'.repeat(100))])),
    r1024: { length: 1037, sha256: "3e610efee20aeb4d8b40512a1efa3968097f76d3d5a457fb29280d679bff92f9", head: "(['xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...', ...],)" },
    rnone: { length: 2083, sha256: "f4c26d41ca8cb500efacd71fc9cb233733c4062dd7793958d997fd142a7e13a8", head: "(['xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],)" },
    repr: { length: 2083, sha256: "f4c26d41ca8cb500efacd71fc9cb233733c4062dd7793958d997fd142a7e13a8", head: "(['xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],)" },
  },
  {
    py: "{'k' * 2000: 1}",
    value: () => ({ ['k'.repeat(2000)]: 1 }),
    r1024: { length: 1035, sha256: "5e7f1287073c60689bf2a7ac71f889b0b7f3bfdf93f890d7811a98d952ef36bc", head: "{'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", tail: "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...', ...}" },
    rnone: { length: 2007, sha256: "62cfd2e28b72d98d5a555b7a81b8a507361790c46b29e3878a79f4c7777fbf38", head: "{'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", tail: "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk': 1}" },
    repr: { length: 2007, sha256: "62cfd2e28b72d98d5a555b7a81b8a507361790c46b29e3878a79f4c7777fbf38", head: "{'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", tail: "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk': 1}" },
  },
  {
    py: "{'a': 'y' * 1030}",
    value: () => ({ a: 'y'.repeat(1030) }),
    r1024: { length: 1034, sha256: "aac606555295c14f4c354838f94a5bf3de1e15dd6235c9aa6274067dc7f2da11", head: "{'a': 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", tail: "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy...', ..." },
    rnone: { length: 1039, sha256: "99da5d4d5645c1bc6fdebc253aee1734085bda2f06e3f44ef6c9eaf0915b237c", head: "{'a': 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", tail: "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy'}" },
    repr: { length: 1039, sha256: "99da5d4d5645c1bc6fdebc253aee1734085bda2f06e3f44ef6c9eaf0915b237c", head: "{'a': 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", tail: "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy'}" },
  },
  {
    py: "([1, [2, [3, [4]]]], {'k': [1, [2]]})",
    value: () => (T([[1, [2, [3, [4]]]], { k: [1, [2]] }])),
    r1024: "([1, [2, [...]]], {'k': [1, [...]]})",
    rnone: "([1, [2, [...]]], {'k': [1, [...]]})",
    repr: "([1, [2, [3, [4]]]], {'k': [1, [2]]})",
  },
  {
    py: "('x' * 1023,)",
    value: () => (T(['x'.repeat(1023)])),
    r1024: { length: 1034, sha256: "c3139d5ce3cb98c84352182911e78c3e216a721b465676b14cdafc227d8e57a1", head: "('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...', ..." },
    rnone: { length: 1028, sha256: "29e2fdf40df98be06d05e274498b45c6cead5249ad802d14084934c2a78506e4", head: "('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',)" },
    repr: { length: 1028, sha256: "29e2fdf40df98be06d05e274498b45c6cead5249ad802d14084934c2a78506e4", head: "('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',)" },
  },
  {
    py: "('x' * 1020,)",
    value: () => (T(['x'.repeat(1020)])),
    r1024: { length: 1025, sha256: "ba40ad4c0079e14c033624b2ef5783907bacbd68ea243872906d068b177c080f", head: "('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',)" },
    rnone: { length: 1025, sha256: "ba40ad4c0079e14c033624b2ef5783907bacbd68ea243872906d068b177c080f", head: "('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',)" },
    repr: { length: 1025, sha256: "ba40ad4c0079e14c033624b2ef5783907bacbd68ea243872906d068b177c080f", head: "('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',)" },
  },
  {
    py: "('\\u00e9' * 1500,)",
    value: () => (T(['\u00e9'.repeat(1500)])),
    r1024: { length: 1034, sha256: "759930cf5e0366bb74c301a7ae44a5844ae13ffe11073ea967facfa3891d14d5", head: "('\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", tail: "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9...', ..." },
    rnone: { length: 1505, sha256: "2f89f281b13419699b7642022616d2883f93be00cb7e040cc0b62708a7443f84", head: "('\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", tail: "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9',)" },
    repr: { length: 1505, sha256: "2f89f281b13419699b7642022616d2883f93be00cb7e040cc0b62708a7443f84", head: "('\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", tail: "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9',)" },
  },
  {
    py: "('\\U0001f389' * 600, 1)",
    value: () => (T(['\u{1f389}'.repeat(600), 1])),
    r1024: { length: 607, sha256: "b24d707c01dd8a3c735396bdede9dddd43ebe841bbf5e9e496d7bf2413a00045", head: "('\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89", tail: "\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89', 1)" },
    rnone: { length: 607, sha256: "b24d707c01dd8a3c735396bdede9dddd43ebe841bbf5e9e496d7bf2413a00045", head: "('\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89", tail: "\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89', 1)" },
    repr: { length: 607, sha256: "b24d707c01dd8a3c735396bdede9dddd43ebe841bbf5e9e496d7bf2413a00045", head: "('\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89", tail: "\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89\ud83c\udf89', 1)" },
  },
  {
    py: "{'a': [1, 2, 3], 'b': {'c': None, 'd': [True, 1.5]}, 'e': 'x' * 1100, 'f': [1, 2]}",
    value: () => ({ a: [1, 2, 3], b: { c: null, d: [true, 1.5] }, e: 'x'.repeat(1100), f: [1, 2] }),
    r1024: { length: 1035, sha256: "d9e03a23d1b119b13cb5c60a1db252881e6c0bdba51a6a60cf9b850bf4e2ab1a", head: "{'a': [1, 2, 3], 'b': {'c': None, 'd': [True, 1.5]}, 'e': 'x", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...', ...}" },
    rnone: { length: 1174, sha256: "7c3bde714b6d75c2c80be154c9b33fc98171c18ec08b5bcde05f71b032d95277", head: "{'a': [1, 2, 3], 'b': {'c': None, 'd': [True, 1.5]}, 'e': 'x", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'f': [1, 2]}" },
    repr: { length: 1174, sha256: "7c3bde714b6d75c2c80be154c9b33fc98171c18ec08b5bcde05f71b032d95277", head: "{'a': [1, 2, 3], 'b': {'c': None, 'd': [True, 1.5]}, 'e': 'x", tail: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'f': [1, 2]}" },
  },
  {
    py: "(b'\\xff' * 2000,)",
    value: () => (T([new Uint8Array(2000).fill(255)])),
    r1024: { length: 2058, sha256: "812b643bc8a5e48a46f46d699ff1b48f599ebbd74d3623740cddc2abc6bf74b5", head: "(b'fffffffffffffffffffffffffffffffffffffffffffffffffffffffff", tail: "fffffffffffffffffffffffffffffffffffffffffffffffffff...', ..." },
    rnone: { length: 4006, sha256: "ba4e2b4aa619d169721dc65483acf5558990ea44db579594cc1daa74edaa98ca", head: "(b'fffffffffffffffffffffffffffffffffffffffffffffffffffffffff", tail: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffff',)" },
    repr: { length: 8006, sha256: "ea21238f2f30ac509d437848911d98595ca0c8abc6d8bb09173ea0af3d01287e", head: "(b'\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\", tail: "f\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff',)" },
  },
  {
    py: "([{'a': 1}, [[2]]], {'k': {'k2': [1]}})",
    value: () => (T([[{ a: 1 }, [[2]]], { k: { k2: [1] } }])),
    r1024: "([{'a': 1}, [[...]]], {'k': {'k2': [...]}})",
    rnone: "([{'a': 1}, [[...]]], {'k': {'k2': [...]}})",
    repr: "([{'a': 1}, [[2]]], {'k': {'k2': [1]}})",
  },
  {
    py: "(1,) * 600",
    value: () => (T(Array(600).fill(1))),
    r1024: { length: 1030, sha256: "1faf929cf0b656845c8ff345180613ca191bd3ccc20ec0357114428b780e5b1c", head: "(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,", tail: "1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, , ...)" },
    rnone: { length: 1800, sha256: "89cdec90f449a44ce5fe3a72b47b64e20c1cb5c9ee4480e5c2c92188f51c263c", head: "(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,", tail: " 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)" },
    repr: { length: 1800, sha256: "89cdec90f449a44ce5fe3a72b47b64e20c1cb5c9ee4480e5c2c92188f51c263c", head: "(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,", tail: " 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)" },
  },
  {
    py: "(datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 2, 3, 4), date",
    value: () => (T([new PyDateTime('2024-01-02T03:04:05.123456+00:00'), new PyDateTime('2024-01-02T03:04:00'), new PyDateTime('2024-01-02T03:04:05'), new PyDateTime('2024-01-02T03:04:00.000001'), new PyDateTime('2024-01-02T03:04:05+05:30'), new PyDateTime('2024-01-02T03:04:05-08:00')])),
    r1024: { length: 409, sha256: "b6dd131ced1276dfe1a64a3093147ef884db7d5311ca4bc2172271c537c0e5f0", head: "(datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datet", tail: "etime.timezone(datetime.timedelta(days=-1, seconds=57600))))" },
    rnone: { length: 409, sha256: "b6dd131ced1276dfe1a64a3093147ef884db7d5311ca4bc2172271c537c0e5f0", head: "(datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datet", tail: "etime.timezone(datetime.timedelta(days=-1, seconds=57600))))" },
    repr: { length: 409, sha256: "b6dd131ced1276dfe1a64a3093147ef884db7d5311ca4bc2172271c537c0e5f0", head: "(datetime.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=datet", tail: "etime.timezone(datetime.timedelta(days=-1, seconds=57600))))" },
  },
  {
    py: "(datetime.datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=datetime.timezone.utc),)",
    value: () => (T([new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 123))])),
    r1024: "(datetime.datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=datetime.timezone.utc),)",
    rnone: "(datetime.datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=datetime.timezone.utc),)",
    repr: "(datetime.datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=datetime.timezone.utc),)",
  },
  {
    py: "(datetime.date(2024, 2, 29), datetime.time(23, 59, 58, 500), datetime.time(1, 2), decimal.Decimal('3.14'), uuid.UUID('12",
    value: () => (T([new PyDate('2024-02-29'), new PyTime('23:59:58.000500'), new PyTime('01:02'), new Decimal('3.14'), new UUID('12345678123456781234567812345678')])),
    r1024: "(datetime.date(2024, 2, 29), datetime.time(23, 59, 58, 500), datetime.time(1, 2), Decimal('3.14'), UUID('12345678-1234-5678-1234-567812345678'))",
    rnone: "(datetime.date(2024, 2, 29), datetime.time(23, 59, 58, 500), datetime.time(1, 2), Decimal('3.14'), UUID('12345678-1234-5678-1234-567812345678'))",
    repr: "(datetime.date(2024, 2, 29), datetime.time(23, 59, 58, 500), datetime.time(1, 2), Decimal('3.14'), UUID('12345678-1234-5678-1234-567812345678'))",
  },
];


for (const c of SAFEREPR_CASES) {
  test(`saferepr/repr match Python: ${c.py.slice(0, 70)}`, () => {
    check(saferepr(c.value(), 1024), c.r1024, 'saferepr(v, 1024)');
    check(saferepr(c.value()), c.rnone, 'saferepr(v)');
    check(pyRepr(c.value()), c.repr, 'repr(v)');
  });
}

test('argsrepr/kwargsrepr as as_task_v2 computes them', () => {
  assert.equal(argsrepr([2, 3]), '(2, 3)');
  assert.equal(argsrepr([1]), '(1,)');
  assert.equal(argsrepr([2, 3], 1024, false), '[2, 3]');
  assert.equal(kwargsrepr({ z: 4 }), "{'z': 4}");
  assert.equal(kwargsrepr({}), '{}');
});

test('Python float formatting', () => {
  const cases: Array<[number, string]> = [
    [1, '1'], // an integral JS number is taken for an int (documented approximation)
    [1.5, '1.5'], [0.1, '0.1'], [1e-5, '1e-05'], [1e-4, '0.0001'], [1e16, '1e+16'], [1e300, '1e+300'],
    [123456789.123, '123456789.123'], [Infinity, 'inf'], [-Infinity, '-inf'], [NaN, 'nan'], [-0, '-0.0'], [2 ** 53 * 4, '3.602879701896397e+16'],
  ];
  for (const [x, s] of cases) assert.equal(x === 1 ? saferepr(x) : pyFloatRepr(x), s, String(x));
});

test('Python str/bytes repr quoting', () => {
  assert.equal(pyStrRepr("it's"), `"it's"`);
  assert.equal(pyStrRepr(`'"`), `'\\'"'`);
  assert.equal(pyStrRepr('\u0085\u00a0\u00e9'), "'\\x85\\xa0é'");
  assert.equal(pyStrRepr('\ud800'), "'\\ud800'");
  assert.equal(pyBytesRepr(new Uint8Array([0x27, 0x22])), `b'\\'"'`);
});

test('truncate is celery.utils.text.truncate (>=, rsplit on a space)', () => {
  assert.equal(truncate('abc', 3), 'abc...');
  assert.equal(truncate('ab', 3), 'ab');
  assert.equal(truncate('hello world foo', 12), 'hello world...');
});

test('cyclic structures do not hang', () => {
  const a: unknown[] = [1];
  a.push(a);
  assert.match(saferepr(a as never, 1024), /^\[1, (\[1, \[\.\.\.\]\]|<Recursion)/);
  assert.equal(pyRepr(a as never), '[1, [...]]');
});

test('datetime reprs', () => {
  assert.equal(pyRepr(new PyDateTime('2024-01-02T03:04:05.000100+00:00')), 'datetime.datetime(2024, 1, 2, 3, 4, 5, 100, tzinfo=datetime.timezone.utc)');
  assert.equal(pyRepr(new PyDate('2024-02-29')), 'datetime.date(2024, 2, 29)');
  assert.equal(pyRepr(new PyTime('10:00:00+01:00')), 'datetime.time(10, 0, tzinfo=datetime.timezone(datetime.timedelta(seconds=3600)))');
  // Python: repr(Decimal('1e3')), ...
  assert.equal(pyRepr(new Decimal('1e3')), "Decimal('1E+3')");
  assert.equal(pyRepr(new Decimal('0.0000001')), "Decimal('1E-7')");
  assert.equal(pyRepr(new Decimal('3.140')), "Decimal('3.140')");
  assert.equal(pyRepr(new Decimal('-inf')), "Decimal('-Infinity')");
  assert.equal(pyRepr(new Decimal('00012.5')), "Decimal('12.5')");
  assert.equal(pyRepr(new UUID('12345678-1234-5678-1234-567812345678')), "UUID('12345678-1234-5678-1234-567812345678')");
});
