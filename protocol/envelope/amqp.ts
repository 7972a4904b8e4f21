/**
 * The AMQP 0-9-1 mapping of a {@link RawMessage}, shaped for amqplib (`channel.publish(exchange,
 * routingKey, content, options)` and the `ConsumeMessage` it delivers) without importing it.
 *
 * Header tables follow what py-amqp writes and reads (`amqp/serialization.py`), so a header means the same
 * thing to Python whichever client sent it, and decodes to the same PyValue the Redis path gives:
 *
 * | PyValue                 | sent as (amqplib value)                    | py-amqp reads        |
 * |-------------------------|--------------------------------------------|----------------------|
 * | null                    | `null` → `V` void                          | None                 |
 * | boolean                 | `t`                                        | bool                 |
 * | string                  | `S` long string                            | str                  |
 * | int, abs ≤ 2147483647   | `{'!': 'int', value}` → `I` (like py-amqp) | int                  |
 * | other int (int64 range) | `{'!': 'int64', value}` → `l`              | int                  |
 * | non-integral number     | `{'!': 'double', value}` → `d`             | float                |
 * | Uint8Array              | Buffer → `x` byte array                    | bytes                |
 * | Date                    | `{'!': 'timestamp', value: seconds}` → `T` | naive UTC datetime   |
 * | Decimal                 | `{'!': 'decimal', ...}` → `D`              | Decimal              |
 * | list / dict             | `A` / `F`, recursively                     | list / dict          |
 *
 * Integers are never sent as amqplib's default `b`/`s` for small numbers: py-amqp reads `b` as UNSIGNED,
 * so amqplib's encoding of `-1` would reach Python as `255`. Values py-amqp cannot send either (UUID,
 * date, time, ints beyond 64 bits, dicts with a `'!'` key that amqplib would take for a type tag, keys over
 * 255 bytes) raise {@link ProtocolError} part `headers`.
 *
 * Decoding accepts what amqplib 2.x produces: numbers for every integer type (`l` as a lossy Number; a
 * bigint if a codec gives one), Buffers for `x`, `{'!': 'timestamp'}` for `T` (→ naive PyDateTime, as
 * py-amqp gives), `{'!': 'decimal'}` for `D` (→ Decimal, digits read as signed like py-amqp), null for `V`,
 * nested arrays/tables. Note: amqplib 2.3 cannot decode the `L` tag that py-amqp writes for ints beyond
 * 32 bits (its `decodeFields` throws before we see the message); RabbitMQ's `x-delivery-count` is `l`.
 */
import { ProtocolError } from '../errors.ts';
import { sciString } from '../repr.ts';
import type { DeliveryInfo, RawMessage } from '../types.ts';
import { Decimal, PyDate, PyDateTime, PyTime, UUID, isPlainObject, setOwn, type PyDict, type PyValue } from '../values.ts';

/** A value in an amqplib header table (what amqplib's `encodeTable` takes / `decodeFields` gives). */
export type AmqpFieldValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | AmqpFieldValue[]
  | { '!': string; value: unknown }
  | { [key: string]: AmqpFieldValue };

/** amqplib's publish options (the subset a Celery message uses). */
export interface AmqpPublishOptions {
  contentType: string;
  contentEncoding: string;
  headers: { [key: string]: AmqpFieldValue };
  deliveryMode?: number;
  priority?: number;
  correlationId?: string;
  replyTo?: string;
  expiration?: string;
  messageId?: string;
  timestamp?: number;
  type?: string;
  userId?: string;
  appId?: string;
}

export interface AmqpPublish {
  exchange: string;
  routingKey: string;
  content: Uint8Array;
  options: AmqpPublishOptions;
}

/** The parts of an amqplib `Message` / `GetMessage` / `ConsumeMessage` we read. */
export interface AmqpMessageLike {
  content: Uint8Array;
  fields: {
    exchange?: string;
    routingKey?: string;
    redelivered?: boolean;
    deliveryTag?: number | bigint | string;
    consumerTag?: string;
    [other: string]: unknown;
  };
  properties: {
    contentType?: string | undefined;
    contentEncoding?: string | undefined;
    headers?: { [key: string]: unknown } | null | undefined;
    deliveryMode?: number | undefined;
    priority?: number | undefined;
    correlationId?: string | undefined;
    replyTo?: string | undefined;
    expiration?: string | number | undefined;
    messageId?: string | undefined;
    timestamp?: number | undefined;
    type?: string | undefined;
    userId?: string | undefined;
    appId?: string | undefined;
    clusterId?: string | undefined;
    [other: string]: unknown;
  };
}

