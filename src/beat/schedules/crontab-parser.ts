/**
 * Celery's `crontab_parser` (celery/schedules.py) and the Python behaviour it leans on, ported exactly:
 * `int()` (signs, surrounding spaces, `_` between digits, any Unicode decimal digit), `weekday()` and
 * `yearmonth()` (celery/utils/time.py: the first three letters, any case; months are tried first),
 * `re.match` (anchored at the start only, Unicode `\w`) and list slicing with a step. The errors carry
 * Celery's texts, with the Python exception class as their `name`.
 */

/** The error a crontab field raises: `name` is Python's class (`ValueError`, `ParseException`, `TypeError`). */
export class CronParseError extends Error {
  readonly kind: 'ValueError' | 'ParseException' | 'TypeError' | 'RuntimeError';
  constructor(kind: CronParseError['kind'], message: string) {
    super(message);
    this.kind = kind;
    this.name = kind;
  }
}

const DAYNAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MONTHNAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** Python's `s[0:3].lower()` (code points, not UTF-16 units). */
function abbreviation(s: string): string {
  return Array.from(s).slice(0, 3).join('').toLowerCase();
}

/** Celery's `weekday(name)`: 0 (Sunday) .. 6, or undefined (Python's KeyError). */
export function weekday(name: string): number | undefined {
  const i = DAYNAMES.indexOf(abbreviation(name));
  return i < 0 ? undefined : i;
}

/** Celery's `yearmonth(name)`: 1 .. 12, or undefined. */
export function yearmonth(name: string): number | undefined {
  const i = MONTHNAMES.indexOf(abbreviation(name));
  return i < 0 ? undefined : i + 1;
}

const ND = /^\p{Nd}$/u;

/** Value of a Unicode decimal digit: digits come in runs of ten from zero. */
function digitValue(ch: string): number {
  let cp = ch.codePointAt(0)!;
  if (cp >= 48 && cp <= 57) return cp - 48;
  let start = cp;
  while (ND.test(String.fromCodePoint(start - 1))) start--;
  return (cp - start) % 10;
}

const PY_INT = /^\s*([+-]?)(\p{Nd}+(?:_\p{Nd}+)*)\s*$/u;

/** Python's `int(s)` for a str as its decimal text (`'-12'`), or undefined where Python raises ValueError. */
export function pyIntText(s: string): string | undefined {
  const m = PY_INT.exec(s);
  if (!m) return undefined;
  const digits = Array.from(m[2]!.replace(/_/g, ''));
  if (digits.length > 4300) return undefined; // sys.int_info.str_digits_check_threshold
  const text = digits.map(digitValue).join('').replace(/^0+(?=\d)/, '');
  return m[1] === '-' && text !== '0' ? '-' + text : text;
}

/** Python's `int(s)` for a str, or undefined where Python raises ValueError. */
export function pyInt(s: string): number | undefined {
  const t = pyIntText(s);
  return t === undefined ? undefined : Number(t);
}

/** Python's `repr(str)`. */
export function pyRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp !== 0x20 && /[\p{C}\p{Z}]/u.test(ch)) {
      out += cp < 0x100 ? '\\x' + cp.toString(16).padStart(2, '0')
        : cp < 0x10000 ? '\\u' + cp.toString(16).padStart(4, '0') : '\\U' + cp.toString(16).padStart(8, '0');
    } else out += ch;
  }
  return out + quote;
}

// Celery's patterns, with Python's Unicode \w; matched at the start only (re.match)
const W = '[\\p{L}\\p{N}_]';
const RANGE = `(${W}+?)-(${W}+)`;
const STEPS = `/(${W}+)?`;
const RANGE_STEPS_RE = new RegExp(`^${RANGE}${STEPS}`, 'u');
const RANGE_RE = new RegExp(`^${RANGE}`, 'u');
const STAR_STEPS_RE = new RegExp(`^\\*${STEPS}`, 'u');

/** Python's `int(tok)` for a slice step, raising as Python does. */
function stepOf(tok: string): number {
  const n = pyInt(tok);
  if (n === undefined) throw new CronParseError('ValueError', `invalid literal for int() with base 10: ${pyRepr(tok)}`);
  if (n === 0) throw new CronParseError('ValueError', 'slice step cannot be zero');
  return n;
}

/** `list[::step]` */
function every<T>(xs: T[], step: number): T[] {
  const out: T[] = [];
  if (step > 0) for (let i = 0; i < xs.length; i += step) out.push(xs[i]!);
  else for (let i = xs.length - 1; i >= 0; i += step) out.push(xs[i]!);
  return out;
}

/** Celery's `crontab_parser(max_, min_)`: `parse(spec)` expands a field into its set of numbers. */
export class CrontabParser {
  constructor(readonly max: number = 60, readonly min: number = 0) {}

  parse(spec: string): Set<number> {
    const acc = new Set<number>();
    for (const part of spec.split(',')) {
      if (!part) throw new CronParseError('ParseException', 'empty part');
      for (const n of this.parsePart(part)) acc.add(n);
    }
    return acc;
  }

  private parsePart(part: string): number[] {
    let m = RANGE_STEPS_RE.exec(part);
    if (m) {
      if (!m[3]) throw new CronParseError('ParseException', 'empty filter');
      const range = this.expandRange(m[1]!, m[2]!);
      return every(range, stepOf(m[3]));
    }
    m = RANGE_RE.exec(part);
    if (m) return this.expandRange(m[1]!, m[2]!);
    m = STAR_STEPS_RE.exec(part);
    if (m) {
      if (!m[1]) throw new CronParseError('ParseException', 'empty filter');
      return every(this.expandStar(), stepOf(m[1]));
    }
    if (part === '*') return this.expandStar();
    return this.expandRange(part);
  }

  private expandRange(first: string, last?: string): number[] {
    const fr = this.expandNumber(first);
    if (last === undefined) return [fr];
    const to = this.expandNumber(last);
    const out: number[] = [];
    if (to < fr) {
      // wraps around max_
      for (let i = fr; i < this.min + this.max; i++) out.push(i);
      for (let i = this.min; i <= to; i++) out.push(i);
    } else for (let i = fr; i <= to; i++) out.push(i);
    return out;
  }

  private expandStar(): number[] {
    const out: number[] = [];
    for (let i = this.min; i < this.max + this.min; i++) out.push(i);
    return out;
  }

  private expandNumber(s: string): number {
    if (s[0] === '-') throw new CronParseError('ParseException', 'negative numbers not supported');
    const text = pyIntText(s);
    const i = text !== undefined ? Number(text) : yearmonth(s) ?? weekday(s);
    if (i === undefined) throw new CronParseError('ValueError', `Invalid weekday literal ${pyRepr(s)}.`);
    const shown = text ?? String(i);
    const maxVal = this.min + this.max - 1;
    if (i > maxVal) throw new CronParseError('ValueError', `Invalid end range: ${shown} > ${maxVal}.`);
    if (i < this.min) throw new CronParseError('ValueError', `Invalid beginning range: ${shown} < ${this.min}.`);
    return i;
  }
}
