/**
 * Python's `repr()` and Celery's `saferepr()` (`celery/utils/saferepr.py`) for {@link PyValue}s.
 *
 * Celery puts `saferepr(args, 1024)` / `saferepr(kwargs, 1024)` in the `argsrepr` / `kwargsrepr`
 * headers of every task message; the worker recomputes them with `saferepr(args)` (no limit) when it
 * converts a protocol v1 message. {@link saferepr} is a token-for-token port of Celery's streaming
 * algorithm, so truncation (`maxlen`), the nesting cut-off (`maxlevels`, giving `[...]` / `{...}`),
 * the `', ...'` marker and the dangling closing brackets come out exactly as in Python.
 *
 * Note that saferepr is NOT `repr`: strings are quoted as `'...'` with only `'` escaped (newlines,
 * backslashes and non-ASCII stay raw), and bytes print as `b'<utf-8 text>'` or `b'<hex>'`.
 *
 * Approximations (JavaScript cannot tell these apart from the decoded value):
 * - A float with an integral value that arrived as a JS `number` (e.g. Python `1.0` decoded from JSON)
 *   prints as an int (`1`); non-integral numbers, non-safe-integer numbers, `-0`, `inf` and `nan`
 *   print exactly as Python prints floats (`0.1`, `1e-05`, `1e+300`, `-0.0`, `inf`).
 * - Python tuples travel as lists; only a top-level {@link PyTuple} prints as a tuple (`(1,)`).
 * - `str.isprintable()` for non-ASCII characters in {@link pyRepr} uses the JS engine's Unicode tables
 *   (which may be a newer Unicode version than Python 3.11's).
 * - Recursive (cyclic) structures print `<Recursion on list with id=0>` (Python prints the real id).
 */
import { Decimal, PyDate, PyDateTime, PyTime, UUID, type PyValue } from './values.ts';

/** A Python tuple (only needed at the top level: the `args` of a task are usually a tuple). */
export class PyTuple {
  readonly items: readonly PyValue[];
  constructor(items: readonly PyValue[]) {
    this.items = items;
  }
}

/** What {@link saferepr} and {@link pyRepr} accept. */
export type ReprValue = PyValue | PyTuple;

// ---------------------------------------------------------------------------------------------
// helpers: code points (Python's len / slicing work on code points, JS strings on UTF-16 units)

const SURROGATE = /[\uD800-\uDFFF]/;

function cpLen(s: string): number {
  if (!SURROGATE.test(s)) return s.length;
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function cpSlice(s: string, n: number): string {
  if (!SURROGATE.test(s)) return s.slice(0, n);
  let out = '';
  let i = 0;
  for (const ch of s) {
    if (i++ >= n) break;
    out += ch;
  }
  return out;
}

/** `celery.utils.text.truncate`: note `>=` (a string of exactly maxlen chars still gets `...`). */
export function truncate(s: string, maxlen: number | null = 128, suffix = '...'): string {
  if (maxlen && cpLen(s) >= maxlen) {
    const head = cpSlice(s, maxlen);
    const sp = head.lastIndexOf(' ');
    return (sp === -1 ? head : head.slice(0, sp)) + suffix;
  }
  return s;
}

function pad(n: number | string, w = 2): string {
  return String(n).padStart(w, '0');
}

// ---------------------------------------------------------------------------------------------
// scalars

/** Python's `repr(float)` / `str(float)` for a JS number. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without an argument gives the shortest round-tripping digits, as Python's repr.
  const m = /^-?(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(x.toExponential());
  if (!m) return String(x);
  const digits = (m[1] ?? '') + (m[2] ?? '');
  const decpt = Number(m[3]) + 1; // value = 0.DIGITS * 10**decpt
  if (decpt <= -4 || decpt > 16) {
    const e = decpt - 1;
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${mant}e${e < 0 ? '-' : '+'}${pad(Math.abs(e))}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}

/** Python's `str()` of a number: ints for safe integers, floats otherwise (see module notes). */
export function pyNumberRepr(x: number | bigint): string {
  if (typeof x === 'bigint') return x.toString();
  if (Number.isSafeInteger(x) && !Object.is(x, -0)) return String(x);
  return pyFloatRepr(x);
}

const NONPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** Python's `repr(str)`: quote choice, backslash escapes, `\xhh`/`\uhhhh`/`\Uhhhhhhhh` for unprintables. */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + pad(cp.toString(16));
    else if (cp < 0x7f) out += ch;
    else if (ch !== ' ' && NONPRINTABLE.test(ch)) {
      if (cp <= 0xff) out += '\\x' + pad(cp.toString(16));
      else if (cp <= 0xffff) out += '\\u' + cp.toString(16).padStart(4, '0');
      else out += '\\U' + cp.toString(16).padStart(8, '0');
    } else out += ch;
  }
  return out + quote;
}

