/**
 * kombu's Redis envelope: the JSON document stored as one list element (LPUSH) or PUBLISHed on a
 * fanout channel. Built by `kombu/transport/virtual/base.py:Channel.prepare_message` +
 * `_inplace_augment_message`, read by `virtual.Message.__init__`:
 *
 * ```json
 * {"body": "<base64>", "content-encoding": "utf-8", "content-type": "application/json",
 *  "headers": {...},
 *  "properties": {"correlation_id": "...", "reply_to": "...", "delivery_mode": 2,
 *                 "delivery_info": {"exchange": "", "routing_key": "celery"},
 *                 "priority": 0, "body_encoding": "base64", "delivery_tag": "<uuid4>"}}
 * ```
 *
 * The envelope is kombu JSON (so header/property values may be `__type__`-tagged), written with Python's
 * `json.dumps` defaults (`", "`, `": "`, `ensure_ascii`).
 *
 * Decoding never throws anything but {@link ProtocolError} with part `envelope`, whatever the input.
 */
import { v4 as uuid4 } from 'uuid';
import { ProtocolError } from '../errors.ts';
import { parseKombuJson, stringifyKombuJson } from '../serialization/index.ts';
import { ShapeText } from '../serialization/pyshape.ts';
import { pythonJsonDumps, pythonJsonStr } from '../serialization/pywrite.ts';
import type { DeliveryInfo, RawMessage } from '../types.ts';
import { isPlainObject, setOwn, type PyDict, type PyValue } from '../values.ts';

/** Properties that belong to the envelope/transport, not to the message. */
const TRANSPORT_PROPERTIES = new Set(['delivery_info', 'body_encoding', 'delivery_tag']);

export interface EncodeRedisOptions {
  /** The envelope's `delivery_tag`; a fresh uuid4 by default (kombu: one per publish). */
  deliveryTag?: string;
  /** Where the message is addressed (the envelope's `delivery_info`); `raw.deliveryInfo` by default. */
  deliveryInfo?: DeliveryInfo;
}

/** Whether an own enumerable property of `obj` is undefined. */
function hasUndefined(obj: PyDict): boolean {
  for (const k of Object.keys(obj)) if (obj[k] === undefined) return true;
  return false;
}

function bytesToBase64(body: Uint8Array): string {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64');
}

/**
 * Serialize a raw message to the JSON text kombu's Redis transport stores. The text is ASCII (Python's
 * `ensure_ascii`): one byte per character.
 */
export function encodeRedisEnvelope(raw: RawMessage, options: EncodeRedisOptions = {}): string {
  const rawDelivery = (options.deliveryInfo ?? raw.deliveryInfo) as PyDict | undefined | null;
  const deliveryTag = options.deliveryTag ?? raw.deliveryTag ?? uuid4();
  return writeEnvelope(raw, rawDelivery, deliveryTag) ?? encodeEnvelope(raw, rawDelivery, deliveryTag);
}

// ---- the usual envelope, written from remembered segments -----------------------------------------

/** Headers and properties of consecutive messages mostly repeat (see pyshape.ts). */
const HEADERS = new ShapeText();
const PROPERTIES = new ShapeText(['priority', ...TRANSPORT_PROPERTIES]);
let contentText = { encoding: '', type: '', text: '' };
let deliveryText = { exchange: '', routingKey: '', text: '{"exchange": "", "routing_key": ""}' };

/** `{"exchange": ..., "routing_key": ...}` of a delivery info with nothing else kombu writes; else null. */
function deliveryInfoText(d: PyDict | undefined | null): string | null {
  const exchange: unknown = d?.exchange ?? '';
  const routingKey: unknown = d?.routing_key ?? '';
  if (d) {
    for (const k in d) {
      const v = d[k];
      if (v !== undefined && k !== 'exchange' && k !== 'routing_key' && !(k === 'redelivered' && v !== true)) return null;
    }
  }
  const last = deliveryText;
  if (exchange === last.exchange && routingKey === last.routingKey) return last.text;
  if (typeof exchange !== 'string' || typeof routingKey !== 'string') return null;
  const text = `{"exchange": ${pythonJsonStr(exchange)}, "routing_key": ${pythonJsonStr(routingKey)}}`;
  deliveryText = { exchange, routingKey, text };
  return text;
}

