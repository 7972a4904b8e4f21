/**
 * AMQP 0-9-1 `basic` content-header property block and field tables, byte-compatible with
 * py-amqp 5.4.0 (`amqp/serialization.py`: `_read_item`, `loads('F')`, `_write_item`,
 * `decode_properties_basic`, `GenericContent._serialize_properties`), the client Celery uses.
 *
 * Pure: no I/O and no broker client. amqplib 2.x's own codec rejects some of what py-amqp and
 * RabbitMQ send (`L`, `l`, `s`, `x`, ...); this module decodes everything py-amqp decodes, into the
 * same {@link PyValue}s the JSON path gives, and encodes exactly the bytes py-amqp would write.
 *
 * Field values read (py-amqp 5.4.0 `_read_item`, including its quirks):
 *
 * | tag | wire                         | value                                                        |
 * |-----|------------------------------|--------------------------------------------------------------|
 * | `S` | u32 length + bytes           | `string`; `Uint8Array` when not valid UTF-8 (py-amqp: bytes)  |
 * | `s` | int16 (RabbitMQ's "short")   | `number` (py-amqp 5.4 reads `s` as a signed 16-bit int)       |
 * | `x` | u32 length + bytes           | `Uint8Array`                                                 |
 * | `b` | uint8 (sic, py-amqp)         | `number`                                                     |
 * | `B` | int8 (sic, py-amqp)          | `number`                                                     |
 * | `U` / `u` | int16 / uint16         | `number`                                                     |
 * | `I` / `i` | int32 / uint32         | `number`                                                     |
 * | `L` / `l` | int64 (both signed)    | `number` when a safe integer, else `bigint`                  |
 * | `f` / `d` | float32 / float64      | `number`                                                     |
 * | `D` | u8 scale + int32             | {@link Decimal}, text of Python's `Decimal(n) / Decimal(10 ** scale)` |
 * | `T` | u64 seconds since the epoch  | **naive** {@link PyDateTime} (py-amqp: `fromtimestamp(v, utc).replace(tzinfo=None)`) |
 * | `F` | u32 length + table           | plain object                                                 |
 * | `A` | u32 length + values          | array                                                        |
 * | `t` | uint8                        | `boolean` (any non-zero is true)                             |
 * | `V` | nothing                      | `null`                                                       |
 *
 * Written (py-amqp `_write_item`): `string` / `Uint8Array` → `S` (bytes are written as `S`, so they
 * come back as a string when they are valid UTF-8), `boolean` → `t`, integer (safe-integer `number`
 * other than `-0`, or `bigint`) → `I` when -2147483647 <= v <= 2147483647 else `L` (so -2147483648 is
 * `L`, like py-amqp), any other `number` → `d`, {@link Decimal} → `D`, `Date` / {@link PyDateTime} →
 * `T` (whole seconds, floored), plain object → `F`, array → `A`, `null` → `V`. Object keys whose value
 * is `undefined` are skipped and `undefined` array items are written as `V` (as the JSON path does).
 * `PyDate`, `PyTime`, `UUID` and anything else are refused, as py-amqp refuses them.
 *
 * Every malformed input raises `ProtocolError('properties', ..., {path})`, never another error:
 * lengths are checked against the bytes actually present before anything is allocated, and nesting
 * deeper than {@link MAX_FIELD_DEPTH} is refused (py-amqp itself cannot write more than ~498 levels).
 * Stricter than py-amqp only on input no AMQP client writes: a value running past the length its
 * table/array declared (py-amqp reads on regardless), bytes after the property list (py-amqp ignores
 * them), and the flags continuation bit (py-amqp ignores it and misreads what follows).
 */
import { ProtocolError } from '../errors.ts';
import { Decimal, PyDateTime, isPlainObject, setOwn } from '../values.ts';
import type { PyDict, PyValue } from '../values.ts';

