/**
 * kombu's JSON (`kombu/utils/json.py`): standard JSON plus the `{"__type__": T, "__value__": V}`
 * tagging for datetime, date, time, Decimal, UUID and bytes, and Python's unbounded integers
 * (kept exact as `bigint` when outside the safe range) and `NaN` / `Infinity` literals.
 */
import { pythonJsonText } from './pyjson.ts';
import { pythonJsonDumps } from './pywrite.ts';
import { DecodeError, EncodeError, ProtocolError } from '../errors.ts';
import { Decimal, PyDate, PyDateTime, PyTime, UUID, isPlainObject, isoformatUTC, setOwn } from '../values.ts';
import type { PyValue } from '../values.ts';

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** Maximum nesting accepted by the slow-path parser (Python's own limit is about 1000). */
const MAX_DEPTH = 2000;

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function fail(message: string, cause?: unknown): never {
  throw new DecodeError('body', message, cause === undefined ? undefined : { cause });
}

/** Python's lenient `base64.b64decode` (non-alphabet characters discarded, padding required). */
export function b64decodePython(text: string): Uint8Array {
  const cleaned = text.replace(/[^A-Za-z0-9+/=]/g, '');
  const eq = cleaned.indexOf('=');
  const data = eq === -1 ? cleaned : cleaned.slice(0, eq);
  const pad = eq === -1 ? 0 : cleaned.length - eq;
  const r = data.length % 4;
  if (r === 1) fail('invalid base64: number of data characters cannot be 1 more than a multiple of 4');
  if ((r === 2 && pad < 2) || (r === 3 && pad < 1)) fail('invalid base64: incorrect padding');
  return new Uint8Array(Buffer.from(data, 'base64'));
}

function decodeDateTime(value: string): PyDateTime {
  // Python 3.11's datetime.fromisoformat also takes a bare date (midnight).
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return new PyDateTime(`${value}T00:00:00`);
  return new PyDateTime(value);
}

function decodeTagged(type: unknown, value: unknown): PyValue {
  try {
    switch (type) {
      case 'datetime':
        if (typeof value !== 'string') break;
        return decodeDateTime(value);
      case 'date': {
        if (typeof value !== 'string') break;
        if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return new PyDate(value);
        return new PyDate(decodeDateTime(value).isoformat.slice(0, 10));
      }
      case 'time':
        if (typeof value !== 'string') break;
        return new PyTime(value);
      case 'decimal':
        if (typeof value === 'string') return new Decimal(value.trim().replace(/_/g, ''));
        if (typeof value === 'number' || typeof value === 'bigint') return new Decimal(value);
        break;
      case 'uuid': {
        if (!isPlainObject(value)) break;
        const keys = Object.keys(value);
        if (keys.length !== 1) break;
        if (typeof value.hex === 'string') return new UUID(value.hex);
        if (typeof value.int === 'number' || typeof value.int === 'bigint') {
          const n = BigInt(value.int);
          if (n < 0n || n >= 1n << 128n) break;
          return new UUID(n.toString(16).padStart(32, '0'));
        }
        break;
      }
      case 'bytes':
        if (typeof value !== 'string') break;
        if (LONE_SURROGATE.test(value)) fail('"bytes" value contains a lone surrogate, not encodable as UTF-8');
        return utf8Encoder.encode(value);
      case 'base64':
        if (typeof value !== 'string') break;
        return b64decodePython(value);
      default:
        fail(`unsupported __type__ ${typeof type === 'string' ? JSON.stringify(type) : String(type)} in kombu JSON`);
    }
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    fail(`invalid ${String(type)} value ${safeRepr(value)}: ${(err as Error).message}`, err);
  }
  return fail(`invalid __value__ for __type__ ${JSON.stringify(type)}: ${safeRepr(value)}`);
}

function safeRepr(value: unknown): string {
  try {
    const s = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    return s === undefined ? String(value) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(value);
  }
}

function isTagged(o: Record<string, unknown>): boolean {
  let n = 0;
  for (const k in o) {
    if (k !== '__type__' && k !== '__value__') return false;
    n++;
  }
  return n === 2 && Object.hasOwn(o, '__type__') && Object.hasOwn(o, '__value__');
}

/** {@link finish}: the tree holds what only the slow parser reads right. */
const SLOW: unique symbol = Symbol('slow');
/** Deeper than this, {@link finish} leaves the tree to the slow parser, which refuses it as Python would. */
const FINISH_DEPTH = MAX_DEPTH;

/**
 * Completes a tree produced by JSON.parse, in place: kombu's object hook applied bottom-up to tagged
 * dicts; {@link SLOW} if it holds an integer JSON.parse could not keep exactly (beyond 2^53: only the
 * slow parser keeps it, as a bigint) or is nested deeper than {@link FINISH_DEPTH}. One walk over the
 * values instead of scanning the text for long digit runs.
 */
function finish(value: unknown, depth: number): unknown {
  if (typeof value === 'number') return Number.isInteger(value) && !Number.isSafeInteger(value) ? SLOW : value;
  if (value === null || typeof value !== 'object') return value;
  if (depth > FINISH_DEPTH) return SLOW;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (v === null || (typeof v !== 'object' && typeof v !== 'number')) continue;
      const x = finish(v, depth + 1);
      if (x === SLOW) return SLOW;
      if (x !== v) value[i] = x;
    }
    return value;
  }
  const o = value as Record<string, unknown>;
  for (const k in o) {
    const v = o[k];
    if (v === null || (typeof v !== 'object' && typeof v !== 'number')) continue;
    const x = finish(v, depth + 1);
    if (x === SLOW) return SLOW;
    if (x !== v) setOwn(o, k, x);
  }
  return isTagged(o) ? decodeTagged(o.__type__, o.__value__) : o;
}