/** kombu property name ↔ amqplib option name (string-valued properties). */
const STRING_PROPS: ReadonlyArray<readonly [string, keyof AmqpPublishOptions & string]> = [
  ['correlation_id', 'correlationId'],
  ['reply_to', 'replyTo'],
  ['expiration', 'expiration'],
  ['message_id', 'messageId'],
  ['type', 'type'],
  ['user_id', 'userId'],
  ['app_id', 'appId'],
];

/** kombu / py-amqp property name -> amqplib property name, for all 14 basic properties. */
export const AMQP_PROPERTY_NAMES: Readonly<Record<string, string>> = Object.freeze({
  content_type: 'contentType',
  content_encoding: 'contentEncoding',
  application_headers: 'headers',
  delivery_mode: 'deliveryMode',
  priority: 'priority',
  timestamp: 'timestamp',
  cluster_id: 'clusterId',
  ...Object.fromEntries(STRING_PROPS),
});

const INT32_MAX = 2147483647;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function headerError(message: string, path: string): never {
  throw new ProtocolError('headers', message, { path });
}

/** Decimal text → AMQP decimal `{places, digits}` (digits: the int32 py-amqp packs, as uint32 bits). */
function decimalToAmqp(d: Decimal, path: string): { places: number; digits: number } {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(d.value.trim());
  if (!m) return headerError(`Decimal ${d.value} cannot be sent in an AMQP header`, path);
  const intPart = m[2] ?? '';
  const frac = m[3] ?? '';
  let exponent = Number(m[4] ?? 0) - frac.length;
  let digits = BigInt((intPart + frac).replace(/^0+(?=\d)/, '') || '0');
  if (exponent > 0) {
    digits *= 10n ** BigInt(exponent);
    exponent = 0;
  }
  const places = -exponent;
  if (m[1] === '-') digits = -digits;
  if (places > 255 || digits > 2147483647n || digits < -2147483648n) {
    return headerError(`Decimal ${d.value} does not fit an AMQP decimal (int32 digits, ≤ 255 places)`, path);
  }
  return { places, digits: Number(BigInt.asUintN(32, digits)) };
}

function toField(v: PyValue, path: string, depth: number): AmqpFieldValue {
  if (depth > 100) headerError('headers nested too deeply', path);
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
      return Math.abs(v) <= INT32_MAX ? { '!': 'int', value: v } : { '!': 'int64', value: v };
    }
    return { '!': 'double', value: v };
  }
  if (typeof v === 'bigint') {
    if (v < INT64_MIN || v > INT64_MAX) headerError(`integer ${v} does not fit in 64 bits`, path);
    return v >= -2147483647n && v <= 2147483647n ? { '!': 'int', value: Number(v) } : { '!': 'int64', value: v };
  }
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof Date) {
    const ms = v.getTime();
    if (Number.isNaN(ms) || ms < 0) headerError('a datetime header must be a valid date after 1970 (AMQP timestamp)', path);
    return { '!': 'timestamp', value: Math.floor(ms / 1000) };
  }
  if (v instanceof Decimal) return { '!': 'decimal', value: decimalToAmqp(v, path) };
  if (v instanceof UUID || v instanceof PyDate || v instanceof PyTime) {
    return headerError(`a ${v.constructor.name} cannot be sent in an AMQP header table (py-amqp cannot either); send a string`, path);
  }
  if (Array.isArray(v)) return v.map((x, i) => toField(x, `${path}[${i}]`, depth + 1));
  if (isPlainObject(v)) return toTable(v as PyDict, path, depth + 1);
  return headerError(`unsupported header value ${Object.prototype.toString.call(v)}`, path);
}

function toTable(h: PyDict, path: string, depth: number): { [key: string]: AmqpFieldValue } {
  const out: { [key: string]: AmqpFieldValue } = {};
  if (Object.hasOwn(h, '!')) headerError(`a table with a "!" key would be read by amqplib as a typed value`, `${path}.!`);
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    if (Buffer.byteLength(k, 'utf8') > 255) headerError(`header name longer than 255 bytes`, `${path}.${k.slice(0, 20)}…`);
    const f = toField(v, `${path}.${k}`, depth);
    setOwn(out, k, f);
  }
  return out;
}

