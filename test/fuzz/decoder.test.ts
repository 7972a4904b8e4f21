/**
 * Fuzz: at least 100,000 random and mutated inputs (seeded from the real Celery fixtures) through every
 * decoder. The decoders never crash and always answer with a ProtocolError naming the part; what they
 * accept survives a re-encode (decode(encode(decoded)) is the same value), and valid inputs are among
 * the cases so that the success paths run too (each kind must accept some and reject some).
 * Every random choice comes from one seeded PRNG: FUZZ_SEED=<seed printed in a failure> replays the
 * same cases. FUZZ_CASES can raise the count, never lower it below 100,000.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseKombuJson, stringifyKombuJson } from '../../protocol/serialization/index.ts';
import { decodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { AMQP_PROPERTY_NAMES, fromAmqpMessage } from '../../protocol/envelope/amqp.ts';
import { decodeTaskMessage, decodeTaskHeaders, encodeTaskMessage } from '../../protocol/message.ts';
import { encodeRedisEnvelope } from '../../protocol/envelope/redis.ts';
import { parseResultMeta } from '../../protocol/result.ts';
import { signatureFromDict } from '../../protocol/canvas.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { isPlainObject, type PyDict, type PyValue } from '../../protocol/values.ts';
import type { RawMessage } from '../../protocol/types.ts';
import { mulberry32 } from '../helpers/random.ts';

const MIN_CASES = 100_000;
const CASES = Math.max(MIN_CASES, Number(process.env.FUZZ_CASES ?? MIN_CASES) || MIN_CASES);
const SEED = Number(process.env.FUZZ_SEED ?? 0xce1e71ac) >>> 0;
const ACCEPT = ['json', 'msgpack', 'yaml'];
const SERIALIZER_OF: Record<string, string> = { 'application/json': 'json', 'application/x-msgpack': 'msgpack', 'application/x-yaml': 'yaml' };

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

// ---- valid result metas: every task meta Celery stored in the fixtures
const metaSeeds: PyDict[] = [];
for (const e of manifest.scenarios as PyDict[]) {
  if (e.folder !== 'backend') continue;
  const f = parseKombuJson(readFileSync(`fixtures/${String(e.folder)}/${String(e.scenario)}.json`, 'utf8')) as PyDict;
  for (const c of f.captures as PyDict[]) {
    if ((c.type === 'string' || c.type === 'publish') && isPlainObject(c.expected) && 'status' in (c.expected as PyDict)) metaSeeds.push(c.expected as PyDict);
  }
}
const STATES = ['PENDING', 'RECEIVED', 'STARTED', 'SUCCESS', 'FAILURE', 'REVOKED', 'REJECTED', 'RETRY', 'IGNORED', 'PROGRESS'];
const EXCEPTION_STATES = new Set(['FAILURE', 'RETRY', 'REVOKED']);

/** A result meta as a backend stores it: from the fixtures or built, valid, then maybe one field made wrong. */
function resultMetaInput(): PyValue {
  let meta: PyDict;
  if (rand() < 0.5) {
    meta = { ...pick(metaSeeds) };
  } else {
    const status = pick(STATES);
    meta = {
      status,
      result: EXCEPTION_STATES.has(status)
        ? { exc_type: pick(['ValueError', 'CustomError', 'TaskRevokedError']), exc_message: [randomValue()], exc_module: pick(['builtins', 'tasks', 'celery.exceptions']) }
        : randomValue(),
      traceback: rand() < 0.5 ? null : 'Traceback (most recent call last):\n',
      children: rand() < 0.5 ? [] : null,
      date_done: rand() < 0.5 ? null : '2026-01-02T03:04:05.678901+00:00',
      task_id: rand().toString(36).slice(2),
    };
    if (rand() < 0.3) meta.group_id = 'g-' + rand().toString(36).slice(2);
    if (rand() < 0.3) meta.parent_id = 'p-' + rand().toString(36).slice(2);
  }
  if (rand() < 0.5) {
    const key = pick(['status', 'result', 'traceback', 'children', 'date_done', 'task_id', 'group_id', 'parent_id']);
    if (rand() < 0.3) delete meta[key];
    else meta[key] = randomValue();
  }
  return rand() < 0.05 ? randomValue() : meta;
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
    case 4: return rand().toString(36).slice(2, 2 + int(10));
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

/** Decode, and when accepted check that a re-encode gives back the same message. Returns whether accepted. */
function decodeAll(raw: RawMessage): void {
  const headers = decodeTaskHeaders(raw);
  const msg = decodeTaskMessage(raw, { accept: ACCEPT });
  // (a protocol v1 message has its task in the body: the header-only decode cannot see it)
  if (msg.protocol === 2) assert.equal(headers.headers?.task, msg.headers.task, 'header-only decode and full decode agree on the task');
  const serializer = SERIALIZER_OF[raw.contentType];
  if (serializer === undefined) return;
  const again = decodeTaskMessage(encodeTaskMessage(msg, { serializer, deliveryInfo: raw.deliveryInfo }), { accept: ACCEPT });
  // the embed's four keys travel (EMBED_KEYS); others are ignored by Celery and not written back
  const known = (b: typeof msg.body) => ({
    args: b.args, kwargs: b.kwargs,
    embed: { callbacks: b.embed?.callbacks ?? null, errbacks: b.embed?.errbacks ?? null, chain: b.embed?.chain ?? null, chord: b.embed?.chord ?? null },
  });
  assert.deepEqual(known(again.body), known(msg.body), 're-encoded body');
  assert.deepEqual({ ...again.headers, compression: undefined }, { ...msg.headers, compression: undefined }, 're-encoded headers');
}

/** A Redis envelope: accepted ones re-encode to an envelope that decodes to the same raw message. */
function decodeEnvelope(s: string | Uint8Array): void {
  const raw = decodeRedisEnvelope(s);
  // a null or missing priority is written as 0, as kombu's _get_message_priority does when it publishes
  const expected = raw.properties.priority == null ? { ...raw, properties: { ...raw.properties, priority: 0 } } : raw;
  assert.deepEqual(decodeRedisEnvelope(encodeRedisEnvelope(raw, { deliveryTag: raw.deliveryTag })), expected, 're-encoded envelope');
  decodeAll(raw);
}

/** A result meta: accepted ones keep status/task_id/result, and parse the same after a kombu JSON round trip. */
function decodeResultMeta(v: PyValue): void {
  const meta = parseResultMeta(v);
  const d = v as PyDict;
  assert.equal(meta.status, d.status);
  assert.equal(meta.task_id, d.task_id);
  assert.deepEqual(meta.result, d.result ?? null);
  assert.deepEqual(parseResultMeta(parseKombuJson(stringifyKombuJson(meta as unknown as PyDict))), meta, 're-encoded meta');
}

/** A signature dict as canvas sends it, valid, then maybe one field made wrong; or anything at all. */
function signatureInput(): PyValue {
  if (rand() < 0.3) return randomValue();
  const sig: PyDict = {
    task: pick(['tsrec.add', 'celery.chord_unlock', 'x']), args: Array.from({ length: int(3) }, () => randomValue(2)),
    kwargs: rand() < 0.5 ? {} : { k: randomValue(2) }, options: rand() < 0.5 ? {} : { queue: 'q', task_id: 'id-1' },
    subtask_type: pick([null, null, null, 'chain']), immutable: rand() < 0.5,
  };
  if (rand() < 0.5) {
    const key = pick(['task', 'args', 'kwargs', 'options', 'subtask_type', 'immutable']);
    if (rand() < 0.3) delete sig[key];
    else sig[key] = randomValue();
  }
  return sig;
}

/** Accepted signatures keep their task and parse the same after a kombu JSON round trip. */
function decodeSignature(v: PyValue): void {
  const sig = signatureFromDict(v);
  assert.equal(sig.task, (v as PyDict).task);
  assert.deepEqual(signatureFromDict(parseKombuJson(stringifyKombuJson(sig as unknown as PyDict))), sig, 're-encoded signature');
}

type Input = { kind: string; run: () => void; show: () => string };

function nextInput(): Input {
  const r = int(100);
  if (r < 35) {
    const s = mutateText(pick(redisSeeds));
    return { kind: 'redis-mutated-text', run: () => decodeEnvelope(s), show: () => s };
  }
  if (r < 65) {
    const s = mutateEnvelope(pick(redisSeeds));
    return { kind: 'redis-mutated-field', run: () => decodeEnvelope(s), show: () => s };
  }
  if (r < 80) {
    const m = mutateAmqp(pick(amqpSeeds));
    return { kind: 'amqp-mutated', run: () => decodeAll(fromAmqpMessage(m)), show: () => stringifyKombuJson({ ...m.properties, content: m.content } as never) };
  }
  if (r < 88) {
    const b = Buffer.from(Array.from({ length: int(200) }, () => int(256)));
    return { kind: 'random-bytes', run: () => decodeEnvelope(b), show: () => b.toString('base64') };
  }
  if (r < 94) {
    const v = resultMetaInput();
    return { kind: 'result-meta', run: () => decodeResultMeta(v), show: () => stringifyKombuJson(v) };
  }
  const v = signatureInput();
  return { kind: 'signature', run: () => decodeSignature(v), show: () => stringifyKombuJson(v) };
}

test(`decoders answer ${CASES} random and mutated inputs with ProtocolError only, and what they accept re-encodes`, (t) => {
  assert.ok(redisSeeds.length > 50 && amqpSeeds.length > 40 && metaSeeds.length > 20, 'seed corpus from fixtures');
  const kinds = new Map<string, { total: number; rejected: number }>();
  const parts = new Map<string, number>();
  let slowest = { ms: 0, kind: '', i: -1 };
  const started = performance.now();
  for (let i = 0; i < CASES; i++) {
    const input = nextInput();
    const k = kinds.get(input.kind) ?? { total: 0, rejected: 0 };
    kinds.set(input.kind, k);
    k.total++;
    const t0 = performance.now();
    try {
      input.run();
    } catch (err) {
      if (!(err instanceof ProtocolError)) {
        assert.fail(`case ${i} (${input.kind}), FUZZ_SEED=${SEED}: ${String((err as Error)?.stack ?? err)}\ninput: ${input.show().slice(0, 2000)}`);
      }
      assert.ok(err.part && err.message.length > err.part.length + 2, `case ${i} (FUZZ_SEED=${SEED}): ProtocolError without a useful message`);
      k.rejected++;
      parts.set(err.part, (parts.get(err.part) ?? 0) + 1);
    }
    const took = performance.now() - t0;
    if (took > slowest.ms) slowest = { ms: took, kind: input.kind, i };
  }
  const summary = [...kinds].map(([kind, v]) => `${kind} ${v.total} (${v.rejected} rejected)`).join(', ');
  t.diagnostic(`celeriac-count: fuzz: ${CASES} cases, FUZZ_SEED=${SEED}: ${summary}; ${((performance.now() - started) / 1000).toFixed(1)} s, slowest case ${slowest.i} (${slowest.kind}) ${slowest.ms.toFixed(0)} ms`);
  t.diagnostic(`fuzz rejections by part: ${[...parts].map(([p, n]) => `${p} ${n}`).join(', ')}`);
  // both paths of every decoder ran: some inputs accepted (and re-encoded), some refused
  for (const [kind, v] of kinds) {
    assert.ok(v.rejected > 0, `${kind}: no input was rejected`);
    if (kind !== 'random-bytes') assert.ok(v.rejected < v.total, `${kind}: every input was rejected, the success path never ran`);
  }
});

test('the fuzz cases are a function of FUZZ_SEED alone', () => {
  const a = mulberry32(SEED);
  const b = mulberry32(SEED);
  for (let i = 0; i < 1000; i++) assert.equal(a(), b());
  assert.ok(!/Math\.random/.test(readFileSync(new URL(import.meta.url), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '').replace(/'[^']*Math\\?\.random[^']*'/g, '')), 'no unseeded randomness in the fuzz');
});
