/**
 * kombu's msgpack: `msgpack.packb(obj, use_bin_type=True)` / `msgpack.unpackb(body, raw=False)`.
 * bytes ↔ bin (Uint8Array), str ↔ str, ints up to 64 bits (bigint outside the safe range).
 * Python's msgpack cannot pack datetime, Decimal or UUID without a `default=` hook, which kombu
 * does not set, so encoding those raises {@link EncodeError} here as in kombu.
 */
import { Decoder, Encoder, ExtData } from '@msgpack/msgpack';
import { DecodeError, EncodeError } from '../errors.ts';
import { Decimal, PyDate, PyTime, UUID, isPlainObject, setOwn } from '../values.ts';
import type { PyValue } from '../values.ts';

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

const encoder = new Encoder({ useBigInt64: true, ignoreUndefined: true, initialBufferSize: 512 });
const decoderOptions = {
  useBigInt64: true,
  // unpackb(strict_map_key=True) only allows str (and bytes, which JS objects cannot hold) keys.
  mapKeyConverter: (key: unknown): string => {
    if (typeof key === 'string') return key;
    throw new DecodeError('body', `msgpack map key of type ${key instanceof Uint8Array ? 'bin' : typeof key} is not supported`);
  },
} as const;
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function pyTypeName(v: unknown): string {
  if (v instanceof Date) return 'datetime.datetime';
  if (v instanceof PyDate) return 'datetime.date';
  if (v instanceof PyTime) return 'datetime.time';
  if (v instanceof Decimal) return 'decimal.Decimal';
  if (v instanceof UUID) return 'uuid.UUID';
  return (v as object)?.constructor?.name ?? typeof v;
}

function unencodable(v: unknown): string | undefined {
  switch (typeof v) {
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    case 'bigint':
      return v < INT64_MIN || v > UINT64_MAX ? `an integer out of the 64-bit range (${v})` : undefined;
    case 'object':
      if (v === null || Array.isArray(v) || isPlainObject(v) || v instanceof Uint8Array) return undefined;
      return `a ${pyTypeName(v)} object (msgpack cannot serialize it; use json)`;
    default:
      return undefined;
  }
}

/**
 * Check and copy the value for the encoder: unencodable values raise, and safe integers beyond
 * 32 bits become bigint (the encoder would otherwise write them as float64, which Python reads as
 * a float; Python's msgpack writes them as int64/uint64).
 */
function prepare(v: unknown, path: string, seen: Set<object>): unknown {
  const reason = unencodable(v);
  if (reason) throw new EncodeError('body', `cannot encode ${reason} as msgpack`, { path });
  if (typeof v === 'number') {
    return Number.isInteger(v) && (v > 0xffffffff || v < -0x80000000) && Number.isSafeInteger(v) ? BigInt(v) : v;
  }
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  if (seen.has(v)) throw new EncodeError('body', 'cannot encode a circular reference as msgpack', { path });
  seen.add(v);
  let out: unknown;
  if (Array.isArray(v)) {
    out = v.map((x, i) => (x === undefined ? null : prepare(x, `${path}[${i}]`, seen)));
  } else {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x === undefined) continue;
      const p = prepare(x, /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`, seen);
      setOwn(o, k, p);
    }
    out = o;
  }
  seen.delete(v);
  return out;
}

/** Pack like `msgpack.packb(value, use_bin_type=True)`. */
export function encodeMsgpack(value: PyValue): Uint8Array {
  if (value === undefined) throw new EncodeError('body', 'cannot encode undefined as msgpack', { path: '$' });
  let prepared: unknown;
  try {
    prepared = prepare(value, '$', new Set());
    return encoder.encode(prepared).slice();
  } catch (err) {
    if (err instanceof EncodeError) throw err;
    throw new EncodeError('body', `cannot encode value as msgpack: ${(err as Error)?.message ?? err}`, { cause: err });
  }
}

function normalize(v: unknown, path: string): PyValue {
  if (typeof v === 'bigint') {
    return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
  }
  if (v === null || typeof v !== 'object') return v as PyValue;
  if (v instanceof Uint8Array) return Object.getPrototypeOf(v) === Uint8Array.prototype ? v : new Uint8Array(v);
  if (v instanceof ExtData) {
    throw new DecodeError('body', `msgpack ext type ${v.type} is not supported`, { path });
  }
  if (v instanceof Date) {
    throw new DecodeError('body', 'msgpack timestamp ext is not supported (kombu never sends it)', { path });
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = normalize(v[i], `${path}[${i}]`);
    return v as PyValue[];
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) o[k] = normalize(o[k], `${path}.${k}`);
  return o as PyValue;
}

/**
 * @msgpack/msgpack decodes invalid UTF-8 leniently (replacement characters, or worse); Python's
 * `unpackb(raw=False)` raises. We override its (internal, stable across 3.x) string decoding hook.
 */
class StrictDecoder extends Decoder {}
{
  const proto = Decoder.prototype as unknown as {
    decodeUtf8String(this: DecoderInternals, byteLength: number, headerOffset: number): string;
  };
  interface DecoderInternals {
    bytes: Uint8Array;
    pos: number;
  }
  const original = proto.decodeUtf8String;
  if (typeof original !== 'function') throw new Error('@msgpack/msgpack internals changed: decodeUtf8String missing');
  (StrictDecoder.prototype as unknown as typeof proto).decodeUtf8String = function (
    this: DecoderInternals,
    byteLength: number,
    headerOffset: number,
  ): string {
    const start = this.pos + headerOffset;
    if (this.bytes.byteLength < start + byteLength) return original.call(this, byteLength, headerOffset);
    const view = this.bytes.subarray(start, start + byteLength);
    let text: string;
    try {
      text = utf8Strict.decode(view);
    } catch (err) {
      throw new DecodeError('body', `invalid UTF-8 in a msgpack str at byte ${start}`, { cause: err });
    }
    original.call(this, byteLength, headerOffset); // for its length checks and cursor update
    return text;
  };
}

/** Unpack like `msgpack.unpackb(body, raw=False)`: bigint only outside the safe integer range. */
export function decodeMsgpack(body: Uint8Array): PyValue {
  try {
    return normalize(new StrictDecoder(decoderOptions).decode(body), '$');
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    throw new DecodeError('body', `invalid msgpack: ${(err as Error)?.message ?? err}`, { cause: err });
  }
}