/** A small strict JSON parser (Python's `json.loads` grammar) keeping big integers as bigint. */
class Parser {
  pos = 0;
  depth = 0;
  constructor(readonly text: string) {}

  error(message: string): never {
    const { text, pos } = this;
    let line = 1;
    let col = 1;
    for (let i = 0; i < pos && i < text.length; i++) {
      if (text.charCodeAt(i) === 10) {
        line++;
        col = 1;
      } else col++;
    }
    fail(`invalid JSON: ${message}: line ${line} column ${col} (char ${pos})`);
  }

  ws(): void {
    const t = this.text;
    let p = this.pos;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 32 || c === 9 || c === 10 || c === 13) p++;
      else break;
    }
    this.pos = p;
  }

  parseDocument(): PyValue {
    this.ws();
    const v = this.value();
    this.ws();
    if (this.pos !== this.text.length) this.error('Extra data');
    return v;
  }

  value(): PyValue {
    const t = this.text;
    const c = t.charCodeAt(this.pos);
    switch (c) {
      case 123 /* { */:
        return this.object();
      case 91 /* [ */:
        return this.array();
      case 34 /* " */:
        return this.string();
      case 116 /* t */:
        return this.literal('true', true);
      case 102 /* f */:
        return this.literal('false', false);
      case 110 /* n */:
        return this.literal('null', null);
      case 78 /* N */:
        return this.literal('NaN', Number.NaN);
      case 73 /* I */:
        return this.literal('Infinity', Number.POSITIVE_INFINITY);
      default:
        if (c === 45 /* - */ || (c >= 48 && c <= 57)) return this.number();
        return this.error('Expecting value');
    }
  }

  literal<T extends PyValue>(word: string, v: T): T {
    if (this.text.startsWith(word, this.pos)) {
      this.pos += word.length;
      return v;
    }
    return this.error('Expecting value');
  }

  number(): number | bigint {
    const t = this.text;
    const start = this.pos;
    let p = start;
    if (t.charCodeAt(p) === 45) {
      p++;
      if (t.startsWith('Infinity', p)) {
        this.pos = p + 8;
        return Number.NEGATIVE_INFINITY;
      }
    }
    const intStart = p;
    if (t.charCodeAt(p) === 48) p++;
    else {
      while (isDigit(t.charCodeAt(p))) p++;
    }
    if (p === intStart) {
      this.pos = start;
      return this.error('Expecting value');
    }
    let isFloat = false;
    if (t.charCodeAt(p) === 46 && isDigit(t.charCodeAt(p + 1))) {
      isFloat = true;
      p += 2;
      while (isDigit(t.charCodeAt(p))) p++;
    }
    const e = t.charCodeAt(p);
    if (e === 101 || e === 69) {
      let q = p + 1;
      const s = t.charCodeAt(q);
      if (s === 43 || s === 45) q++;
      if (isDigit(t.charCodeAt(q))) {
        isFloat = true;
        while (isDigit(t.charCodeAt(q))) q++;
        p = q;
      }
    }
    this.pos = p;
    const text = t.slice(start, p);
    return isFloat ? Number(text) : parseInteger(text);
  }

  string(): string {
    const t = this.text;
    const start = this.pos;
    let p = start + 1;
    let out = '';
    let chunk = p;
    for (;;) {
      if (p >= t.length) {
        this.pos = start;
        return this.error('Unterminated string starting at');
      }
      const c = t.charCodeAt(p);
      if (c === 34) {
        out += t.slice(chunk, p);
        this.pos = p + 1;
        return out;
      }
      if (c < 0x20) {
        this.pos = p;
        return this.error('Invalid control character at');
      }
      if (c === 92 /* \ */) {
        out += t.slice(chunk, p);
        const n = t.charCodeAt(p + 1);
        switch (n) {
          case 34: out += '"'; break;
          case 92: out += '\\'; break;
          case 47: out += '/'; break;
          case 98: out += '\b'; break;
          case 102: out += '\f'; break;
          case 110: out += '\n'; break;
          case 114: out += '\r'; break;
          case 116: out += '\t'; break;
          case 117: {
            const hex = t.slice(p + 2, p + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
              this.pos = p + 1;
              return this.error('Invalid \\uXXXX escape');
            }
            out += String.fromCharCode(parseInt(hex, 16));
            p += 4;
            break;
          }
          default:
            this.pos = p;
            return this.error('Invalid \\escape');
        }
        p += 2;
        chunk = p;
        continue;
      }
      p++;
    }
  }

  array(): PyValue[] {
    if (++this.depth > MAX_DEPTH) this.error('nested too deeply');
    this.pos++;
    const out: PyValue[] = [];
    this.ws();
    if (this.text.charCodeAt(this.pos) === 93) {
      this.pos++;
      this.depth--;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value());
      this.ws();
      const c = this.text.charCodeAt(this.pos);
      if (c === 44) {
        this.pos++;
        continue;
      }
      if (c === 93) {
        this.pos++;
        this.depth--;
        return out;
      }
      return this.error("Expecting ',' delimiter");
    }
  }

  object(): PyValue {
    if (++this.depth > MAX_DEPTH) this.error('nested too deeply');
    this.pos++;
    const out: Record<string, PyValue> = {};
    this.ws();
    if (this.text.charCodeAt(this.pos) === 125) {
      this.pos++;
      this.depth--;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text.charCodeAt(this.pos) !== 34) this.error('Expecting property name enclosed in double quotes');
      const key = this.string();
      this.ws();
      if (this.text.charCodeAt(this.pos) !== 58) this.error("Expecting ':' delimiter");
      this.pos++;
      this.ws();
      const v = this.value();
      setOwn(out, key, v);
      this.ws();
      const c = this.text.charCodeAt(this.pos);
      if (c === 44) {
        this.pos++;
        continue;
      }
      if (c === 125) {
        this.pos++;
        this.depth--;
        return isTagged(out) ? decodeTagged(out.__type__, out.__value__) : out;
      }
      return this.error("Expecting ',' delimiter");
    }
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function parseInteger(text: string): number | bigint {
  if (text.length <= 16) {
    const n = Number(text);
    if (Number.isSafeInteger(n)) return n === 0 ? 0 : n;
  }
  const b = BigInt(text);
  return b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b;
}

