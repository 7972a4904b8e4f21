/**
 * kombu's yaml: `yaml.safe_dump` / `yaml.safe_load` (PyYAML, YAML 1.1).
 *
 * Loading uses js-yaml's YAML 1.1 schema with PyYAML's semantics for integers (exact, bigint when
 * unsafe), timestamps (PyYAML's `construct_yaml_timestamp`: {@link PyDateTime} or {@link PyDate})
 * and `!!binary` (Uint8Array). Dumping uses a small emitter of our own that writes one flow-style
 * document with double-quoted, ASCII-escaped strings, which PyYAML's safe_load reads back to the
 * same values.
 */
import { NOT_RESOLVED, YAML11_SCHEMA, defineScalarTag, intYaml11Tag, load, mergeTag } from 'js-yaml';
import { DecodeError, EncodeError } from '../errors.ts';
import { Decimal, PyDate, PyDateTime, PyTime, UUID, isPlainObject, isoformatUTC } from '../values.ts';
import type { PyValue } from '../values.ts';

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

function bigFromYamlInt(source: string): bigint {
  let s = source.replace(/_/g, '');
  let sign = 1n;
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = -1n;
    s = s.slice(1);
  }
  let v: bigint;
  if (s.startsWith('0b')) v = BigInt(s);
  else if (s.startsWith('0x')) v = BigInt(s);
  else if (s.includes(':')) {
    v = 0n;
    for (const part of s.split(':')) v = v * 60n + BigInt(part);
  } else if (s.length > 1 && s[0] === '0') v = BigInt(`0o${s.slice(1)}`);
  else v = BigInt(s);
  return sign * v;
}

const intTag = defineScalarTag<number | bigint>('tag:yaml.org,2002:int', {
  implicit: true,
  implicitFirstChars: intYaml11Tag.implicitFirstChars,
  resolve(source, isExplicit, tagName) {
    const n = intYaml11Tag.resolve(source, isExplicit, tagName);
    if (n === NOT_RESOLVED) return NOT_RESOLVED;
    if (Number.isSafeInteger(n)) return n === 0 ? 0 : n;
    try {
      const b = bigFromYamlInt(source);
      return b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b;
    } catch {
      return n;
    }
  },
  identify: (v: unknown) => typeof v === 'bigint' || (Number.isInteger(v) && !Object.is(v, -0)),
  represent: (v: number | bigint) => v.toString(10),
});

// PyYAML's Resolver (implicit) and SafeConstructor (explicit) timestamp patterns.
const TIMESTAMP_IMPLICIT =
  /^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$/;
const TIMESTAMP =
  /^([0-9][0-9][0-9][0-9])-([0-9][0-9]?)-([0-9][0-9]?)(?:(?:[Tt]|[ \t]+)([0-9][0-9]?):([0-9][0-9]):([0-9][0-9])(?:\.([0-9]*))?(?:[ \t]*(Z|([-+])([0-9][0-9]?)(?::([0-9][0-9]))?))?)?$/;

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

function daysInMonth(y: number, m: number): number {
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** PyYAML's `construct_yaml_timestamp`, returning what Python's `isoformat()` would print. */
export function constructTimestamp(source: string): PyDateTime | PyDate {
  const m = TIMESTAMP.exec(source);
  if (!m) throw new Error(`not a timestamp: ${JSON.stringify(source)}`);
  const [, ys, mos, ds, hs, mis, ss, frac, tz, tzSign, tzH, tzM] = m;
  const y = Number(ys);
  const mo = Number(mos);
  const d = Number(ds);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) throw new Error(`day is out of range for month: ${source}`);
  const date = `${pad(y, 4)}-${pad(mo)}-${pad(d)}`;
  if (hs === undefined) return new PyDate(date);
  const h = Number(hs);
  const mi = Number(mis);
  const s = Number(ss);
  if (h > 23 || mi > 59 || s > 59) throw new Error(`time out of range: ${source}`);
  const micro = frac ? Number(frac.slice(0, 6).padEnd(6, '0')) : 0;
  let offset = '';
  if (tzSign) {
    const oh = Number(tzH);
    const om = Number(tzM ?? 0);
    const total = oh * 60 + om;
    if (total >= 24 * 60) throw new Error(`UTC offset out of range: ${source}`);
    const sign = tzSign === '-' && total !== 0 ? '-' : '+';
    offset = `${sign}${pad(Math.floor(total / 60))}:${pad(total % 60)}`;
  } else if (tz) offset = '+00:00';
  return new PyDateTime(`${date}T${pad(h)}:${pad(mi)}:${pad(s)}${micro ? `.${pad(micro, 6)}` : ''}${offset}`);
}