/** Python's `repr(bytes)`. */
export function pyBytesRepr(b: Uint8Array): string {
  let hasSingle = false;
  let hasDouble = false;
  for (const c of b) {
    if (c === 0x27) hasSingle = true;
    else if (c === 0x22) hasDouble = true;
  }
  const quote = hasSingle && !hasDouble ? '"' : "'";
  const q = quote.charCodeAt(0);
  let out = 'b' + quote;
  for (const c of b) {
    if (c === q || c === 0x5c) out += '\\' + String.fromCharCode(c);
    else if (c === 0x09) out += '\\t';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c < 0x20 || c >= 0x7f) out += '\\x' + pad(c.toString(16));
    else out += String.fromCharCode(c);
  }
  return out + quote;
}

function timedeltaRepr(totalSeconds: number): string {
  const days = Math.floor(totalSeconds / 86400);
  let seconds = totalSeconds - days * 86400;
  const micro = Math.round((seconds - Math.floor(seconds)) * 1e6);
  seconds = Math.floor(seconds);
  const parts: string[] = [];
  if (days) parts.push(`days=${days}`);
  if (seconds) parts.push(`seconds=${seconds}`);
  if (micro) parts.push(`microseconds=${micro}`);
  if (!parts.length) parts.push('0');
  return `datetime.timedelta(${parts.join(', ')})`;
}

function tzRepr(offsetMinutes: number): string {
  if (offsetMinutes === 0) return 'datetime.timezone.utc';
  return `datetime.timezone(${timedeltaRepr(Math.round(offsetMinutes * 60 * 1e6) / 1e6)})`;
}

function hmsRepr(h: number, mi: number, s: number, us: number): string {
  return `${h}, ${mi}${us ? `, ${s}, ${us}` : s ? `, ${s}` : ''}`;
}

/** `repr(datetime)`; a plain `Date` is an aware UTC datetime (that is how it is serialized). */
function datetimeRepr(d: Date): string {
  let offset: number | null = 0;
  let micro = d.getUTCMilliseconds() * 1000;
  if (d instanceof PyDateTime) {
    offset = d.utcoffsetMinutes;
    micro = d.microsecond;
  }
  const local = new Date(d.getTime() + (offset ?? 0) * 60_000);
  return (
    `datetime.datetime(${local.getUTCFullYear()}, ${local.getUTCMonth() + 1}, ${local.getUTCDate()}, ` +
    `${hmsRepr(local.getUTCHours(), local.getUTCMinutes(), local.getUTCSeconds(), micro)}` +
    `${offset === null ? '' : `, tzinfo=${tzRepr(offset)}`})`
  );
}

function timeRepr(t: PyTime): string {
  const m = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(.*)$/.exec(t.isoformat);
  if (!m) return `datetime.time(${t.isoformat})`;
  const us = m[4] ? Number(m[4].padEnd(6, '0')) : 0;
  let tz = '';
  const off = m[5] ?? '';
  if (off) {
    const om = /^([+-])(\d{2}):?(\d{2})(?::?(\d{2}))?/.exec(off);
    const minutes =
      off === 'Z' || !om ? 0 : (om[1] === '-' ? -1 : 1) * (Number(om[2]) * 60 + Number(om[3]) + Number(om[4] ?? 0) / 60);
    tz = `, tzinfo=${tzRepr(minutes)}`;
  }
  return `datetime.time(${hmsRepr(Number(m[1]), Number(m[2]), Number(m[3] ?? 0), us)}${tz})`;
}

/** `repr()` of leaf objects that are not numbers, strings or containers. */
function objectRepr(v: ReprValue): string {
  if (v === null || v === undefined) return 'None';
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'datetime.datetime(<invalid>)' : datetimeRepr(v);
  if (v instanceof PyDate) return `datetime.date(${v.year}, ${v.month}, ${v.day})`;
  if (v instanceof PyTime) return timeRepr(v);
  if (v instanceof Decimal) return `Decimal(${pyStrRepr(decimalStr(v.value))})`;
  if (v instanceof UUID) return `UUID('${v.toString()}')`;
  return String(v);
}

/**
 * Python's `str(Decimal(text))` (the "to-scientific-string" rules): `1e3` → `1E+3`, `0.0000001` → `1E-7`,
 * `3.140` → `3.140`, `-0` → `-0`, `inf` → `Infinity`.
 */