/**
 * Parse kombu JSON text. Tagged objects are decoded (unknown tags raise {@link DecodeError}),
 * integers outside the safe range become `bigint`, `NaN` / `Infinity` / `-Infinity` are accepted
 * like Python's `json.loads`. Any failure is a {@link DecodeError}.
 */
export function parseKombuJson(text: string): PyValue {
  try {
    let parsed: unknown;
    let ok = true;
    try {
      parsed = JSON.parse(text);
    } catch {
      ok = false; // maybe NaN/Infinity, or invalid: the slow parser decides and reports the position
    }
    if (ok) {
      const out = finish(parsed, 0);
      if (out !== SLOW) return out as PyValue;
    }
    return new Parser(text).parseDocument();
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    return fail(`invalid JSON: ${(err as Error)?.message ?? String(err)}`, err);
  }
}

/** Decode UTF-8 bytes strictly (like Python's `bytes.decode('utf-8')`), then {@link parseKombuJson}. */
export function decodeKombuJson(body: Uint8Array): PyValue {
  let text: string;
  try {
    text = utf8Strict.decode(body);
  } catch (err) {
    return fail('JSON body is not valid UTF-8', err);
  }
  return parseKombuJson(text);
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

const NONCE = `@@celeriac-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}:`;
const NONCE_RE = new RegExp(`"${NONCE}([^"]*)"`, 'g');

class Unencodable extends Error {}

function tag(type: string, value: PyValue): { __type__: string; __value__: PyValue } {
  return { __type__: type, __value__: value };
}

/** kombu's encoding of bytes: `bytes` tag with the text when valid UTF-8, else `base64`. */
export function tagBytes(bytes: Uint8Array): { __type__: string; __value__: string } {
  try {
    return tag('bytes', utf8Strict.decode(bytes)) as { __type__: string; __value__: string };
  } catch {
    return tag('base64', Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')) as {
      __type__: string;
      __value__: string;
    };
  }
}

function describe(v: unknown): string | undefined {
  switch (typeof v) {
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    case 'undefined':
      return undefined;
    case 'object': {
      if (v === null || Array.isArray(v) || isPlainObject(v)) return undefined;
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'an invalid Date' : undefined;
      if (v instanceof Uint8Array || v instanceof PyDate || v instanceof PyTime || v instanceof Decimal || v instanceof UUID)
        return undefined;
      if (v instanceof Map) return 'a Map (use a plain object)';
      if (v instanceof Set) return 'a Set (use an array)';
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return undefined;
      return `an object of type ${(v as object).constructor?.name ?? 'Object'}`;
    }
    default:
      return undefined;
  }
}

/** Find the path and description of the first value that cannot be encoded. */
export function findUnencodable(
  root: unknown,
  check: (v: unknown) => string | undefined,
): { path: string; reason: string } | undefined {
  const seen = new Set<object>();
  const walk = (v: unknown, path: string): { path: string; reason: string } | undefined => {
    const reason = check(v);
    if (reason) return { path, reason };
    if (v === null || typeof v !== 'object') return undefined;
    if (seen.has(v)) return { path, reason: 'a circular reference' };
    if (Array.isArray(v)) {
      seen.add(v);
      for (let i = 0; i < v.length; i++) {
        const r = walk(v[i], `${path}[${i}]`);
        if (r) return r;
      }
      seen.delete(v);
    } else if (isPlainObject(v)) {
      seen.add(v);
      for (const k of Object.keys(v)) {
        const r = walk(v[k], /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`);
        if (r) return r;
      }
      seen.delete(v);
    }
    return undefined;
  };
  return walk(root, '$');
}

/** Deeper than this, {@link isPlainJson} gives up (and the replacer path decides). */
const PLAIN_JSON_MAX_DEPTH = 64;

/**
 * Whether `v` holds only what JSON.stringify without a replacer writes exactly as the kombu replacer
 * does: strings, booleans, null, finite numbers, arrays and plain objects (undefined is skipped by
 * both). Functions, symbols, bigints, NaN/Infinity, Dates, bytes and other objects need the replacer.
 */
export function isPlainJson(v: unknown, depth = 0): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
    case 'undefined':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object': {
      if (v === null) return true;
      if (depth >= PLAIN_JSON_MAX_DEPTH) return false;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!isPlainJson(v[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return false;
      const o = v as Record<string, unknown>;
      for (const k in o) if (!isPlainJson(o[k], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

/**
 * Serialize like kombu's `json.dumps`, to the same text (Python's `", "`/`": "` separators,
 * `ensure_ascii`, float exponents: {@link pythonJsonText}). Unencodable values raise
 * {@link EncodeError} naming the path.
 */
export function stringifyKombuJson(value: PyValue): string {
  // the common case, nothing to tag: one direct pass (null when the value needs the replacer below)
  const plain = pythonJsonDumps(value);
  if (plain !== null) return plain;
  let sentinels = false;
  const replacer = function (this: Record<string, unknown>, key: string): unknown {
    const v = this[key];
    switch (typeof v) {
      case 'string':
      case 'boolean':
      case 'undefined':
        return v;
      case 'number':
        if (Number.isFinite(v)) return v;
        sentinels = true;
        return NONCE + (Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity');
      case 'bigint':
        sentinels = true;
        return NONCE + v.toString();
      case 'object': {
        if (v === null || Array.isArray(v) || isPlainObject(v)) return v;
        if (v instanceof Date) {
          if (v instanceof PyDateTime) return tag('datetime', v.isoformat);
          if (Number.isNaN(v.getTime())) throw new Unencodable();
          return tag('datetime', isoformatUTC(v));
        }
        if (v instanceof Uint8Array) return tagBytes(v);
        if (v instanceof PyDate) return tag('date', v.isoformat);
        if (v instanceof PyTime) return tag('time', v.isoformat);
        if (v instanceof Decimal) return tag('decimal', v.value);
        if (v instanceof UUID) return tag('uuid', { hex: v.hex });
        if (v instanceof Map || v instanceof Set) throw new Unencodable();
        // Like kombu honouring `__json__()`.
        if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return (v as { toJSON(k: string): unknown }).toJSON(key);
        throw new Unencodable();
      }
      default:
        throw new Unencodable();
    }
  };
  let out: string | undefined;
  try {
    out = JSON.stringify(value, replacer);
  } catch (err) {
    const bad = findUnencodable(value, describe);
    if (bad) throw new EncodeError('body', `cannot encode ${bad.reason} as JSON`, { path: bad.path, cause: err });
    throw new EncodeError('body', `cannot encode value as JSON: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  if (out === undefined) throw new EncodeError('body', `cannot encode ${describe(value) ?? String(value)} as JSON`, { path: '$' });
  return pythonJsonText(sentinels ? out.replace(NONCE_RE, '$1') : out);
}

/** {@link stringifyKombuJson} as UTF-8 bytes. */
export function encodeKombuJson(value: PyValue): Uint8Array {
  const text = stringifyKombuJson(value);
  // Buffer.from puts small strings in its shared pool (no ArrayBuffer per message); hand out a plain view
  const b = Buffer.from(text, 'utf8');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
