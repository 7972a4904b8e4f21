/**
 * Contract: what celeriac writes is byte for byte what kombu wrote. Every Redis message and every JSON
 * text captured from real Celery 5.6.3 / kombu 5.6.2 (fixtures/) is decoded and encoded again with
 * celeriac's encoders, and the text must come out identical: the kombu envelope (separators, key
 * order, ensure_ascii), the JSON body, result records, chord members and events.
 *
 * One thing cannot round-trip and is counted, not hidden: a Python float with an integral value
 * (`1.0`) is the number 1 in JavaScript and is written back as `1`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeRedisEnvelope, encodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { parseKombuJson, stringifyKombuJson } from '../../protocol/serialization/index.ts';
import type { PyDict } from '../../protocol/values.ts';

interface Entry { folder: string; scenario: string; kind: string }
const entries = (parseKombuJson(readFileSync('fixtures/MANIFEST.json', 'utf8')) as PyDict).scenarios as unknown as Entry[];

/** Python text with a float that has an integral value (`1.0`, `-2.0e+30` is not written by repr). */
const INTEGRAL_FLOAT = /(?<![\w."])-?\d+\.0(?![\d])/;

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
          if (again !== body && INTEGRAL_FLOAT.test(body)) {
            integralFloats++;
            continue;
          }
          assert.equal(again, body, `${where}: body ${firstDifference(body, again)}`);
          bodies++;
        }
        continue;
      }
      const again = stringifyKombuJson(parseKombuJson(raw));
      if (again !== raw && INTEGRAL_FLOAT.test(raw)) {
        integralFloats++;
        continue;
      }
      assert.equal(again, raw, `${where}: ${firstDifference(raw, again)}`);
      texts++;
    }
  }
  t.diagnostic(`celeriac-count: kombu bytes: ${envelopes} envelopes, ${bodies} bodies, ${texts} records/members/events identical; ${integralFloats} with an integral float (1.0) not comparable`);
  assert.ok(envelopes >= 60, `only ${envelopes} envelopes compared`);
  assert.ok(texts >= 10, `only ${texts} texts compared`);
});