/**
 * The envelope {@link encodeEnvelope} writes, for plain JSON headers and properties of a remembered shape
 * (the messages a producer sends); null for anything else.
 */
function writeEnvelope(raw: RawMessage, rawDelivery: PyDict | undefined | null, deliveryTag: string): string | null {
  const { contentEncoding, contentType } = raw;
  if (typeof contentEncoding !== 'string' || typeof contentType !== 'string') return null;
  const di = deliveryInfoText(rawDelivery);
  if (di === null) return null;
  const h = HEADERS.members(raw.headers ?? {});
  if (h === null) return null;
  const rawProperties = raw.properties as PyDict | undefined | null;
  const p = rawProperties ? PROPERTIES.members(rawProperties) : '';
  if (p === null) return null;
  const priority = rawProperties?.priority;
  const pr = priority === undefined || priority === null ? '0' : pythonJsonDumps(priority);
  if (pr === null) return null;
  let content = contentText;
  if (content.encoding !== contentEncoding || content.type !== contentType) {
    const text = `", "content-encoding": ${pythonJsonStr(contentEncoding)}, "content-type": ${pythonJsonStr(contentType)}, "headers": {`;
    content = contentText = { encoding: contentEncoding, type: contentType, text };
  }
  // base64 needs no escaping; the members come without their braces
  return `{"body": "${bytesToBase64(raw.body)}${content.text}${h}}, "properties": {${p}${p === '' ? '' : ', '}"delivery_info": ${di}, ` +
    `"priority": ${pr}, "body_encoding": "base64", "delivery_tag": ${pythonJsonStr(deliveryTag)}}}`;
}

// ---- any envelope ----------------------------------------------------------------------------------

