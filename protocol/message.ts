/**
 * Task messages <-> transport-neutral {@link RawMessage}s.
 *
 * - {@link encodeTaskMessage}: serialize the body `[args, kwargs, embed]`, optionally compress it (the
 *   `compression` header gets the mime type, as kombu's `Producer._prepare` does).
 * - {@link decodeTaskHeaders}: look at headers/properties only (never the body), for routing, revocation
 *   and unknown-task checks before paying for deserialization.
 * - {@link decodeTaskMessage}: the full decode, with protocol v1 / hybrid bodies converted to v2 exactly as
 *   Celery's worker does (`celery/worker/strategy.py:proto1_to_proto2` / `hybrid_to_proto2`).
 * - {@link LazyTaskMessage}: headers now, body on first access (memoized).
 *
 * Which conversion applies follows Celery's worker (`Consumer.on_task_received` +
 * `strategy.default.task_message_handler`):
 * - headers have `task`, body is a list → protocol 2;
 * - headers have `task`, body is a dict with `args` → `hybrid_to_proto2` (body fields are defaults, headers win);
 * - no `task` header: body must be a dict with `task`; with `args` → `hybrid_to_proto2` (this is the path
 *   every real v1 message takes, since `as_task_v1` always writes `args`), else `proto1_to_proto2`.
 *
 * After conversion the headers are completed to a {@link TaskHeaders}: keys Celery reads with `.get()` and
 * that are missing get the defaults the worker uses (`retries` 0, `timelimit` [null, null], `stamps` {}, ...),
 * and a null in a non-nullable field becomes its default (`lang` → "py", `ignore_result` → false). Key
 * order of the input is kept; added keys come last.
 */
import { compress, decompress } from './compression.ts';
import { ProtocolError, type MessagePart } from './errors.ts';
import { saferepr } from './repr.ts';
import { dumps, loads } from './serialization/index.ts';
import { pythonJsonDumps } from './serialization/pywrite.ts';
import type { DeliveryInfo, Embed, RawMessage, TaskBody, TaskHeaders, TaskMessage, TaskProperties } from './types.ts';
import { PyDateTime, isPlainObject, isoformatUTC, setOwn, type PyDict, type PyValue } from './values.ts';

export interface EncodeTaskOptions {
  /** `json` (default), `msgpack` or `yaml` (or any name the serialization registry knows). */
  serializer?: string;
  /** A kombu compression alias (`zlib`, `gzip`, `bzip2`, `lzma`, `xz`, `brotli`, `zstd`) or mime type. */
  compression?: string | null;
  /** Where the message goes; default `msg.deliveryInfo`, else `{exchange: '', routing_key: 'celery'}`. */
  deliveryInfo?: DeliveryInfo;
}

export interface DecodeTaskOptions {
  /** Content types (or serializer names) accepted (`accept_content`); the serializer's default when omitted. */
  accept?: readonly string[];
}

/** What {@link decodeTaskHeaders} learns without touching the body. */
export interface TaskHeadersInfo {
  /** 2 when the headers carry `task`; 1 when they do not (a v1 message: everything is in the body). */
  protocol: 1 | 2;
  /** The validated, completed headers (v2), or null for a v1 message. */
  headers: TaskHeaders | null;
  /** Task name (`headers.task`), null for v1. */
  task: string | null;
  /** Task id (`headers.id`), null for v1. */
  id: string | null;
  properties: TaskProperties;
  deliveryInfo: DeliveryInfo;
}

const EMBED_KEYS = ['callbacks', 'errbacks', 'chain', 'chord'] as const;

