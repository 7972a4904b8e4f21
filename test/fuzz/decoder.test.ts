/**
 * Fuzz: at least 100,000 random and mutated inputs (seeded from the real Celery fixtures) through every
 * decoder. The decoders never crash, never hang, and always answer with a ProtocolError naming the part.
 * Reproduce a failure with FUZZ_SEED=<seed printed below>; FUZZ_CASES sets the count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseKombuJson, stringifyKombuJson } from '../../protocol/serialization/index.ts';
import { decodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { AMQP_PROPERTY_NAMES, fromAmqpMessage } from '../../protocol/envelope/amqp.ts';
import { decodeTaskMessage, decodeTaskHeaders } from '../../protocol/message.ts';
import { parseResultMeta } from '../../protocol/result.ts';
import { signatureFromDict } from '../../protocol/canvas.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { isPlainObject, type PyDict, type PyValue } from '../../protocol/values.ts';
import type { RawMessage } from '../../protocol/types.ts';
import { mulberry32 } from '../helpers/random.ts';

const CASES = Number(process.env.FUZZ_CASES ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 0xce1e71ac);
const ACCEPT = ['json', 'msgpack', 'yaml'];
/** A decode that takes this long is a hang, whatever the machine (a correctness bound, not a speed test). */
const HANG_MS = 5_000;

const rand = mulberry32(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

// ---- seeds: every Redis envelope and AMQP message captured from real Celery
const manifest = parseKombuJson(readFileSync('fixtures/MANIFEST.json', 'utf8')) as PyDict;
const redisSeeds: string[] = [];
const amqpSeeds: PyDict[] = [];
for (const e of manifest.scenarios as PyDict[]) {
  const f = parseKombuJson(readFileSync(`fixtures/${String(e.folder)}/${String(e.scenario)}.json`, 'utf8')) as PyDict;
  for (const c of f.captures as PyDict[]) {
    if (typeof c.raw === 'string' && c.raw.startsWith('{"body"')) redisSeeds.push(c.raw);
    if (typeof c.body_b64 === 'string' && isPlainObject(c.expected)) amqpSeeds.push(c);
  }
}

const CONTENT_TYPES = ['application/json', 'application/x-msgpack', 'application/x-yaml', 'application/x-python-serialize',
  'application/data', 'text/plain', '', 'application/json; charset=utf-8', 'x/unknown'];
const ENCODINGS = ['utf-8', 'binary', 'ascii', 'latin-1', 'utf-16', '', 'bogus'];
const COMPRESSION = ['application/x-gzip', 'application/x-bz2', 'application/x-lzma', 'application/x-brotli', 'application/zstd',
  'zlib', 'gzip', 'nope', ''];
const TOKENS = ['{', '}', '[', ']', ',', ':', '"', '\\', 'null', 'true', '1e999', '-0', '99999999999999999999999',
  '{"__type__": "datetime", "__value__": "x"}', '{"__type__": "nope", "__value__": 1}', '\u0000', '\ud800', 'NaN'];

function randomValue(depth = 0): PyValue {
  switch (int(depth > 3 ? 6 : 9)) {
    case 0: return null;
    case 1: return rand() < 0.5;
    case 2: return int(1 << 30) - (1 << 29);
    case 3: return rand() * 1e6;
    case 4: return Math.random().toString(36).slice(2, 2 + int(10));
    case 5: return pick(['task', 'id', '', 'celery', '2026-01-01T00:00:00', 'x'.repeat(int(50))]);
    case 6: return Array.from({ length: int(4) }, () => randomValue(depth + 1));
    case 7: return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(['a', 'task', 'id', 'args', '__type__', '__value__']), randomValue(depth + 1)]));
    default: return Array.from({ length: int(3) + 1 }, () => randomValue(depth + 1));
  }
}

function mutateText(s: string): string {
  let out = s;
  for (let n = int(4) + 1; n > 0; n--) {
    const i = int(out.length + 1);
    switch (int(6)) {
      case 0: out = out.slice(0, i) + String.fromCharCode(int(0x10000)) + out.slice(i + 1); break;
      case 1: out = out.slice(0, i) + out.slice(i + int(20)); break;
      case 2: out = out.slice(0, i) + pick(TOKENS) + out.slice(i); break;
      case 3: out = out.slice(0, i); break;
      case 4: { const j = int(out.length); out = out.slice(0, i) + out.slice(j, j + int(30)) + out.slice(i); break; }
      default: out = out.slice(0, i) + String.fromCharCode(32 + int(95)) + out.slice(i + 1);
    }
  }
  return out;
}

function mutateBytes(b: Uint8Array): Uint8Array {
  const out = Buffer.from(b);
  for (let n = int(6) + 1; n > 0 && out.length; n--) out[int(out.length)] = int(256);
  return rand() < 0.3 ? out.subarray(0, int(out.length + 1)) : out;
}