const timestampTag = defineScalarTag<PyDateTime | PyDate>('tag:yaml.org,2002:timestamp', {
  implicit: true,
  implicitFirstChars: [...'0123456789'],
  resolve(source, isExplicit) {
    if (!isExplicit && !TIMESTAMP_IMPLICIT.test(source)) return NOT_RESOLVED;
    if (isExplicit && !TIMESTAMP.test(source)) return NOT_RESOLVED;
    return constructTimestamp(source); // out-of-range values throw, as in PyYAML
  },
  identify: (v: unknown) => v instanceof Date || v instanceof PyDate,
});

// PyYAML's bool resolver (YAML 1.1 without the single-letter y/n forms).
const BOOL_TRUE = new Set(['yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON']);
const BOOL_FALSE = new Set(['no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF']);
const boolTag = defineScalarTag<boolean>('tag:yaml.org,2002:bool', {
  implicit: true,
  implicitFirstChars: [...'yYnNtTfFoO'],
  resolve(source) {
    if (BOOL_TRUE.has(source)) return true;
    if (BOOL_FALSE.has(source)) return false;
    return NOT_RESOLVED;
  },
  identify: (v: unknown) => typeof v === 'boolean',
  represent: (v: boolean) => (v ? 'true' : 'false'),
});

const SCHEMA = YAML11_SCHEMA.withTags(boolTag, intTag, timestampTag, mergeTag);

function normalize(v: unknown): PyValue {
  if (v === null || typeof v !== 'object') {
    if (v === undefined) return null;
    return v as PyValue;
  }
  if (v instanceof Uint8Array) return Object.getPrototypeOf(v) === Uint8Array.prototype ? v : new Uint8Array(v);
  if (v instanceof Date || v instanceof PyDate) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = normalize(v[i]);
    return v as PyValue[];
  }
  if (v instanceof Set) {
    // A Python set: no PyValue counterpart; like msgpack/json we carry it as a list.
    return [...v].map(normalize);
  }
  if (isPlainObject(v)) {
    for (const k of Object.keys(v)) v[k] = normalize(v[k]);
    return v as PyValue;
  }
  throw new DecodeError('body', `unsupported YAML value of type ${(v as object).constructor?.name}`);
}