export function decimalStr(text: string): string {
  const t = text.trim();
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) {
    const neg = t.startsWith('-') ? '-' : '';
    if (/^[+-]?inf(inity)?$/i.test(t)) return `${neg}Infinity`;
    if (/^[+-]?snan/i.test(t)) return `${neg}sNaN`;
    if (/^[+-]?nan/i.test(t)) return `${neg}NaN`;
    return t;
  }
  const sign = m[1] === '-' ? '-' : '';
  const frac = m[3] ?? '';
  const coeff = ((m[2] ?? '') + frac).replace(/^0+(?=\d)/, '') || '0';
  const exp = Number(m[4] ?? 0) - frac.length;
  return sign + sciString(coeff, exp);
}

/** Decimal to-sci-string of a coefficient (digits) and exponent. */
export function sciString(coeff: string, exp: number): string {
  const adjusted = exp + coeff.length - 1;
  if (exp <= 0 && adjusted >= -6) {
    if (exp === 0) return coeff;
    const point = coeff.length + exp;
    return point > 0 ? `${coeff.slice(0, point)}.${coeff.slice(point)}` : `0.${'0'.repeat(-point)}${coeff}`;
  }
  const mant = coeff.length > 1 ? `${coeff[0]}.${coeff.slice(1)}` : coeff;
  return `${mant}E${adjusted >= 0 ? '+' : ''}${adjusted}`;
}

// ---------------------------------------------------------------------------------------------
// full repr

/**
 * Python's `repr()` of a value (no truncation). A top-level {@link PyTuple} prints as a tuple; all other
 * arrays as lists; plain objects as dicts (insertion order).
 */
export function pyRepr(value: ReprValue, seen: Set<object> = new Set()): string {
  if (typeof value === 'string') return pyStrRepr(value);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number' || typeof value === 'bigint') return pyNumberRepr(value);
  if (value instanceof Uint8Array) return pyBytesRepr(value);
  if (value instanceof PyTuple || Array.isArray(value)) {
    const items = value instanceof PyTuple ? value.items : value;
    if (seen.has(items)) return value instanceof PyTuple ? '(...)' : '[...]';
    seen.add(items);
    const inner = items.map((v) => pyRepr(v, seen)).join(', ');
    seen.delete(items);
    if (value instanceof PyTuple) return items.length === 1 ? `(${inner},)` : `(${inner})`;
    return `[${inner}]`;
  }
  if (isDict(value)) {
    if (seen.has(value)) return '{...}';
    seen.add(value);
    const inner = Object.keys(value)
      .map((k) => `${pyStrRepr(k)}: ${pyRepr(value[k] as PyValue, seen)}`)
      .join(', ');
    seen.delete(value);
    return `{${inner}}`;
  }
  return objectRepr(value);
}

function isDict(v: unknown): v is { [k: string]: PyValue } {
  if (v === null || typeof v !== 'object') return false;
  if (v instanceof Date || v instanceof Uint8Array || v instanceof PyDate || v instanceof PyTime) return false;
  if (v instanceof Decimal || v instanceof UUID || v instanceof PyTuple || Array.isArray(v)) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// saferepr: a port of celery/utils/saferepr.py

class Lit {
  constructor(
    readonly value: string,
    readonly truncate: boolean,
    readonly direction: number,
  ) {}
}
class Key {
  constructor(readonly value: string) {}
}
class Quoted {
  constructor(readonly value: string | Uint8Array) {}
}
class Dirty {
  constructor(readonly obj: object) {}
}
type Item = Lit | Key | Quoted | Dirty | ReprValue;
type Tok = Lit | Key | Quoted | string;

const LIT_DICT_START = new Lit('{', false, +1);
const LIT_DICT_KVSEP = new Lit(': ', true, 0);
const LIT_DICT_END = new Lit('}', false, -1);
const LIT_LIST_START = new Lit('[', false, +1);
const LIT_LIST_END = new Lit(']', false, -1);
const LIT_LIST_SEP = new Lit(', ', true, 0);
const LIT_TUPLE_START = new Lit('(', false, +1);
const LIT_TUPLE_END = new Lit(')', false, -1);
const LIT_TUPLE_END_SV = new Lit(',)', false, -1);

function* chaindict(mapping: { [k: string]: PyValue }): Generator<Item> {
  const keys = Object.keys(mapping);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    yield new Key(k);
    yield LIT_DICT_KVSEP;
    yield mapping[k] as PyValue;
    if (i < keys.length - 1) yield LIT_LIST_SEP;
  }
}

function* chainlist(items: readonly ReprValue[]): Generator<Item> {
  for (let i = 0; i < items.length; i++) {
    yield items[i] as ReprValue;
    if (i < items.length - 1) yield LIT_LIST_SEP;
  }
}