/** Convert kombu-style headers to an amqplib header table (see the module table). */
export function toAmqpHeaders(headers: PyDict): { [key: string]: AmqpFieldValue } {
  return toTable(headers ?? {}, 'headers', 0);
}

/**
 * The amqplib `publish` arguments for a raw message: `content`, `options` (properties in amqplib's
 * camelCase; only properties that are set; unknown kombu properties are dropped as py-amqp drops them),
 * and the `exchange` / `routingKey` from `deliveryInfo`.
 */
export function toAmqpPublish(raw: RawMessage): AmqpPublish {
  const p = raw.properties ?? {};
  const options: AmqpPublishOptions = {
    contentType: raw.contentType,
    contentEncoding: raw.contentEncoding,
    headers: toAmqpHeaders(raw.headers ?? {}),
  };
  const dm = p.delivery_mode;
  if (dm !== undefined && dm !== null) {
    if (typeof dm !== 'number' || !Number.isInteger(dm) || dm < 0 || dm > 255) throw new ProtocolError('properties', 'delivery_mode must be an octet', { path: 'properties.delivery_mode' });
    options.deliveryMode = dm;
  }
  const pr = p.priority;
  if (pr !== undefined && pr !== null) {
    if (typeof pr !== 'number' || !Number.isInteger(pr) || pr < 0 || pr > 255) throw new ProtocolError('properties', 'priority must be an octet (0..255)', { path: 'properties.priority' });
    options.priority = pr;
  }
  for (const [kombu, amqp] of STRING_PROPS) {
    const v = p[kombu];
    if (v === undefined || v === null) continue;
    if (typeof v === 'string') (options as unknown as Record<string, unknown>)[amqp] = v;
    else if (typeof v === 'number' || typeof v === 'bigint') (options as unknown as Record<string, unknown>)[amqp] = String(v);
    else throw new ProtocolError('properties', `${kombu} must be a string`, { path: `properties.${kombu}` });
  }
  const ts = p.timestamp;
  if (ts !== undefined && ts !== null) {
    if (ts instanceof Date) options.timestamp = Math.floor(ts.getTime() / 1000);
    else if (typeof ts === 'number') options.timestamp = Math.floor(ts);
    else throw new ProtocolError('properties', 'timestamp must be seconds or a datetime', { path: 'properties.timestamp' });
  }
  return {
    exchange: raw.deliveryInfo?.exchange ?? '',
    routingKey: raw.deliveryInfo?.routing_key ?? '',
    content: raw.body,
    options,
  };
}