/** `yaml.safe_load` of a YAML text. An empty document gives `null`, like PyYAML's `None`. */
export function parseYaml(text: string): PyValue {
  try {
    if (/^\s*(#[^\n]*\n?\s*)*$/.test(text) || /^\s*(---\s*)?(\.\.\.\s*)?$/.test(text)) return null;
    return normalize(load(text, { schema: SCHEMA, maxAliases: 10000 }));
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    throw new DecodeError('body', `invalid YAML: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

/** Decode a UTF-8 YAML body (kombu hands PyYAML the bytes; it autodetects UTF-8/16). */
export function decodeYaml(body: Uint8Array): PyValue {
  let text: string;
  try {
    text = utf8Strict.decode(body);
  } catch (err) {
    throw new DecodeError('body', 'YAML body is not valid UTF-8', { cause: err });
  }
  return parseYaml(text.startsWith('\ufeff') ? text.slice(1) : text);
}

// ---------------------------------------------------------------------------------------------
// Dumping
// ---------------------------------------------------------------------------------------------

function quote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x09) out += '\\t';
    else if (c < 0x100) out += `\\x${c.toString(16).padStart(2, '0').toUpperCase()}`;
    else if (c < 0x10000) out += `\\u${c.toString(16).padStart(4, '0').toUpperCase()}`;
    else out += `\\U${c.toString(16).padStart(8, '0').toUpperCase()}`;
  }
  return `${out}"`;
}

function fmtFloat(n: number): string {
  if (Number.isNaN(n)) return '.nan';
  if (n === Number.POSITIVE_INFINITY) return '.inf';
  if (n === Number.NEGATIVE_INFINITY) return '-.inf';
  if (Object.is(n, -0)) return '-0.0';
  // Like PyYAML's represent_float: the implicit float pattern needs a dot (and a signed exponent).
  const s = String(n);
  const [mant = s, exp] = s.split('e');
  const m = mant.includes('.') ? mant : `${mant}.0`;
  return exp === undefined ? m : `${m}e${exp[0] === '-' || exp[0] === '+' ? exp : `+${exp}`}`;
}

function emit(v: unknown, path: string, seen: Set<object>): string {
  switch (typeof v) {
    case 'string':
      return quote(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString(10);
    case 'number':
      return Number.isSafeInteger(v) && !Object.is(v, -0) ? String(v) : fmtFloat(v);
    case 'object': {
      if (v === null) return 'null';
      if (v instanceof Uint8Array) {
        return `!!binary "${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}"`;
      }
      if (v instanceof Date) {
        if (Number.isNaN(v.getTime())) throw new EncodeError('body', 'cannot encode an invalid Date as YAML', { path });
        return `!!timestamp "${v instanceof PyDateTime ? v.isoformat : isoformatUTC(v)}"`;
      }
      if (v instanceof PyDate) return `!!timestamp "${v.isoformat}"`;
      if (v instanceof PyTime || v instanceof Decimal || v instanceof UUID) {
        const t = v instanceof PyTime ? 'datetime.time' : v instanceof Decimal ? 'decimal.Decimal' : 'uuid.UUID';
        throw new EncodeError('body', `cannot represent a ${t} object with yaml.safe_dump (use json)`, { path });
      }
      if (seen.has(v)) throw new EncodeError('body', 'cannot encode a circular reference as YAML', { path });
      if (Array.isArray(v)) {
        seen.add(v);
        const items = v.map((x, i) => (x === undefined ? 'null' : emit(x, `${path}[${i}]`, seen)));
        seen.delete(v);
        return `[${items.join(', ')}]`;
      }
      if (isPlainObject(v)) {
        seen.add(v);
        const items: string[] = [];
        for (const k of Object.keys(v).sort()) {
          const x = v[k];
          if (x === undefined) continue;
          const p = /^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`;
          items.push(`${quote(k)}: ${emit(x, p, seen)}`);
        }
        seen.delete(v);
        return `{${items.join(', ')}}`;
      }
      throw new EncodeError('body', `cannot encode an object of type ${(v as object).constructor?.name ?? 'Object'} as YAML`, {
        path,
      });
    }
    default:
      throw new EncodeError('body', `cannot encode ${typeof v === 'function' ? 'a function' : `a ${typeof v}`} as YAML`, {
        path,
      });
  }
}

/** A YAML document that PyYAML's `safe_load` reads as the same value (keys sorted like safe_dump). */
export function stringifyYaml(value: PyValue): string {
  try {
    return `${emit(value, '$', new Set())}\n`;
  } catch (err) {
    if (err instanceof EncodeError) throw err;
    throw new EncodeError('body', `cannot encode value as YAML: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

export function encodeYaml(value: PyValue): Uint8Array {
  return utf8Encoder.encode(stringifyYaml(value));
}