/** Whether an own enumerable property of `obj` is undefined (JSON and kombu leave those out). */
function hasUndefined(obj: PyDict): boolean {
  // for-in walks the own keys in Object.keys order (without allocating them), then inherited ones
  for (const k in obj) if (obj[k] === undefined && Object.hasOwn(obj, k)) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// encode

/**
 * `dumps(value, serializer)`; JSON of plain values (the usual body) is written directly, to the same
 * text as kombu-JSON (see pywrite.ts).
 */
function serializeBody(value: PyValue, serializer: string): { body: Uint8Array; contentType: string; contentEncoding: string } {
  if (serializer === 'json' || serializer === 'application/json') {
    const text = jsonBody(value as [PyValue, PyValue, PyDict]);
    if (text !== null) {
      // as encodeKombuJson: Buffer.from pools small strings; a plain view of them. The text is ASCII
      // (ensure_ascii), so latin1 gives the same bytes as utf8 without measuring the UTF-8 length
      const b = Buffer.from(text, 'latin1');
      return { body: new Uint8Array(b.buffer, b.byteOffset, b.byteLength), contentType: 'application/json', contentEncoding: 'utf-8' };
    }
  }
  return dumps(value, serializer);
}

/** The embed of a message without callbacks, errbacks, chain or chord (the usual one). */
const NULL_EMBED = '{"callbacks": null, "errbacks": null, "chain": null, "chord": null}';

/** `pythonJsonDumps([args, kwargs, embed])`, with the usual embed written as a constant. */
function jsonBody(value: [PyValue, PyValue, PyDict]): string | null {
  const [args, kwargs, embed] = value;
  if (embed.callbacks !== null || embed.errbacks !== null || embed.chain !== null || embed.chord !== null) return pythonJsonDumps(value);
  const a = pythonJsonDumps(args, 1);
  const k = a === null ? null : pythonJsonDumps(kwargs, 1);
  return k === null ? null : `[${a}, ${k}, ${NULL_EMBED}]`;
}

/** Serialize (and optionally compress) a task message. The body is always written in protocol v2 form. */
export function encodeTaskMessage(msg: TaskMessage, options: EncodeTaskOptions = {}): RawMessage {
  const { args, kwargs, embed } = msg.body;
  // EMBED_KEYS, in that order
  const embedOut: PyDict = {
    callbacks: (embed?.callbacks ?? null) as PyValue,
    errbacks: (embed?.errbacks ?? null) as PyValue,
    chain: (embed?.chain ?? null) as PyValue,
    chord: (embed?.chord ?? null) as PyValue,
  };
  const value: PyValue = [args, kwargs, embedOut];
  const serialized = serializeBody(value, options.serializer ?? 'json');
  let body = serialized.body;
  let headers: PyDict;
  const h = msg.headers as PyDict;
  if (h.compression === undefined && !hasUndefined(h)) {
    headers = { ...h }; // own data properties in order (`__proto__` too), as the loop below
  } else {
    headers = {};
    for (const k of Object.keys(h)) {
      const v = h[k];
      // a stale `compression` header (from a decoded message) no longer describes this body
      if (v !== undefined && k !== 'compression') setOwn(headers, k, v);
    }
  }
  if (options.compression) {
    const c = compress(body, options.compression);
    body = c.body;
    headers.compression = c.compression;
  }
  const properties: PyDict = {};
  const p = msg.properties as PyDict;
  for (const k in p) {
    const v = p[k];
    if (v !== undefined && k !== 'content_type' && k !== 'content_encoding' && Object.hasOwn(p, k)) setOwn(properties, k, v);
  }
  return {
    body,
    contentType: serialized.contentType,
    contentEncoding: serialized.contentEncoding,
    headers,
    properties,
    deliveryInfo: options.deliveryInfo ?? msg.deliveryInfo ?? { exchange: '', routing_key: 'celery' },
  };
}

// ---------------------------------------------------------------------------------------------
// validation helpers

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof Date) return 'a datetime';
  if (isPlainObject(v)) return 'a dict';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'object') return `a ${(v as object).constructor?.name ?? 'object'}`;
  return `${typeof v} ${String(v)}`;
}

function isInt(v: unknown): v is number | bigint {
  return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
}