// ---------------------------------------------------------------------------------------------
// decode

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** py-amqp: `datetime.fromtimestamp(val, tz=timezone.utc).replace(tzinfo=None)`: a naive UTC datetime. */
function timestampToPy(seconds: number): PyDateTime {
  const d = new Date(seconds * 1000);
  if (Number.isNaN(d.getTime())) throw new ProtocolError('headers', `invalid AMQP timestamp ${seconds}`);
  return new PyDateTime(
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`,
  );
}

/** py-amqp: `Decimal(n) / Decimal(10 ** d)`, printed as Python's `str(Decimal)`. */
export function amqpDecimalToPy(places: number, digitsUint32: number): Decimal {
  const n = BigInt.asIntN(32, BigInt(digitsUint32));
  const neg = n < 0n;
  let coeff = (neg ? -n : n).toString();
  let exp = -places;
  // exact division keeps the ideal exponent 0 where possible: strip trailing zeros while exp < 0
  while (exp < 0 && coeff.length > 1 && coeff.endsWith('0')) {
    coeff = coeff.slice(0, -1);
    exp++;
  }
  if (coeff === '0') exp = 0;
  const text = sciString(coeff, exp);
  return new Decimal(neg ? `-${text}` : text);
}

/**
 * One decoded value → PyValue. Runs for every header of every delivery, so the error path is built only on
 * an error: `path` is the parent's path and `key` this value's key (a string) or index (a number).
 */
function fromField(v: unknown, path: string, key: string | number | null, depth: number): PyValue {
  if (depth > 200) throw new ProtocolError('headers', 'headers nested too deeply', { path: childPath(path, key) });
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'boolean':
    case 'string':
    case 'number':
      return v;
    case 'bigint':
      return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
    default:
      break;
  }
  if (v instanceof Uint8Array) return new Uint8Array(v); // a Buffer ('x') → a plain copy
  if (Array.isArray(v)) {
    const here = childPath(path, key);
    return v.map((x: unknown, i) => (isFlat(x) && depth < 200 ? x : fromField(x, here, i, depth + 1)));
  }
  if (v instanceof Date) return v;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Object.hasOwn(o, '!') && Object.hasOwn(o, 'value')) {
      const type = o['!'];
      const value = o.value;
      if (type === 'timestamp' && (typeof value === 'number' || typeof value === 'bigint')) return timestampToPy(Number(value));
      if (type === 'decimal' && isPlainObject(value) && typeof value.places === 'number' && typeof value.digits === 'number') {
        return amqpDecimalToPy(value.places, value.digits);
      }
      return fromField(value, path, key, depth + 1);
    }
    const here = childPath(path, key);
    const out: PyDict = {};
    for (const k of Object.keys(o)) {
      const x = o[k];
      const f = isFlat(x) && depth < 200 ? x : fromField(x, here, k, depth + 1);
      setOwn(out, k, f);
    }
    return out;
  }
  throw new ProtocolError('headers', `unsupported AMQP header value of type ${typeof v}`, { path: childPath(path, key) });
}

/** A value fromField returns as it is (checked inline: most headers are strings, numbers or booleans). */
function isFlat(x: unknown): x is string | number | boolean {
  return typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean';
}

function childPath(path: string, key: string | number | null): string {
  return key === null ? path : typeof key === 'number' ? `${path}[${key}]` : `${path}.${key}`;
}

/** Convert an amqplib-decoded header table to PyValues (null / undefined → `{}`). */
export function fromAmqpHeaders(headers: { [key: string]: unknown } | null | undefined): PyDict {
  if (headers === null || headers === undefined) return {};
  if (typeof headers !== 'object' || Array.isArray(headers)) throw new ProtocolError('headers', 'AMQP headers must be a table');
  return fromField(headers, 'headers', null, 0) as PyDict;
}

/**
 * An amqplib message → {@link RawMessage}. Properties get kombu's snake_case names and only those present
 * are set (as py-amqp does); `deliveryInfo` = `{exchange, routing_key, redelivered, consumer_tag?}`;
 * `deliveryTag` = the channel's delivery tag as a string.
 */
export function fromAmqpMessage(msg: AmqpMessageLike): RawMessage {
  if (msg === null || typeof msg !== 'object') throw new ProtocolError('envelope', 'not an AMQP message');
  const content = msg.content;
  if (!(content instanceof Uint8Array)) throw new ProtocolError('envelope', 'AMQP message content must be bytes');
  const props = msg.properties ?? {};
  const fields = msg.fields ?? {};
  const properties: PyDict = {};
  if (props.deliveryMode !== undefined && props.deliveryMode !== null) properties.delivery_mode = props.deliveryMode;
  if (props.priority !== undefined && props.priority !== null) properties.priority = props.priority;
  for (const [kombu, amqp] of STRING_PROPS) {
    const v = props[amqp];
    if (v !== undefined && v !== null) properties[kombu] = typeof v === 'string' ? v : String(v);
  }
  if (typeof props.timestamp === 'number') properties.timestamp = props.timestamp;
  if (typeof props.clusterId === 'string') properties.cluster_id = props.clusterId;
  const deliveryInfo: DeliveryInfo = {
    exchange: typeof fields.exchange === 'string' ? fields.exchange : '',
    routing_key: typeof fields.routingKey === 'string' ? fields.routingKey : '',
    redelivered: fields.redelivered === true,
  };
  if (typeof fields.consumerTag === 'string') deliveryInfo.consumer_tag = fields.consumerTag;
  const raw: RawMessage = {
    body: content instanceof Buffer ? new Uint8Array(content.buffer, content.byteOffset, content.byteLength) : content,
    contentType: typeof props.contentType === 'string' ? props.contentType : '',
    contentEncoding: typeof props.contentEncoding === 'string' ? props.contentEncoding : '',
    headers: fromAmqpHeaders(props.headers as { [key: string]: unknown } | null | undefined),
    properties,
    deliveryInfo,
  };
  if (fields.deliveryTag !== undefined && fields.deliveryTag !== null) raw.deliveryTag = String(fields.deliveryTag);
  return raw;
}