/** `itertools.chain` over iterators that must NOT be closed when we stop early (unlike for..of). */
function* chain(...parts: Iterator<Item>[]): Generator<Item> {
  for (const p of parts) {
    for (let r = p.next(); !r.done; r = p.next()) yield r.value;
  }
}

function iter(items: Item[]): Iterator<Item> {
  return items[Symbol.iterator]();
}

/** Streaming repr, yielding `[token, iterator]` pairs (`reprstream`). */
function* reprstream(stack: Iterator<Item>[], seen: Set<object>, maxlevels: number): Generator<[Tok, Iterator<Item>]> {
  let level = 0;
  while (stack.length) {
    const it = stack.shift() as Iterator<Item>;
    for (let r = it.next(); !r.done; r = it.next()) {
      const val = r.value;
      if (val instanceof Dirty) {
        seen.delete(val.obj);
        continue;
      } else if (val instanceof Lit) {
        level += val.direction;
        yield [val, it];
      } else if (val instanceof Key) {
        yield [val, it];
      } else if (val instanceof Decimal) {
        yield [objectRepr(val), it];
      } else if (typeof val === 'number' || typeof val === 'bigint') {
        yield [pyNumberRepr(val), it];
      } else if (typeof val === 'boolean') {
        yield [val ? 'True' : 'False', it];
      } else if (typeof val === 'string' || val instanceof Uint8Array) {
        yield [new Quoted(val), it];
      } else {
        let start: Lit;
        let end: Lit;
        let inner: Iterator<Item>;
        let ident: object;
        if (val instanceof PyTuple) {
          start = LIT_TUPLE_START;
          end = val.items.length === 1 ? LIT_TUPLE_END_SV : LIT_TUPLE_END;
          inner = chainlist(val.items);
          ident = val.items;
        } else if (Array.isArray(val)) {
          start = LIT_LIST_START;
          end = LIT_LIST_END;
          inner = chainlist(val);
          ident = val;
        } else if (isDict(val)) {
          start = LIT_DICT_START;
          end = LIT_DICT_END;
          inner = chaindict(val);
          ident = val;
        } else {
          yield [objectRepr(val as ReprValue), it];
          continue;
        }
        if (maxlevels && level >= maxlevels) {
          yield [`${start.value}...${end.value}`, it];
          continue;
        }
        if (seen.has(ident)) {
          yield [`<Recursion on ${Array.isArray(ident) ? 'list' : 'dict'} with id=0>`, it];
          continue;
        }
        seen.add(ident);
        stack.push(chain(iter([start]), inner, iter([new Dirty(ident), end]), it));
        break;
      }
    }
  }
}