class Checker {
  constructor(
    readonly part: MessagePart,
    readonly prefix: string,
  ) {}
  fail(key: string, message: string): never {
    throw new ProtocolError(this.part, message, { path: `${this.prefix}.${key}` });
  }
  str(h: PyDict, key: string, fallback: string): string {
    const v = h[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') this.fail(key, `${key} must be a string, got ${describe(v)}`);
    return v;
  }
  strOrNull(h: PyDict, key: string): string | null {
    const v = h[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') this.fail(key, `${key} must be a string or null, got ${describe(v)}`);
    return v;
  }
  /** eta/expires: ISO string; Celery's `maybe_iso8601` also takes a datetime (kombu-JSON tagged). */
  isoOrNull(h: PyDict, key: string): string | null {
    const v = h[key];
    if (v instanceof Date) {
      if (Number.isNaN(v.getTime())) this.fail(key, `${key} is an invalid datetime`);
      return v instanceof PyDateTime ? v.isoformat : isoformatUTC(v);
    }
    return this.strOrNull(h, key);
  }
  int(h: PyDict, key: string, fallback: number): number {
    const v = h[key];
    if (v === undefined || v === null) return fallback;
    if (!isInt(v)) this.fail(key, `${key} must be an integer, got ${describe(v)}`);
    return Number(v);
  }
  intOrNull(h: PyDict, key: string): number | null {
    const v = h[key];
    if (v === undefined || v === null) return null;
    if (!isInt(v)) this.fail(key, `${key} must be an integer or null, got ${describe(v)}`);
    return Number(v);
  }
  bool(h: PyDict, key: string, fallback: boolean): boolean {
    const v = h[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') this.fail(key, `${key} must be a boolean, got ${describe(v)}`);
    return v;
  }
}

const TASK_HEADER_DEFAULTS: readonly string[] = [
  'lang', 'task', 'id', 'shadow', 'eta', 'expires', 'group', 'group_index', 'retries', 'timelimit', 'root_id',
  'parent_id', 'argsrepr', 'kwargsrepr', 'origin', 'ignore_result', 'replaced_task_nesting', 'stamped_headers', 'stamps',
];

/**
 * Validate the known task headers and complete them to a {@link TaskHeaders} (see module notes). `part`
 * and `prefix` say where errors point (`headers.timelimit[0]`, or `body.timelimit` for v1 messages).
 */
export function normalizeTaskHeaders(h: PyDict, part: MessagePart = 'headers', prefix = 'headers'): TaskHeaders {
  const c: Checker = new Checker(part, prefix);
  const task = h.task;
  if (typeof task !== 'string') c.fail('task', task === undefined || task === null ? 'task is missing' : `task must be a string, got ${describe(task)}`);
  const id = h.id;
  if (typeof id !== 'string') c.fail('id', id === undefined || id === null ? 'id is missing' : `id must be a string, got ${describe(id)}`);

  let timelimit: [number | null, number | null] = [null, null];
  const tl = h.timelimit;
  if (tl !== undefined && tl !== null) {
    if (!Array.isArray(tl) || tl.length !== 2) c.fail('timelimit', `timelimit must be a list [hard, soft], got ${describe(tl)}${Array.isArray(tl) ? ` of length ${tl.length}` : ''}`);
    timelimit = tl.map((x, i) => {
      if (x === null) return null;
      if (typeof x === 'number' && !Number.isNaN(x)) return x;
      if (typeof x === 'bigint') return Number(x);
      return c.fail(`timelimit[${i}]`, `timelimit[${i}] must be a number or null, got ${describe(x)}`);
    }) as [number | null, number | null];
  }

  let stampedHeaders: string[] | null = null;
  const sh = h.stamped_headers;
  if (sh !== undefined && sh !== null) {
    if (!Array.isArray(sh)) c.fail('stamped_headers', `stamped_headers must be a list of strings or null, got ${describe(sh)}`);
    sh.forEach((x, i) => {
      if (typeof x !== 'string') c.fail(`stamped_headers[${i}]`, `stamped_headers[${i}] must be a string, got ${describe(x)}`);
    });
    stampedHeaders = sh as string[];
  }
  let stamps: PyDict = {};
  const st = h.stamps;
  if (st !== undefined && st !== null) {
    if (!isPlainObject(st)) c.fail('stamps', `stamps must be a dict, got ${describe(st)}`);
    stamps = st as PyDict;
  }

  const known: Record<string, PyValue> = {
    lang: c.str(h, 'lang', 'py'),
    task,
    id,
    shadow: c.strOrNull(h, 'shadow'),
    eta: c.isoOrNull(h, 'eta'),
    expires: c.isoOrNull(h, 'expires'),
    group: c.strOrNull(h, 'group'),
    group_index: c.intOrNull(h, 'group_index'),
    retries: c.int(h, 'retries', 0),
    timelimit,
    root_id: c.strOrNull(h, 'root_id'),
    parent_id: c.strOrNull(h, 'parent_id'),
    argsrepr: c.strOrNull(h, 'argsrepr'),
    kwargsrepr: c.strOrNull(h, 'kwargsrepr'),
    origin: c.strOrNull(h, 'origin'),
    ignore_result: c.bool(h, 'ignore_result', false),
    replaced_task_nesting: c.int(h, 'replaced_task_nesting', 0),
    stamped_headers: stampedHeaders,
    stamps,
  };
  const out: PyDict = {};
  // for-in + hasOwn rather than Object.entries: no [key, value] array per header, on every message
  for (const k in h) {
    const v = h[k];
    if (v === undefined || !Object.hasOwn(h, k)) continue;
    setOwn(out, k, Object.hasOwn(known, k) ? (known[k] as PyValue) : v);
  }
  for (const k of TASK_HEADER_DEFAULTS) if (!Object.hasOwn(out, k)) out[k] = known[k] as PyValue;
  return out as TaskHeaders;
}

/** Validate/complete the properties of a task message. */
export function normalizeTaskProperties(raw: RawMessage, id: string | null): TaskProperties {
  const p = raw.properties ?? {};
  if (!isPlainObject(p)) throw new ProtocolError('properties', `properties must be a dict, got ${describe(p)}`);
  const c: Checker = new Checker('properties', 'properties');
  const out: PyDict = {};
  for (const k in p) {
    const v = (p as PyDict)[k];
    if (v !== undefined && Object.hasOwn(p, k)) setOwn(out, k, v);
  }
  out.correlation_id = c.str(p as PyDict, 'correlation_id', id ?? '');
  out.reply_to = c.strOrNull(p as PyDict, 'reply_to');
  out.delivery_mode = c.int(p as PyDict, 'delivery_mode', 2);
  out.priority = c.int(p as PyDict, 'priority', 0);
  out.content_type = raw.contentType;
  out.content_encoding = raw.contentEncoding;
  const exp = (p as PyDict).expiration;
  if (exp === undefined || exp === null) delete out.expiration;
  else if (typeof exp === 'number' || typeof exp === 'bigint') out.expiration = String(exp);
  else if (typeof exp !== 'string') c.fail('expiration', `expiration must be a string of milliseconds, got ${describe(exp)}`);
  return out as TaskProperties;
}

function checkRaw(raw: RawMessage): void {
  if (raw === null || typeof raw !== 'object') throw new ProtocolError('envelope', `not a message: ${describe(raw)}`);
  if (!(raw.body instanceof Uint8Array)) throw new ProtocolError('body', `raw body must be bytes, got ${describe(raw.body)}`);
  if (typeof raw.contentType !== 'string') throw new ProtocolError('content-type', `content type must be a string, got ${describe(raw.contentType)}`);
  if (typeof raw.contentEncoding !== 'string') throw new ProtocolError('content-type', `content encoding must be a string, got ${describe(raw.contentEncoding)}`);
}

function rawHeaders(raw: RawMessage): PyDict {
  const h = raw.headers ?? {};
  if (!isPlainObject(h)) throw new ProtocolError('headers', `headers must be a dict, got ${describe(h)}`);
  return h as PyDict;
}

function deliveryInfoOf(raw: RawMessage): DeliveryInfo {
  const d = raw.deliveryInfo;
  if (d === undefined || d === null) return { exchange: '', routing_key: '' };
  if (!isPlainObject(d)) throw new ProtocolError('envelope', `delivery info must be a dict, got ${describe(d)}`);
  return d;
}

// ---------------------------------------------------------------------------------------------
// decode

/**
 * Read what headers and properties say, without touching (decompressing or deserializing) the body.
 * For a v2 message the known headers are validated (ProtocolError part `headers`, with the `path`) and
 * completed. A message without a `task` header is protocol v1: `headers` is null and the body decides.
 */
export function decodeTaskHeaders(raw: RawMessage): TaskHeadersInfo {
  checkRaw(raw);
  const h = rawHeaders(raw);
  const deliveryInfo = deliveryInfoOf(raw);
  if (h.task === undefined) {
    return { protocol: 1, headers: null, task: null, id: null, properties: normalizeTaskProperties(raw, null), deliveryInfo };
  }
  const headers = normalizeTaskHeaders(h);
  return {
    protocol: 2,
    headers,
    task: headers.task,
    id: headers.id,
    properties: normalizeTaskProperties(raw, headers.id),
    deliveryInfo,
  };
}

/**
 * Decompress (per the `compression` header) and deserialize the body, refusing content types not in
 * `accept`. Returns the raw decoded value (no shape check).
 */
export function decodeBody(raw: RawMessage, options: DecodeTaskOptions = {}): PyValue {
  checkRaw(raw);
  const h = rawHeaders(raw);
  let body = raw.body;
  const compression = h.compression;
  if (compression !== undefined && compression !== null) {
    if (typeof compression !== 'string') {
      throw new ProtocolError('headers', `compression must be a string, got ${describe(compression)}`, { path: 'headers.compression' });
    }
    try {
      body = decompress(body, compression);
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      throw new ProtocolError('compression', `cannot decompress body (${compression}): ${(err as Error)?.message ?? String(err)}`, { cause: err });
    }
  }
  try {
    return loads(body, raw.contentType, raw.contentEncoding, options.accept);
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError('body', `cannot deserialize body (${raw.contentType}): ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

function checkSignatures(v: PyValue, path: string, single: boolean): void {
  if (v === null) return;
  if (single) {
    if (!isPlainObject(v)) throw new ProtocolError('body', `${path} must be a signature dict or null, got ${describe(v)}`, { path });
    return;
  }
  if (!Array.isArray(v)) throw new ProtocolError('body', `${path} must be a list of signatures or null, got ${describe(v)}`, { path });
  v.forEach((s, i) => {
    if (!isPlainObject(s)) throw new ProtocolError('body', `${path}[${i}] must be a signature dict, got ${describe(s)}`, { path: `${path}[${i}]` });
  });
}

function makeEmbed(src: PyDict | null, path: string): Embed {
  const e: PyDict = src ?? {};
  const out = { callbacks: null, errbacks: null, chain: null, chord: null } as Record<string, PyValue>;
  for (const k of EMBED_KEYS) {
    const v = e[k] ?? null;
    checkSignatures(v, `${path}.${k}`, k === 'chord');
    out[k] = v;
  }
  // keep unknown embed keys (future Celery versions) after the known ones
  for (const k in e) {
    const v = e[k];
    if (v !== undefined && Object.hasOwn(e, k) && !Object.hasOwn(out, k)) setOwn(out, k, v);
  }
  return out as unknown as Embed;
}

/** Validate a v2 body `[args, kwargs, embed]`. */
export function parseTaskBody(value: PyValue): TaskBody {
  if (!Array.isArray(value)) {
    throw new ProtocolError('body', `a protocol 2 task body must be a list [args, kwargs, embed], got ${describe(value)}`, { path: 'body' });
  }
  if (value.length !== 3) {
    throw new ProtocolError('body', `a protocol 2 task body must have 3 elements [args, kwargs, embed], got ${value.length}`, { path: 'body' });
  }
  const [args, kwargs, embed] = value as [PyValue, PyValue, PyValue];
  if (!Array.isArray(args)) throw new ProtocolError('body', `args (body[0]) must be a list, got ${describe(args)}`, { path: 'body[0]' });
  if (!isPlainObject(kwargs)) throw new ProtocolError('body', `kwargs (body[1]) must be a dict, got ${describe(kwargs)}`, { path: 'body[1]' });
  if (embed !== null && !isPlainObject(embed)) throw new ProtocolError('body', `embed (body[2]) must be a dict or null, got ${describe(embed)}`, { path: 'body[2]' });
  return { args, kwargs: kwargs as PyDict, embed: makeEmbed(embed as PyDict | null, 'body[2]') };
}

function v1ArgsKwargs(body: PyDict): { args: PyValue[]; kwargs: PyDict } {
  const args = body.args === undefined ? [] : body.args;
  const kwargs = body.kwargs === undefined ? {} : body.kwargs;
  if (!isPlainObject(kwargs)) throw new ProtocolError('body', `Task keyword arguments must be a mapping, got ${describe(kwargs)}`, { path: 'body.kwargs' });
  if (!Array.isArray(args)) throw new ProtocolError('body', `task args must be a list, got ${describe(args)}`, { path: 'body.args' });
  return { args, kwargs: kwargs as PyDict };
}

function v1Embed(body: PyDict): Embed {
  return makeEmbed({ callbacks: body.callbacks ?? null, errbacks: body.errbacks ?? null, chord: body.chord ?? null, chain: null }, 'body');
}

function v1Utc(body: PyDict): boolean {
  const u = body.utc;
  return u === undefined ? true : Boolean(u);
}

const get = (d: PyDict, k: string, dflt: PyValue = null): PyValue => (d[k] === undefined ? dflt : (d[k] as PyValue));

/** `celery.worker.strategy.hybrid_to_proto2`: body fields are defaults, the message headers override. */
export function hybridToProto2(messageHeaders: PyDict, body: PyDict): { headers: PyDict; body: TaskBody; utc: boolean } {
  const { args, kwargs } = v1ArgsKwargs(body);
  const headers: PyDict = {
    lang: get(body, 'lang'),
    task: get(body, 'task'),
    id: get(body, 'id'),
    root_id: get(body, 'root_id'),
    parent_id: get(body, 'parent_id'),
    group: get(body, 'group'),
    meth: get(body, 'meth'),
    shadow: get(body, 'shadow'),
    eta: get(body, 'eta'),
    expires: get(body, 'expires'),
    retries: get(body, 'retries', 0),
    timelimit: get(body, 'timelimit', [null, null]),
    argsrepr: get(body, 'argsrepr'),
    kwargsrepr: get(body, 'kwargsrepr'),
    origin: get(body, 'origin'),
  };
  for (const [k, v] of Object.entries(messageHeaders)) if (v !== undefined) setOwn(headers, k, v);
  return { headers, body: { args, kwargs, embed: v1Embed(body) }, utc: v1Utc(body) };
}

/** `celery.worker.strategy.proto1_to_proto2`: the v1 body itself becomes the headers. */
export function proto1ToProto2(messageHeaders: PyDict, body: PyDict): { headers: PyDict; body: TaskBody; utc: boolean } {
  const { args, kwargs } = v1ArgsKwargs(body);
  const headers: PyDict = { ...body };
  // Python: body.get('args', ()) is a tuple when missing -> saferepr gives '()'
  headers.argsrepr = body.args === undefined ? '()' : saferepr(args);
  headers.kwargsrepr = saferepr(kwargs);
  headers.headers = messageHeaders;
  if (body.taskset !== undefined) headers.group = body.taskset;
  return { headers, body: { args, kwargs, embed: v1Embed(body) }, utc: v1Utc(body) };
}

/**
 * Turn a decoded body plus the message into a v2 {@link TaskMessage} (see module notes for the cases).
 * `info`, what {@link decodeTaskHeaders} returned for `raw` when the caller already has it, saves
 * validating the headers and properties of a v2 message a second time.
 */
export function taskMessageFromBody(raw: RawMessage, decoded: PyValue, info?: TaskHeadersInfo): TaskMessage {
  const h = rawHeaders(raw);
  const deliveryInfo = info?.deliveryInfo ?? deliveryInfoOf(raw);
  const hasTask = h.task !== undefined;
  if (hasTask && !(isPlainObject(decoded) && Object.hasOwn(decoded, 'args'))) {
    const headers = info?.headers ?? normalizeTaskHeaders(h);
    return { protocol: 2, headers, properties: info?.headers ? info.properties : normalizeTaskProperties(raw, headers.id), body: parseTaskBody(decoded), deliveryInfo };
  }
  if (!isPlainObject(decoded)) {
    throw new ProtocolError('body', `message has no task header and its body is not a protocol 1 task dict (got ${describe(decoded)})`, { path: 'body' });
  }
  const b = decoded as PyDict;
  if (!hasTask && b.task === undefined) {
    throw new ProtocolError('body', 'message has no task header and its body has no "task" key: not a task message', { path: 'body.task' });
  }
  const conv = Object.hasOwn(b, 'args') ? hybridToProto2(h, b) : proto1ToProto2(h, b);
  // headers that came from the body are reported against the body
  const headers = normalizeTaskHeaders(conv.headers, hasTask ? 'headers' : 'body', hasTask ? 'headers' : 'body');
  return {
    protocol: 1,
    headers,
    properties: normalizeTaskProperties(raw, headers.id),
    body: conv.body,
    deliveryInfo,
    utc: conv.utc,
  };
}

/** Decode a whole task message (decompress, deserialize with `accept`, validate, convert v1 → v2). */
export function decodeTaskMessage(raw: RawMessage, options: DecodeTaskOptions = {}): TaskMessage {
  checkRaw(raw);
  // a v2 message's header errors are reported before anything touches the body
  const info = rawHeaders(raw).task !== undefined ? decodeTaskHeaders(raw) : undefined;
  return taskMessageFromBody(raw, decodeBody(raw, options), info);
}

/**
 * A task message whose body is decoded on first access.
 *
 * For a v2 message the constructor only validates headers and properties (like {@link decodeTaskHeaders});
 * `body` decodes, validates and memoizes (throwing {@link ProtocolError} each time it is read if it is bad).
 * A v1 message (no `task` header) has everything in the body, so it is decoded by the constructor. A hybrid
 * message (v2 headers, v1 dict body) is detected when the body is read; `headers` and `protocol` are then
 * replaced by the converted ones.
 */
export class LazyTaskMessage {
  readonly raw: RawMessage;
  readonly properties: TaskProperties;
  readonly deliveryInfo: DeliveryInfo;
  #protocol: 1 | 2;
  #headers: TaskHeaders;
  #message: TaskMessage | undefined;
  readonly #accept: readonly string[] | undefined;

  constructor(raw: RawMessage, options: DecodeTaskOptions = {}) {
    this.raw = raw;
    this.#accept = options.accept;
    const info = decodeTaskHeaders(raw);
    this.deliveryInfo = info.deliveryInfo;
    if (info.headers) {
      this.#protocol = 2;
      this.#headers = info.headers;
      this.properties = info.properties;
    } else {
      const m = taskMessageFromBody(raw, decodeBody(raw, options));
      this.#message = m;
      this.#protocol = m.protocol;
      this.#headers = m.headers;
      this.properties = m.properties;
    }
  }

  get protocol(): 1 | 2 {
    return this.#protocol;
  }
  get headers(): TaskHeaders {
    return this.#headers;
  }
  /** Task name. */
  get task(): string {
    return this.#headers.task;
  }
  get id(): string {
    return this.#headers.id;
  }
  /** True once the body has been decoded successfully. */
  get bodyDecoded(): boolean {
    return this.#message !== undefined;
  }
  get body(): TaskBody {
    return this.toTaskMessage().body;
  }
  toTaskMessage(): TaskMessage {
    if (!this.#message) {
      const m = taskMessageFromBody(this.raw, decodeBody(this.raw, this.#accept ? { accept: this.#accept } : {}));
      this.#message = m;
      this.#protocol = m.protocol;
      this.#headers = m.headers;
    }
    return this.#message;
  }
}