/** The 14 basic properties, kombu/py-amqp names. */
export interface BasicProperties {
  content_type?: string;
  content_encoding?: string;
  application_headers?: PyDict;
  delivery_mode?: number;
  priority?: number;
  correlation_id?: string;
  reply_to?: string;
  expiration?: string;
  message_id?: string;
  /**
   * Seconds since the epoch. py-amqp decodes the `timestamp` property as a plain int (it is a
   * 64-bit integer on the wire, not a field-table `T`), so decoding gives a `number` (a `bigint`
   * beyond 2^53). Encoding also takes a `Date` (whole seconds, floored).
   */
  timestamp?: number | bigint | PyDateTime | Date;
  type?: string;
  user_id?: string;
  app_id?: string;
  cluster_id?: string;
}

/** Deepest nesting of tables/arrays accepted (the application_headers table itself is level 1). */
export const MAX_FIELD_DEPTH = 500;

/** Largest `T` value Python's datetime can hold (9999-12-31T23:59:59). */
const MAX_TIMESTAMP = 253402300799n;

type PathItem = string | number;

function formatPath(items: readonly PathItem[]): string | undefined {
  let out = '';
  for (const item of items) {
    if (typeof item === 'number') out += `[${item}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(item)) out += out ? `.${item}` : item;
    else out += `[${JSON.stringify(item)}]`;
  }
  return out || undefined;
}

// ---------------------------------------------------------------------------------------------
// UTF-8 with Python's 'surrogatepass' (py-amqp's `bytes_to_str` / `str_to_bytes`)
// ---------------------------------------------------------------------------------------------

const utf8Fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();
const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Python's `bytes.decode('utf-8', 'surrogatepass')`: strict UTF-8 that also accepts encoded
 * surrogates (ED A0..BF xx). Returns undefined when Python would raise UnicodeDecodeError.
 */
function decodeUtf8(bytes: Uint8Array): string | undefined {
  const n = bytes.length;
  if (n <= 64) {
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if ((bytes[i] as number) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  try {
    return utf8Fatal.decode(bytes);
  } catch {
    return decodeUtf8SurrogatePass(bytes);
  }
}

function decodeUtf8SurrogatePass(bytes: Uint8Array): string | undefined {
  const units: number[] = [];
  const n = bytes.length;
  const cont = (i: number, lo = 0x80, hi = 0xbf): number => {
    const b = i < n ? (bytes[i] as number) : -1;
    return b >= lo && b <= hi ? b & 0x3f : -1;
  };
  let i = 0;
  while (i < n) {
    const b0 = bytes[i] as number;
    if (b0 < 0x80) {
      units.push(b0);
      i += 1;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      const c1 = cont(i + 1);
      if (c1 < 0) return undefined;
      units.push(((b0 & 0x1f) << 6) | c1);
      i += 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      const c1 = cont(i + 1, b0 === 0xe0 ? 0xa0 : 0x80, 0xbf);
      const c2 = cont(i + 2);
      if (c1 < 0 || c2 < 0) return undefined;
      units.push(((b0 & 0x0f) << 12) | (c1 << 6) | c2); // ED A0..BF: a surrogate, passed through
      i += 3;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      const c1 = cont(i + 1, b0 === 0xf0 ? 0x90 : 0x80, b0 === 0xf4 ? 0x8f : 0xbf);
      const c2 = cont(i + 2);
      const c3 = cont(i + 3);
      if (c1 < 0 || c2 < 0 || c3 < 0) return undefined;
      const cp = (((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3) - 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
      i += 4;
    } else {
      return undefined;
    }
  }
  let out = '';
  for (let k = 0; k < units.length; k += 4096) out += String.fromCharCode.apply(null, units.slice(k, k + 4096));
  return out;
}

/** Python's `str.encode('utf-8', 'surrogatepass')`: a lone surrogate becomes its 3-byte form. */
function encodeUtf8(text: string): Uint8Array {
  if (!SURROGATE.test(text)) return utf8Encoder.encode(text);
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return Uint8Array.from(out);
}

// ---------------------------------------------------------------------------------------------
// Decimal text (Python's `Decimal(n) / Decimal(10 ** scale)` and `Decimal.as_tuple()`)
// ---------------------------------------------------------------------------------------------

/** `str(Decimal(n) / Decimal(10 ** scale))` for an int32 n and a 0..255 scale (always exact). */
function decimalText(n: number, scale: number): string {
  if (n === 0) return '0';
  let digits = String(Math.abs(n));
  let exp = -scale;
  // An exact quotient takes the exponent closest to the ideal one (0): drop trailing zeros.
  while (exp < 0 && digits.length > 1 && digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    exp++;
  }
  const sign = n < 0 ? '-' : '';
  const adjusted = exp + digits.length - 1;
  if (exp <= 0 && adjusted >= -6) {
    if (exp === 0) return sign + digits;
    const point = digits.length + exp;
    return point > 0
      ? `${sign}${digits.slice(0, point)}.${digits.slice(point)}`
      : `${sign}0.${'0'.repeat(-point)}${digits}`;
  }
  const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${mantissa}E${adjusted >= 0 ? '+' : ''}${adjusted}`;
}

const DECIMAL_PARTS = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** py-amqp's `D` encoding of a Decimal: `-exponent` as u8, the signed coefficient as int32. */
function decimalWire(value: Decimal): { scale: number; coefficient: number } | string {
  const m = DECIMAL_PARTS.exec(value.value.trim());
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return `${value.value} has no AMQP decimal form (NaN/Infinity)`;
  const [, sign, int = '', frac = '', expText] = m;
  if (expText !== undefined && expText.replace(/^[+-]?0*/, '').length > 6) {
    return `decimal exponent of ${value.value} out of range`;
  }
  const exponent = (expText === undefined ? 0 : Number(expText)) - frac.length;
  const scale = -exponent;
  if (scale < 0 || scale > 255) return `decimal ${value.value} needs scale ${scale}, AMQP allows 0..255`;
  const digits = (int + frac).replace(/^0+/, '') || '0';
  if (digits.length > 10) return `decimal ${value.value} has more digits than an int32 holds`;
  const coefficient = Number(digits) * (sign === '-' ? -1 : 1);
  if (coefficient > 2147483647 || coefficient < -2147483648) {
    return `decimal ${value.value}: coefficient ${coefficient} does not fit in an int32`;
  }
  return { scale, coefficient: coefficient === 0 ? 0 : coefficient };
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

class Reader {
  readonly buf: Uint8Array;
  readonly view: DataView;
  pos = 0;
  end: number;
  /** Keys/indexes of the value being read, for error paths. */
  readonly path: PathItem[] = [];

  constructor(buf: Uint8Array) {
    if (!(buf instanceof Uint8Array)) {
      throw new ProtocolError('properties', `expected a Uint8Array, got ${describe(buf)}`);
    }
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.end = buf.length;
  }

  fail(message: string): never {
    throw new ProtocolError('properties', message, { path: formatPath(this.path) });
  }

  need(n: number, what: string): void {
    const left = this.end - this.pos;
    if (n > left) this.fail(`truncated at byte ${this.pos}: ${what} needs ${n} bytes, ${left} left`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++] as number;
  }
  i8(what: string): number {
    this.need(1, what);
    return this.view.getInt8(this.pos++);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }
  i16(what: string): number {
    this.need(2, what);
    const v = this.view.getInt16(this.pos);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }
  i32(what: string): number {
    this.need(4, what);
    const v = this.view.getInt32(this.pos);
    this.pos += 4;
    return v;
  }
  i64(what: string): number | bigint {
    this.need(8, what);
    const v = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
  }
  u64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /** A short string (u8 length), strict UTF-8 (surrogatepass) like py-amqp's `pstr_t`. */
  shortstr(what: string): string {
    const len = this.u8(`${what} length`);
    const text = decodeUtf8(this.bytes(len, what));
    if (text === undefined) this.fail(`${what} is not valid UTF-8`);
    return text;
  }

  /** A length-prefixed field table (`F` payload). */
  table(depth: number): PyDict {
    if (depth > MAX_FIELD_DEPTH) this.fail(`field tables/arrays nested deeper than ${MAX_FIELD_DEPTH}`);
    const len = this.u32('table length');
    this.need(len, 'table');
    const outerEnd = this.end;
    this.end = this.pos + len;
    const out: PyDict = {};
    while (this.pos < this.end) {
      const key = this.shortstr('table key');
      this.path.push(key);
      const value = this.value(depth);
      this.path.pop();
      setOwn(out, key, value);
    }
    this.end = outerEnd;
    return out;
  }

  /** A length-prefixed field array (`A` payload). */
  array(depth: number): PyValue[] {
    if (depth > MAX_FIELD_DEPTH) this.fail(`field tables/arrays nested deeper than ${MAX_FIELD_DEPTH}`);
    const len = this.u32('array length');
    this.need(len, 'array');
    const outerEnd = this.end;
    this.end = this.pos + len;
    const out: PyValue[] = [];
    while (this.pos < this.end) {
      this.path.push(out.length);
      out.push(this.value(depth));
      this.path.pop();
    }
    this.end = outerEnd;
    return out;
  }

  /** One tagged field value (py-amqp's `_read_item`); `depth` is the enclosing container's level. */
  value(depth: number): PyValue {
    const tagAt = this.pos;
    const tag = this.u8('field type');
    switch (tag) {
      case 0x53: {
        // 'S' long string; py-amqp returns bytes when it is not valid UTF-8
        const raw = this.bytes(this.u32('long string length'), 'long string');
        return decodeUtf8(raw) ?? raw.slice();
      }
      case 0x73: // 's' RabbitMQ signed 16-bit (py-amqp 5.4)
        return this.i16('short int');
      case 0x78: // 'x' byte array
        return this.bytes(this.u32('byte array length'), 'byte array').slice();
      case 0x62: // 'b' py-amqp reads unsigned
        return this.u8('octet');
      case 0x42: // 'B' py-amqp reads signed
        return this.i8('octet');
      case 0x55: // 'U'
        return this.i16('short int');
      case 0x75: // 'u'
        return this.u16('short uint');
      case 0x49: // 'I'
        return this.i32('long int');
      case 0x69: // 'i'
        return this.u32('long uint');
      case 0x4c: // 'L'
      case 0x6c: // 'l'
        return this.i64('long long int');
      case 0x66: {
        // 'f'
        this.need(4, 'float');
        const v = this.view.getFloat32(this.pos);
        this.pos += 4;
        return v;
      }
      case 0x64: {
        // 'd'
        this.need(8, 'double');
        const v = this.view.getFloat64(this.pos);
        this.pos += 8;
        return v;
      }
      case 0x44: {
        // 'D'
        const scale = this.u8('decimal scale');
        return new Decimal(decimalText(this.i32('decimal value'), scale));
      }
      case 0x46: // 'F'
        return this.table(depth + 1);
      case 0x41: // 'A'
        return this.array(depth + 1);
      case 0x74: // 't'
        return this.u8('boolean') !== 0;
      case 0x54: {
        // 'T' -> naive datetime (py-amqp drops the UTC tzinfo)
        const seconds = this.u64('timestamp');
        if (seconds > MAX_TIMESTAMP) this.fail(`timestamp ${seconds} is beyond Python's datetime range (year 9999)`);
        const iso = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
        return new PyDateTime(iso);
      }
      case 0x56: // 'V'
        return null;
      default: {
        const shown =
          tag >= 0x20 && tag < 0x7f ? JSON.stringify(String.fromCharCode(tag)) : `0x${tag.toString(16).padStart(2, '0')}`;
        return this.fail(`unknown field type ${shown} at byte ${tagAt}`);
      }
    }
  }

  done(): void {
    if (this.pos !== this.end) this.fail(`${this.end - this.pos} unexpected trailing bytes at byte ${this.pos}`);
  }
}

/**
 * Decode a field table as it appears on the wire: the 4-byte length followed by the entries
 * (py-amqp `loads('F', buf, 0)`). The buffer must hold exactly that table.
 */
export function decodeFieldTable(buf: Uint8Array): PyDict {
  const r: Reader = new Reader(buf);
  const table = r.table(1);
  r.done();
  return table;
}

/** Flag bit, name and wire type of each basic property, in wire order. */
const PROPERTY_LAYOUT = [
  [0x8000, 'content_type', 's'],
  [0x4000, 'content_encoding', 's'],
  [0x2000, 'application_headers', 'F'],
  [0x1000, 'delivery_mode', 'o'],
  [0x0800, 'priority', 'o'],
  [0x0400, 'correlation_id', 's'],
  [0x0200, 'reply_to', 's'],
  [0x0100, 'expiration', 's'],
  [0x0080, 'message_id', 's'],
  [0x0040, 'timestamp', 'L'],
  [0x0020, 'type', 's'],
  [0x0010, 'user_id', 's'],
  [0x0008, 'app_id', 's'],
  [0x0004, 'cluster_id', 's'],
] as const satisfies readonly (readonly [number, keyof BasicProperties, 's' | 'F' | 'o' | 'L'])[];

/**
 * Decode a basic content-header property block: the 16-bit property flags and the property list
 * (the content-header frame payload after class-id, weight and body-size), like py-amqp's
 * `decode_properties_basic`. The block must end where the property list ends.
 */
export function decodeBasicProperties(block: Uint8Array): BasicProperties {
  const r: Reader = new Reader(block);
  const flags = r.u16('property flags');
  if (flags & 0x0001) r.fail('property flags continuation bit is set (basic has only 14 properties)');
  const props: BasicProperties = {};
  for (const [bit, name, kind] of PROPERTY_LAYOUT) {
    if (!(flags & bit)) continue;
    r.path.push(name);
    switch (kind) {
      case 's':
        (props as Record<string, unknown>)[name] = r.shortstr(name);
        break;
      case 'F':
        props.application_headers = r.table(1);
        break;
      case 'o':
        (props as Record<string, unknown>)[name] = r.u8(name);
        break;
      case 'L': {
        const v = r.u64(name);
        props.timestamp = v <= 9007199254740991n ? Number(v) : v;
        break;
      }
    }
    r.path.pop();
  }
  r.done();
  return props;
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

class Writer {
  buf = new Uint8Array(1024);
  view = new DataView(this.buf.buffer);
  len = 0;
  readonly path: PathItem[] = [];

  fail(message: string): never {
    throw new ProtocolError('properties', message, { path: formatPath(this.path) });
  }

  reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.reserve(1);
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.len, v);
    this.len += 2;
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.len, v);
    this.len += 4;
  }
  i32(v: number): void {
    this.reserve(4);
    this.view.setInt32(this.len, v);
    this.len += 4;
  }
  i64(v: bigint): void {
    this.reserve(8);
    this.view.setBigInt64(this.len, v);
    this.len += 8;
  }
  u64(v: bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.len, v);
    this.len += 8;
  }
  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.len, v);
    this.len += 8;
  }
  raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  /**
   * Write `text` as UTF-8 (surrogatepass) at `at`, which must have room for `text.length * 3`
   * bytes; return the byte count. ASCII is copied directly, other text goes through `encodeInto`.
   */
  utf8At(text: string, at: number): number {
    const n = text.length;
    const buf = this.buf;
    let i = 0;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) break;
      buf[at + i] = c;
    }
    if (i === n) return n;
    if (SURROGATE.test(text)) {
      const b = encodeUtf8(text);
      buf.set(b, at);
      return b.length;
    }
    return utf8Encoder.encodeInto(text, buf.subarray(at)).written;
  }
  /** A long string (u32 length + UTF-8). */
  longstr(text: string): void {
    this.reserve(4 + text.length * 3);
    const written = this.utf8At(text, this.len + 4);
    if (written > 0xffffffff) this.fail('string longer than 4 GiB');
    this.view.setUint32(this.len, written);
    this.len += 4 + written;
  }
  longBytes(b: Uint8Array): void {
    if (b.length > 0xffffffff) this.fail('string longer than 4 GiB');
    this.u32(b.length);
    this.raw(b);
  }
  /** A short string (u8 length + UTF-8), as py-amqp writes properties (`s`) and table keys. */
  shortstr(value: unknown, what: string): void {
    if (value instanceof Uint8Array) {
      if (value.length > 255) this.fail(`${what} is ${value.length} bytes, a short string holds at most 255`);
      this.u8(value.length);
      this.raw(value);
      return;
    }
    if (typeof value !== 'string') return this.fail(`${what} must be a string, got ${describe(value)}`);
    this.reserve(1 + value.length * 3);
    const written = this.utf8At(value, this.len + 1);
    if (written > 255) this.fail(`${what} is ${written} bytes of UTF-8, a short string holds at most 255`);
    this.buf[this.len] = written;
    this.len += 1 + written;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  /** Run `body` and prefix what it wrote with its u32 length (py-amqp `_write_table` / `_write_array`). */
  sized(body: () => void): void {
    const at = this.len;
    this.u32(0);
    body();
    this.view.setUint32(at, this.len - at - 4);
  }

  table(t: Record<string, unknown>, depth: number): void {
    if (depth > MAX_FIELD_DEPTH) this.fail(`field tables/arrays nested deeper than ${MAX_FIELD_DEPTH}`);
    this.sized(() => {
      for (const key of Object.keys(t)) {
        const v = t[key];
        if (v === undefined) continue;
        this.path.push(key);
        this.shortstr(key, 'table key');
        this.item(v, depth);
        this.path.pop();
      }
    });
  }

  array(a: readonly unknown[], depth: number): void {
    if (depth > MAX_FIELD_DEPTH) this.fail(`field tables/arrays nested deeper than ${MAX_FIELD_DEPTH}`);
    this.sized(() => {
      for (let i = 0; i < a.length; i++) {
        this.path.push(i);
        this.item(a[i], depth);
        this.path.pop();
      }
    });
  }

  int(v: number | bigint): void {
    if (v > 2147483647 || v < -2147483647) {
      const b = BigInt(v);
      if (b > 9223372036854775807n || b < -9223372036854775808n) this.fail(`integer ${b} does not fit in 64 bits`);
      this.u8(0x4c); // 'L'
      this.i64(b);
    } else {
      this.u8(0x49); // 'I'
      this.i32(Number(v));
    }
  }

  /** One tagged value (py-amqp `_write_item`); `depth` is the enclosing container's level. */
  item(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'string':
        this.u8(0x53);
        this.longstr(v);
        return;
      case 'boolean':
        this.u8(0x74);
        this.u8(v ? 1 : 0);
        return;
      case 'number':
        if (Number.isSafeInteger(v) && !Object.is(v, -0)) this.int(v);
        else {
          this.u8(0x64); // 'd'
          this.f64(v);
        }
        return;
      case 'bigint':
        this.int(v);
        return;
      case 'undefined':
        this.u8(0x56);
        return;
      case 'object':
        if (v === null) {
          this.u8(0x56);
          return;
        }
        if (v instanceof Uint8Array) {
          this.u8(0x53);
          this.longBytes(v);
          return;
        }
        if (Array.isArray(v)) {
          this.u8(0x41);
          this.array(v, depth + 1);
          return;
        }
        if (isPlainObject(v)) {
          this.u8(0x46);
          this.table(v, depth + 1);
          return;
        }
        if (v instanceof Decimal) {
          const wire = decimalWire(v);
          if (typeof wire === 'string') this.fail(wire);
          this.u8(0x44);
          this.u8(wire.scale);
          this.i32(wire.coefficient);
          return;
        }
        if (v instanceof Date) {
          this.u8(0x54);
          this.u64(dateSeconds(v, (m) => this.fail(m)));
          return;
        }
        break;
      default:
        break;
    }
    this.fail(`py-amqp cannot put ${describe(v)} in a field table`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v === 'function' ? 'a function' : `a ${typeof v}`;
  return `an object of type ${(v as object).constructor?.name ?? 'Object'}`;
}

/** `calendar.timegm(dt.utctimetuple())`, which py-amqp packs as an unsigned 64-bit int. */
function dateSeconds(d: Date, fail: (message: string) => never): bigint {
  const ms = d.getTime();
  if (Number.isNaN(ms)) fail('cannot encode an invalid Date');
  const seconds = BigInt(Math.floor(ms / 1000));
  if (seconds < 0n) fail(`cannot encode ${d.toISOString()}: AMQP timestamps are unsigned (before 1970)`);
  if (seconds > MAX_TIMESTAMP) fail(`cannot encode ${d.toISOString()}: beyond Python's datetime range`);
  return seconds;
}

/** Encode a field table with its 4-byte length prefix, exactly as py-amqp's `dumps('F', [t])`. */
export function encodeFieldTable(t: PyDict): Uint8Array {
  const w: Writer = new Writer();
  if (!isPlainObject(t)) w.fail(`a field table must be a plain object, got ${describe(t)}`);
  w.table(t, 1);
  return w.done();
}

/**
 * Encode a basic property block (16-bit flags + property list) exactly as py-amqp's
 * `Message._serialize_properties()` writes it. Properties that are `undefined` or `null` are
 * absent, as in py-amqp; unknown keys are ignored.
 */
export function encodeBasicProperties(props: BasicProperties): Uint8Array {
  const w: Writer = new Writer();
  if (props === null || typeof props !== 'object') w.fail(`properties must be an object, got ${describe(props)}`);
  const values = props as Record<string, unknown>;
  let flags = 0;
  for (const [bit, name] of PROPERTY_LAYOUT) {
    const v = values[name];
    if (v !== undefined && v !== null) flags |= bit;
  }
  w.u16(flags);
  for (const [bit, name, kind] of PROPERTY_LAYOUT) {
    if (!(flags & bit)) continue;
    const v = values[name];
    w.path.push(name);
    switch (kind) {
      case 's':
        w.shortstr(v, name);
        break;
      case 'F': {
        if (!isPlainObject(v)) w.fail(`application_headers must be a plain object, got ${describe(v)}`);
        w.table(v, 1);
        break;
      }
      case 'o':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) {
          w.fail(`${name} must be an integer 0..255, got ${typeof v === 'number' ? v : describe(v)}`);
        }
        w.u8(v);
        break;
      case 'L': {
        let seconds: bigint;
        if (v instanceof Date) seconds = dateSeconds(v, (m) => w.fail(m));
        else if (typeof v === 'bigint') seconds = v;
        else if (typeof v === 'number' && Number.isSafeInteger(v)) seconds = BigInt(v);
        else return w.fail(`timestamp must be an integer number of seconds or a Date, got ${describe(v)}`);
        if (seconds < 0n || seconds > 0xffffffffffffffffn) w.fail(`timestamp ${seconds} does not fit in an unsigned 64-bit int`);
        w.u64(seconds);
        break;
      }
    }
    w.path.pop();
  }
  return w.done();
}