function formatChars(val: string | Uint8Array, maxlen: number | null): string {
  if (typeof val === 'string') return `'${truncate(val, maxlen).replace(/'/g, "\\'")}'`;
  let chunk = val;
  let ellipsis = '';
  if (maxlen && val.length > maxlen) {
    chunk = val.subarray(0, maxlen);
    ellipsis = '...';
  }
  return `b'${reprBinaryBytes(chunk)}${ellipsis}'`;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function reprBinaryBytes(b: Uint8Array): string {
  try {
    return UTF8.decode(b);
  } catch {
    let hex = '';
    for (const c of b) hex += pad(c.toString(16));
    return hex;
  }
}

/**
 * Celery's `saferepr(o, maxlen=None, maxlevels=3)`: a truncating repr. Celery uses `maxlen=1024` for the
 * `argsrepr`/`kwargsrepr` headers, and no limit when converting protocol v1 messages.
 */
export function saferepr(value: ReprValue, maxlen: number | null = null, maxlevels = 3): string {
  const fast = simpleSaferepr(value, maxlen, maxlevels);
  if (fast !== null) return fast;
  return saferepr_(value, maxlen, maxlevels, new Set());
}

// ---------------------------------------------------------------------------------------------
// saferepr's fast path
//
// When the whole repr is shorter than `maxlen`, no token is ever truncated (each token is shorter
// than what is left of maxlen when it is written) and no `', ...'` marker appears; when every
// container is nested less than `maxlevels` deep, none is cut to `[...]`, and no container can be
// its own ancestor (a cycle would be infinitely deep). The streaming algorithm then writes exactly
// what a plain recursive walk writes: that walk is tried first and abandoned (null) as soon as a value
// needs more (bytes, a class instance, too deep, too long).

/** Depth limit of the fast path when `maxlevels` is 0 (unlimited). */
const SIMPLE_MAX_DEPTH = 32;
let simpleOut = '';

function quoteSimple(s: string): string {
  return s.includes("'") ? `'${s.replace(/'/g, "\\'")}'` : `'${s}'`;
}

/** Appends the repr of `v` to `simpleOut`; false when the fast path cannot tell. */
function simpleWalk(v: ReprValue, depth: number, maxDepth: number, limit: number): boolean {
  switch (typeof v) {
    case 'string':
      simpleOut += quoteSimple(v);
      break;
    case 'number':
    case 'bigint':
      simpleOut += pyNumberRepr(v);
      break;
    case 'boolean':
      simpleOut += v ? 'True' : 'False';
      break;
    case 'undefined':
      simpleOut += 'None';
      break;
    case 'object': {
      if (v === null) {
        simpleOut += 'None';
        break;
      }
      let items: readonly ReprValue[];
      let tuple = false;
      if (Array.isArray(v)) items = v;
      else if (v instanceof PyTuple) {
        items = v.items;
        tuple = true;
      } else {
        const proto = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== null) {
          if (v instanceof Date || v instanceof Decimal || v instanceof UUID || v instanceof PyDate || v instanceof PyTime) {
            simpleOut += objectRepr(v as ReprValue);
            break;
          }
          return false;
        }
        if (depth >= maxDepth) return false;
        const d = v as { [k: string]: PyValue };
        const keys = Object.keys(d);
        simpleOut += '{';
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i] as string;
          if (i > 0) simpleOut += ', ';
          simpleOut += quoteSimple(k) + ': ';
          if (!simpleWalk(d[k] as PyValue, depth + 1, maxDepth, limit)) return false;
          if (simpleOut.length >= limit) return false;
        }
        simpleOut += '}';
        break;
      }
      if (depth >= maxDepth) return false;
      simpleOut += tuple ? '(' : '[';
      for (let i = 0; i < items.length; i++) {
        if (i > 0) simpleOut += ', ';
        if (!simpleWalk(items[i] as ReprValue, depth + 1, maxDepth, limit)) return false;
        if (simpleOut.length >= limit) return false;
      }
      simpleOut += tuple ? (items.length === 1 ? ',)' : ')') : ']';
      break;
    }
    default:
      return false;
  }
  return simpleOut.length < limit;
}

/** {@link saferepr} of a value the fast path can do exactly, else null. */
function simpleSaferepr(value: ReprValue, maxlen: number | null, maxlevels: number): string | null {
  if (maxlevels < 0) return null;
  const limit = maxlen === null ? Infinity : maxlen;
  const maxDepth = maxlevels > 0 ? Math.min(maxlevels, SIMPLE_MAX_DEPTH) : SIMPLE_MAX_DEPTH;
  simpleOut = '';
  const ok = simpleWalk(value, 0, maxDepth, limit);
  const out = simpleOut;
  simpleOut = '';
  return ok ? out : null;
}

function saferepr_(o: ReprValue, maxlenIn: number | null, maxlevels: number, seen: Set<object>): string {
  let maxlen = maxlenIn;
  let out = '';
  const stack: Iterator<Item>[] = [iter([o])];
  const stream = reprstream(stack, seen, maxlevels);
  for (let r = stream.next(); !r.done; r = stream.next()) {
    const [token, it] = r.value;
    if (maxlen !== null && maxlen <= 0) {
      out += ', ...';
      // move the rest back to the stack, so that we can include dangling parens
      stack.push(it);
      break;
    }
    let val: string;
    if (token instanceof Lit) val = token.value;
    else if (token instanceof Key) val = saferepr_(token.value, maxlen, maxlevels, new Set());
    else if (token instanceof Quoted) val = formatChars(token.value, maxlen);
    else val = truncate(token, maxlen);
    out += val;
    if (maxlen !== null) maxlen -= cpLen(val);
  }
  for (const rest1 of stack) {
    for (let r = rest1.next(); !r.done; r = rest1.next()) {
      const v = r.value;
      if (v instanceof Lit && !v.truncate) out += v.value;
    }
  }
  return out;
}

/** `argsrepr` as `as_task_v2` computes it: `saferepr(args, 1024)`, args shown as a tuple by default. */
export function argsrepr(args: readonly PyValue[], maxlen: number | null = 1024, asTuple = true): string {
  return saferepr(asTuple ? new PyTuple(args) : (args as PyValue[]), maxlen);
}

/** `kwargsrepr` as `as_task_v2` computes it: `saferepr(kwargs, 1024)`. */
export function kwargsrepr(kwargs: { [k: string]: PyValue }, maxlen: number | null = 1024): string {
  return saferepr(kwargs, maxlen);
}
