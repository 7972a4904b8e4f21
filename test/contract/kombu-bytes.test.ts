/**
 * Contract: what celeriac writes is byte for byte what kombu wrote. Every Redis message and every JSON
 * text captured from real Celery 5.6.3 / kombu 5.6.2 (fixtures/) is decoded and encoded again with
 * celeriac's encoders, and the text must come out identical: the kombu envelope (separators, key
 * order, ensure_ascii), the JSON body, result records, chord members and events.
 *
 * One thing cannot round-trip: a Python float with an integral value (`1.0`) is the number 1 in
 * JavaScript and is written back as `1`. Such a text is still compared in full: with the `.0` of each
 * integral float outside strings removed from kombu's text, celeriac's must be identical. The texts
 * that needed this are counted and capped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeRedisEnvelope, encodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { parseKombuJson, stringifyKombuJson } from '../../protocol/serialization/index.ts';
import type { PyDict } from '../../protocol/values.ts';

interface Entry { folder: string; scenario: string; kind: string }
const entries = (parseKombuJson(readFileSync('fixtures/MANIFEST.json', 'utf8')) as PyDict).scenarios as unknown as Entry[];

/** At most this many captured texts may differ from kombu's by integral floats (8 in the fixtures today). */
const MAX_INTEGRAL_FLOAT_TEXTS = 12;

/**
 * kombu's JSON text with every integral float outside strings written as JavaScript writes the number
 * (`1.0` -> `1`, `-3.0` -> `-3`); strings, including their escapes, are left untouched.
 */
function integralFloatsAsJs(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const m = /^-?\d+(\.\d+)?([eE][-+]?\d+)?/.exec(text.slice(i, i + 400));
    if ((c === '-' || (c >= '0' && c <= '9')) && m) {
      const token = m[0];
      out += m[1] === '.0' && m[2] === undefined ? token.slice(0, -2) : token;
      i += token.length;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

test('integralFloatsAsJs drops the .0 of integral floats only, never inside strings', () => {
  assert.equal(integralFloatsAsJs('[1.0, -2.0, 2.5, 10.05, 1e+30, 3.0e+5, "1.0", "a\\"1.0", 7]'), '[1, -2, 2.5, 10.05, 1e+30, 3.0e+5, "1.0", "a\\"1.0", 7]');
});

/** Every string field named `raw` anywhere in a capture (Redis values, PUBLISHed texts, zset members). */
function raws(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) raws(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'raw' && typeof v === 'string') out.push(v);
      else raws(v, out);
    }
  }
  return out;
}

function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `at ${i}:\n  kombu:    ${JSON.stringify(a.slice(Math.max(0, i - 40), i + 40))}\n  celeriac: ${JSON.stringify(b.slice(Math.max(0, i - 40), i + 40))}`;
}

test('kombu bytes: every captured Redis envelope and JSON text re-encodes to the identical text', (t) => {
  let envelopes = 0;
  let bodies = 0;
  let texts = 0;
  let integralFloats = 0;
  for (const entry of entries) {
    const doc = parseKombuJson(readFileSync(`fixtures/${entry.folder}/${entry.scenario}.json`, 'utf8')) as PyDict;
    for (const raw of raws(doc.captures)) {
      if (!raw.startsWith('{') && !raw.startsWith('[')) continue;
      const where = `${entry.folder}/${entry.scenario}`;
      if (raw.startsWith('{"body": ')) {
        const msg = decodeRedisEnvelope(raw);
        assert.equal(encodeRedisEnvelope(msg), raw, `${where}: envelope ${firstDifference(raw, encodeRedisEnvelope(msg))}`);
        envelopes++;
        if (msg.contentType === 'application/json' && !msg.headers?.compression) {
          const body = Buffer.from(msg.body).toString('utf8');
          const again = stringifyKombuJson(parseKombuJson(body));
          const expected = again === body ? body : integralFloatsAsJs(body);
          if (expected !== body) integralFloats++;
          assert.equal(again, expected, `${where}: body ${firstDifference(expected, again)}`);
          bodies++;
        }
        continue;
      }
      const again = stringifyKombuJson(parseKombuJson(raw));
      const expected = again === raw ? raw : integralFloatsAsJs(raw);
      if (expected !== raw) integralFloats++;
      assert.equal(again, expected, `${where}: ${firstDifference(expected, again)}`);
      texts++;
    }
  }
  t.diagnostic(`celeriac-count: kombu bytes: ${envelopes} envelopes, ${bodies} bodies, ${texts} records/members/events identical (${integralFloats} of them once kombu's integral floats 1.0 are written as 1)`);
  assert.ok(integralFloats <= MAX_INTEGRAL_FLOAT_TEXTS, `${integralFloats} texts differ by integral floats (cap ${MAX_INTEGRAL_FLOAT_TEXTS})`);
  assert.ok(envelopes >= 60, `only ${envelopes} envelopes compared`);
  assert.ok(texts >= 10, `only ${texts} texts compared`);
});