function encodeEnvelope(raw: RawMessage, rawDelivery: PyDict | undefined | null, deliveryTag: string): string {
  let properties: PyDict = {};
  const rawProperties = raw.properties as PyDict | undefined | null;
  if (rawProperties && !hasUndefined(rawProperties)) {
    // own data properties in order (`__proto__` too) but the transport's, as the loop below
    const { priority: _p, delivery_info: _di, body_encoding: _be, delivery_tag: _dt, ...rest } = rawProperties;
    properties = rest;
  } else if (rawProperties) {
    for (const k of Object.keys(rawProperties)) {
      const v = rawProperties[k];
      if (v === undefined || k === 'priority' || TRANSPORT_PROPERTIES.has(k)) continue;
      setOwn(properties, k, v);
    }
  }
  const deliveryInfo: PyDict = { exchange: rawDelivery?.exchange ?? '', routing_key: rawDelivery?.routing_key ?? '' };
  if (rawDelivery) {
    for (const k of Object.keys(rawDelivery)) {
      const v = rawDelivery[k];
      if (v === undefined || k === 'exchange' || k === 'routing_key') continue;
      if (k === 'redelivered' && v !== true) continue; // kombu only ever writes `true` (on restore)
      setOwn(deliveryInfo, k, v);
    }
  }
  properties.delivery_info = deliveryInfo;
  const priority = raw.properties?.priority;
  properties.priority = priority === undefined || priority === null ? 0 : priority;
  properties.body_encoding = 'base64';
  properties.delivery_tag = deliveryTag;
  const body = bytesToBase64(raw.body);
  const headers = raw.headers ?? {};
  const { contentEncoding, contentType } = raw;
  if (typeof contentEncoding === 'string' && typeof contentType === 'string') {
    // plain JSON (the usual case): what stringifyKombuJson gives for the envelope object below, member by
    // member, written directly (base64 needs no escaping); null (not plain) takes the general path
    const h = pythonJsonDumps(headers);
    const p = h === null ? null : pythonJsonDumps(properties);
    if (p !== null) {
      return `{"body": "${body}", "content-encoding": ${pythonJsonStr(contentEncoding)}, "content-type": ${pythonJsonStr(contentType)}, ` +
        `"headers": ${h}, "properties": ${p}}`;
    }
  }
  const envelope: PyDict = {
    body,
    'content-encoding': contentEncoding,
    'content-type': contentType,
    headers,
    properties,
  };
  try {
    return stringifyKombuJson(envelope);
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError('envelope', `cannot encode the envelope: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

function fail(message: string, path?: string, cause?: unknown): never {
  throw new ProtocolError('envelope', message, { ...(path ? { path } : {}), ...(cause === undefined ? {} : { cause }) });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return isPlainObject(v) ? 'an object' : `a ${(v as object).constructor?.name ?? 'value'}`;
  return typeof v;
}

const B64_ALPHABET = /^[A-Za-z0-9+/]*$/;
const WHITESPACE = /[\t\n\r ]/g;

/**
 * Standard base64 (padded), tolerating whitespace. Stricter than Python's `b64decode`, which silently
 * drops characters outside the alphabet: a body with such characters is corrupt, so it is refused.
 */
function base64ToBytes(text: string): Uint8Array {
  const s = text.replace(WHITESPACE, '');
  const eq = s.indexOf('=');
  const data = eq === -1 ? s : s.slice(0, eq);
  const padding = eq === -1 ? '' : s.slice(eq);
  if (!B64_ALPHABET.test(data)) fail('body is not valid base64: it has characters outside the base64 alphabet', 'body');
  if (padding.length > 2 || /[^=]/.test(padding)) fail('body is not valid base64: "=" padding in the middle', 'body');
  if ((data.length + padding.length) % 4 !== 0 || data.length % 4 === 1) {
    fail('body is not valid base64: incorrect length or padding', 'body');
  }
  return new Uint8Array(Buffer.from(data, 'base64'));
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Parse a Redis envelope (the exact string from LRANGE/BRPOP/a PUBLISH, or its UTF-8 bytes) into a
 * {@link RawMessage}: `headers` null → `{}`; `properties` = the envelope properties minus `delivery_info`,
 * `body_encoding`, `delivery_tag`; `deliveryInfo` = `delivery_info` with `redelivered` set (true when
 * kombu restored the message: `delivery_info.redelivered` or a top-level `redelivered`, else false);
 * `deliveryTag` = `delivery_tag`. A body without `body_encoding` (or `utf-8`) is text.
 */
export function decodeRedisEnvelope(input: string | Uint8Array): RawMessage {
  try {
    return decode(input);
  } catch (err) {
    if (err instanceof ProtocolError && err.part === 'envelope') throw err;
    // anything else (e.g. a stack overflow on absurd nesting) is still a bad envelope
    throw new ProtocolError('envelope', `malformed envelope: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

function decode(input: string | Uint8Array): RawMessage {
  let text: string;
  if (typeof input === 'string') text = input;
  else if (input instanceof Uint8Array) {
    try {
      text = utf8Strict.decode(input);
    } catch (cause) {
      fail('envelope is not valid UTF-8', undefined, cause);
    }
  } else fail(`envelope must be a string, got ${describe(input)}`);

  let doc: PyValue;
  try {
    doc = parseKombuJson(text);
  } catch (cause) {
    fail(`envelope is not valid (kombu) JSON: ${(cause as Error)?.message ?? String(cause)}`, undefined, cause);
  }
  if (!isPlainObject(doc)) fail(`envelope must be a JSON object, got ${describe(doc)}`);
  const env = doc as PyDict;

  const props = env.properties;
  if (props === undefined) fail('envelope has no "properties"', 'properties');
  if (!isPlainObject(props)) fail(`"properties" must be an object, got ${describe(props)}`, 'properties');
  const p = props as PyDict;

  const contentType = env['content-type'];
  if (contentType === undefined || contentType === null) fail('envelope has no "content-type"', 'content-type');
  if (typeof contentType !== 'string') fail(`"content-type" must be a string, got ${describe(contentType)}`, 'content-type');
  const contentEncoding = env['content-encoding'];
  if (contentEncoding !== undefined && contentEncoding !== null && typeof contentEncoding !== 'string') {
    fail(`"content-encoding" must be a string, got ${describe(contentEncoding)}`, 'content-encoding');
  }

  const bodyValue = env.body;
  if (bodyValue === undefined || bodyValue === null) fail('envelope has no "body"', 'body');
  if (typeof bodyValue !== 'string') fail(`"body" must be a string, got ${describe(bodyValue)}`, 'body');
  const bodyEncoding = p.body_encoding;
  let body: Uint8Array;
  if (bodyEncoding === undefined || bodyEncoding === null || (typeof bodyEncoding === 'string' && bodyEncoding.toLowerCase() === 'utf-8')) {
    body = utf8.encode(bodyValue);
  } else if (bodyEncoding === 'base64') {
    body = base64ToBytes(bodyValue);
  } else {
    fail(`unsupported body_encoding ${typeof bodyEncoding === 'string' ? JSON.stringify(bodyEncoding) : describe(bodyEncoding)} (kombu knows "base64")`, 'properties.body_encoding');
  }

  const h = env.headers;
  let headers: PyDict = {};
  if (h !== undefined && h !== null) {
    if (!isPlainObject(h)) fail(`"headers" must be an object or null, got ${describe(h)}`, 'headers');
    headers = h as PyDict;
  }

  const tag = p.delivery_tag;
  if (tag === undefined || tag === null) fail('properties have no "delivery_tag"', 'properties.delivery_tag');
  if (typeof tag !== 'string' && typeof tag !== 'number' && typeof tag !== 'bigint') {
    fail(`"delivery_tag" must be a string, got ${describe(tag)}`, 'properties.delivery_tag');
  }

  const di = p.delivery_info;
  if (di === undefined || di === null) fail('properties have no "delivery_info"', 'properties.delivery_info');
  if (!isPlainObject(di)) fail(`"delivery_info" must be an object, got ${describe(di)}`, 'properties.delivery_info');
  const d = di as PyDict;
  const exchange = d.exchange;
  const routingKey = d.routing_key;
  if (typeof exchange !== 'string') {
    fail(exchange === undefined ? 'delivery_info has no "exchange"' : `delivery_info.exchange must be a string, got ${describe(exchange)}`, 'properties.delivery_info.exchange');
  }
  if (typeof routingKey !== 'string') {
    fail(routingKey === undefined ? 'delivery_info has no "routing_key"' : `delivery_info.routing_key must be a string, got ${describe(routingKey)}`, 'properties.delivery_info.routing_key');
  }
  const deliveryInfo: DeliveryInfo = { exchange, routing_key: routingKey };
  for (const k in d) if (k !== 'exchange' && k !== 'routing_key' && Object.hasOwn(d, k)) setOwn(deliveryInfo as PyDict, k, d[k] as PyValue);
  deliveryInfo.redelivered = d.redelivered === true || env.redelivered === true;

  const properties: PyDict = {};
  for (const k in p) if (!TRANSPORT_PROPERTIES.has(k) && Object.hasOwn(p, k)) setOwn(properties, k, p[k] as PyValue);

  return {
    body,
    contentType,
    contentEncoding: contentEncoding ?? 'utf-8',
    headers,
    properties,
    deliveryInfo,
    deliveryTag: String(tag),
  };
}