/** Structure-aware: change one field of a real envelope to something wrong. */
function mutateEnvelope(text: string): string {
  const env = parseKombuJson(text) as PyDict;
  const headers = (env.headers ?? {}) as PyDict;
  const props = (env.properties ?? {}) as PyDict;
  switch (int(9)) {
    case 0: headers[pick(['task', 'id', 'timelimit', 'retries', 'eta', 'expires', 'group_index', 'stamps', 'argsrepr'])] = randomValue(); break;
    case 1: env['content-type'] = pick(CONTENT_TYPES); break;
    case 2: env['content-encoding'] = pick(ENCODINGS); break;
    case 3: headers.compression = pick(COMPRESSION); break;
    case 4: env.body = Buffer.from(mutateBytes(Buffer.from(String(env.body), 'base64'))).toString('base64'); break;
    case 5: props[pick(['delivery_info', 'delivery_tag', 'body_encoding', 'priority', 'correlation_id'])] = randomValue(); break;
    case 6: env[pick(['headers', 'properties', 'body'])] = randomValue(); break;
    case 7: { // a valid body of the wrong shape
      env.body = Buffer.from(stringifyKombuJson(randomValue())).toString('base64');
      env['content-type'] = 'application/json';
      delete headers.compression;
      break;
    }
    default: delete env[pick(['headers', 'properties', 'body', 'content-type'])];
  }
  return stringifyKombuJson(env);
}

function mutateAmqp(c: PyDict): Parameters<typeof fromAmqpMessage>[0] {
  const expected = c.expected as PyDict;
  const headers = { ...(expected.headers as PyDict) } as Record<string, unknown>;
  const properties: Record<string, unknown> = {
    contentType: expected.content_type, contentEncoding: expected.content_encoding, headers,
    ...Object.fromEntries(Object.entries(expected.properties as PyDict).map(([k, v]) => [AMQP_PROPERTY_NAMES[k] ?? k, v])),
  };
  let content: Uint8Array = Buffer.from(c.body_b64 as string, 'base64');
  switch (int(5)) {
    case 0: headers[pick(['task', 'id', 'timelimit', 'compression', 'retries'])] = rand() < 0.5 ? randomValue() : { '!': 'weird' }; break;
    case 1: properties[pick(['contentType', 'contentEncoding', 'deliveryMode', 'priority', 'headers', 'expiration'])] = rand() < 0.5 ? randomValue() : pick(CONTENT_TYPES); break;
    case 2: content = mutateBytes(content); break;
    case 3: headers.compression = pick(COMPRESSION); content = mutateBytes(content); break;
    default: properties.headers = randomValue();
  }
  return { content, fields: { exchange: '', routingKey: 'q', redelivered: rand() < 0.5, deliveryTag: int(100) }, properties };
}

function decodeAll(raw: RawMessage): void {
  decodeTaskHeaders(raw);
  decodeTaskMessage(raw, { accept: ACCEPT });
}

type Input = { kind: string; run: () => void; show: () => string };

function nextInput(): Input {
  const r = int(100);
  if (r < 35) {
    const s = mutateText(pick(redisSeeds));
    return { kind: 'redis-mutated-text', run: () => decodeAll(decodeRedisEnvelope(s)), show: () => s };
  }
  if (r < 65) {
    const s = mutateEnvelope(pick(redisSeeds));
    return { kind: 'redis-mutated-field', run: () => decodeAll(decodeRedisEnvelope(s)), show: () => s };
  }
  if (r < 80) {
    const m = mutateAmqp(pick(amqpSeeds));
    return { kind: 'amqp-mutated', run: () => decodeAll(fromAmqpMessage(m)), show: () => stringifyKombuJson({ ...m.properties, content: m.content } as never) };
  }
  if (r < 88) {
    const b = Buffer.from(Array.from({ length: int(200) }, () => int(256)));
    return { kind: 'random-bytes', run: () => decodeAll(decodeRedisEnvelope(b)), show: () => b.toString('base64') };
  }
  if (r < 94) {
    const v = randomValue();
    return { kind: 'random-result-meta', run: () => void parseResultMeta(v), show: () => stringifyKombuJson(v) };
  }
  const v = randomValue();
  return { kind: 'random-signature', run: () => void signatureFromDict(v), show: () => stringifyKombuJson(v) };
}

test(`decoders answer ${CASES} random and mutated inputs with ProtocolError only, never a crash or hang`, (t) => {
  assert.ok(redisSeeds.length > 50 && amqpSeeds.length > 40, 'seed corpus from fixtures');
  const kinds = new Map<string, { total: number; rejected: number }>();
  const parts = new Map<string, number>();
  for (let i = 0; i < CASES; i++) {
    const input = nextInput();
    const k = kinds.get(input.kind) ?? { total: 0, rejected: 0 };
    kinds.set(input.kind, k);
    k.total++;
    const started = performance.now();
    try {
      input.run();
    } catch (err) {
      if (!(err instanceof ProtocolError)) {
        assert.fail(`case ${i} (${input.kind}, seed ${SEED}) threw ${String((err as Error)?.stack ?? err)}\ninput: ${input.show().slice(0, 2000)}`);
      }
      assert.ok(err.part && err.message.length > err.part.length + 2, `case ${i}: ProtocolError without a useful message`);
      k.rejected++;
      parts.set(err.part, (parts.get(err.part) ?? 0) + 1);
    }
    const took = performance.now() - started;
    if (took > HANG_MS) assert.fail(`case ${i} (${input.kind}) took ${took.toFixed(0)} ms: a hang\ninput: ${input.show().slice(0, 2000)}`);
  }
  const summary = [...kinds].map(([kind, v]) => `${kind} ${v.total} (${v.rejected} rejected)`).join(', ');
  t.diagnostic(`celeriac-count: fuzz: ${CASES} cases, seed ${SEED}: ${summary}`);
  t.diagnostic(`fuzz rejections by part: ${[...parts].map(([p, n]) => `${p} ${n}`).join(', ')}`);
});
