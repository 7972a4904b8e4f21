/**
 * JavaScript counterparts of the Python values that Celery messages carry and that plain JSON cannot
 * express. Every serializer maps onto these same classes, so a value decoded from json, msgpack or
 * yaml compares equal whichever way it travelled, and re-encodes to exactly what Python sent.
 *
 * | Python           | JavaScript                                        |
 * |------------------|---------------------------------------------------|
 * | `int` (any size) | `number` when a safe integer, else `bigint`       |
 * | `float`          | `number`                                          |
 * | `bytes`          | `Uint8Array` (a `Buffer` is accepted when encoding)|
 * | `datetime`       | {@link PyDateTime} (a `Date`); any `Date` encodes  |
 * | `date`           | {@link PyDate}                                    |
 * | `time`           | {@link PyTime}                                    |
 * | `Decimal`        | {@link Decimal}                                   |
 * | `uuid.UUID`      | {@link UUID}                                      |
 * | `tuple`, `list`  | `Array`                                           |
 * | `dict`           | plain object                                      |
 */
import { ProtocolError } from './errors.ts';

const DATETIME_RE =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2}(?:\.\d{1,6})?)?)?)?$/;

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Offset in minutes east of UTC from `Z`, `+05:30`, `-0800`, `+01:00:30`. */
function parseOffset(text: string): number {
  if (text === 'Z') return 0;
  const sign = text[0] === '-' ? -1 : 1;
  const digits = text.slice(1).replace(/:/g, '');
  const h = Number(digits.slice(0, 2));
  const m = Number(digits.slice(2, 4) || '0');
  const s = Number(digits.slice(4) || '0');
  return sign * (h * 60 + m + s / 60);
}

/**
 * A Python `datetime`. It is a real `Date` (so it works wherever a Date does) that also remembers
 * the exact ISO text Python sent: microseconds, the UTC offset, and whether it was naive.
 * Naive datetimes are read as UTC, the way Celery's worker reads a naive `eta`.
 */
export class PyDateTime extends Date {
  /** Exactly what Python's `datetime.isoformat()` produced (or would produce for this value). */
  readonly isoformat: string;
  /** True when the datetime had no UTC offset. */
  readonly naive: boolean;
  /** 0..999999 */
  readonly microsecond: number;
  /** Minutes east of UTC, or null when naive. */
  readonly utcoffsetMinutes: number | null;

  constructor(isoformat: string) {
    const m = DATETIME_RE.exec(isoformat);
    if (!m) throw new ProtocolError('body', `not an ISO 8601 datetime: ${JSON.stringify(isoformat)}`);
    const [, y, mo, d, h, mi, s, frac, off] = m;
    const micro = frac ? Number(frac.padEnd(6, '0').slice(0, 6)) : 0;
    const offset = off === undefined ? null : parseOffset(off);
    const utc =
      Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s ?? 0), Math.floor(micro / 1000)) -
      (offset ?? 0) * 60_000;
    super(utc);
    if (Number.isNaN(utc)) throw new ProtocolError('body', `invalid datetime: ${JSON.stringify(isoformat)}`);
    this.isoformat = isoformat;
    this.naive = offset === null;
    this.microsecond = micro;
    this.utcoffsetMinutes = offset;
  }

  /** An aware UTC datetime from a JS Date (or epoch milliseconds), formatted as Python would. */
  static fromDate(date: Date | number): PyDateTime {
    if (date instanceof PyDateTime) return date;
    const d = typeof date === 'number' ? new Date(date) : date;
    if (Number.isNaN(d.getTime())) throw new ProtocolError('body', 'cannot encode an invalid Date');
    return new PyDateTime(isoformatUTC(d));
  }

  override toJSON(): string {
    return this.isoformat;
  }
}

/** Python's `datetime.isoformat()` for an aware UTC datetime: `+00:00`, microseconds only when non-zero. */
export function isoformatUTC(d: Date, microsecond?: number): string {
  const micro = microsecond ?? d.getUTCMilliseconds() * 1000;
  const base =
    `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return `${base}${micro ? `.${pad(micro, 6)}` : ''}+00:00`;
}

/** A Python `datetime.date`. */
export class PyDate {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  constructor(isoformat: string) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(isoformat);
    if (!m) throw new ProtocolError('body', `not an ISO 8601 date: ${JSON.stringify(isoformat)}`);
    this.year = Number(m[1]);
    this.month = Number(m[2]);
    this.day = Number(m[3]);
    if (this.month < 1 || this.month > 12 || this.day < 1 || this.day > 31) {
      throw new ProtocolError('body', `invalid date: ${JSON.stringify(isoformat)}`);
    }
  }
  get isoformat(): string {
    return `${pad(this.year, 4)}-${pad(this.month)}-${pad(this.day)}`;
  }
  toJSON(): string {
    return this.isoformat;
  }
  toString(): string {
    return this.isoformat;
  }
}

/** A Python `datetime.time`, kept as the exact ISO text (`HH:MM:SS[.ffffff][+HH:MM]`). */
export class PyTime {
  readonly isoformat: string;
  constructor(isoformat: string) {
    if (!/^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2}(:?\d{2}(\.\d{1,6})?)?)?$/.test(isoformat)) {
      throw new ProtocolError('body', `not an ISO 8601 time: ${JSON.stringify(isoformat)}`);
    }
    this.isoformat = isoformat;
  }
  toJSON(): string {
    return this.isoformat;
  }
  toString(): string {
    return this.isoformat;
  }
}

/** A Python `decimal.Decimal`, kept as its exact decimal text (`str(d)`). */
export class Decimal {
  readonly value: string;
  constructor(value: string | number | bigint) {
    const text = String(value);
    if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?(Infinity|inf|NaN|sNaN)$/i.test(text)) {
      throw new ProtocolError('body', `not a decimal number: ${JSON.stringify(text)}`);
    }
    this.value = text;
  }
  toString(): string {
    return this.value;
  }
  toJSON(): string {
    return this.value;
  }
  /** Lossy conversion to a JS number. */
  toNumber(): number {
    return Number(this.value);
  }
}

/** A Python `uuid.UUID`. `toString()` gives the canonical hyphenated form. */
export class UUID {
  /** 32 lowercase hex digits. */
  readonly hex: string;
  constructor(value: string) {
    const hex = value.replace(/^urn:uuid:/i, '').replace(/[{}-]/g, '').toLowerCase();
    if (!/^[0-9a-f]{32}$/.test(hex)) throw new ProtocolError('body', `not a UUID: ${JSON.stringify(value)}`);
    this.hex = hex;
  }
  toString(): string {
    const h = this.hex;
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  toJSON(): string {
    return this.toString();
  }
}

/** Values that can appear in a decoded message body, result or header. */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Date
  | PyDate
  | PyTime
  | Decimal
  | UUID
  | PyValue[]
  | { [key: string]: PyValue };

/** A plain JSON-like object with Python-value leaves (a Python `dict` with `str` keys). */
export type PyDict = { [key: string]: PyValue };

/**
 * `obj[key] = value` that also works for the key `__proto__` (a plain key in Python, which an
 * assignment would take as the object's prototype instead).
 */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
