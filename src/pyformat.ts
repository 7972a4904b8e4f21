/**
 * Python's `pprint.pformat(value, indent, width)` (sorted dict keys, the default) for the values celeriac's
 * settings hold, and Celery's `celery.utils.text.pretty`, which `conf.humanize()` (`celery report`, a
 * worker's `inspect report`, src/settings-report.ts) uses for each setting:
 * a dict is printed on the next line as `' ' + pformat(d, 4, 80)[1:]` (its `{` dropped, Celery's own
 * quirk), anything else as `pformat(v, width=50)`.
 *
 * Values: strings, numbers, booleans, null (`None`), arrays (lists), plain objects (dicts, keys sorted);
 * functions print as `<function name>` and anything else through Python's `repr` of its JSON form.
 * Approximation: a JS number with an integral value prints as an int (`5`, where Python may have `5.0`).
 */
import { pyRepr } from '../protocol/repr.ts';
import type { PyValue } from '../protocol/values.ts';
import { isPlainObject } from '../protocol/values.ts';

function isDict(v: unknown): v is Record<string, unknown> {
  return isPlainObject(v);
}

function sortedKeys(d: Record<string, unknown>): string[] {
  return Object.keys(d).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** `pprint`'s `_safe_repr`: Python's repr with dict keys sorted. */
export function safeRepr(v: unknown): string {
  if (v === undefined || v === null) return 'None';
  if (typeof v === 'function') return `<function ${v.name || '<lambda>'}>`;
  if (v instanceof RegExp) return `re.compile(${pyRepr(v.source)})`;
  if (Array.isArray(v)) return `[${v.map(safeRepr).join(', ')}]`;
  if (v instanceof Map) return safeRepr(Object.fromEntries(v));
  if (isDict(v)) return `{${sortedKeys(v).map((k) => `${pyRepr(k)}: ${safeRepr(v[k])}`).join(', ')}}`;
  if (typeof v === 'bigint') return String(v);
  try {
    return pyRepr(v as PyValue);
  } catch {
    return pyRepr(String(v));
  }
}

/** Python `str.splitlines(True)` for the line breaks JSON-ish settings hold. */
function splitLinesKeep(s: string): string[] {
  const out = s.match(/[^\n\r]*(?:\r\n|\n|\r|$)/g) ?? [s];
  if (out.length && out[out.length - 1] === '') out.pop();
  return out;
}

class Printer {
  readonly indentPerLevel: number;
  readonly width: number;
  out = '';
  constructor(indent: number, width: number) {
    this.indentPerLevel = indent;
    this.width = width;
  }

  format(v: unknown, indent: number, allowance: number, level: number): void {
    const rep = safeRepr(v);
    const maxWidth = this.width - indent - allowance;
    if (rep.length > maxWidth) {
      if (isDict(v) && Object.keys(v).length) return this.dict(v, indent, allowance, level + 1);
      if (Array.isArray(v) && v.length) return this.list(v, indent, allowance, level + 1);
      if (typeof v === 'string' && v.length) return this.str(v, rep, indent, allowance, level + 1);
    }
    this.out += rep;
  }

  private dict(d: Record<string, unknown>, indent: number, allowance: number, level: number): void {
    this.out += '{';
    if (this.indentPerLevel > 1) this.out += ' '.repeat(this.indentPerLevel - 1);
    const keys = sortedKeys(d);
    const inner = indent + this.indentPerLevel;
    const delim = ',\n' + ' '.repeat(inner);
    keys.forEach((k, i) => {
      const last = i === keys.length - 1;
      const rep = safeRepr(k);
      this.out += rep + ': ';
      this.format(d[k], inner + rep.length + 2, last ? allowance + 1 : 1, level);
      if (!last) this.out += delim;
    });
    this.out += '}';
  }

  private list(items: unknown[], indent: number, allowance: number, level: number): void {
    this.out += '[';
    const inner = indent + this.indentPerLevel;
    if (this.indentPerLevel > 1) this.out += ' '.repeat(this.indentPerLevel - 1);
    const delim = ',\n' + ' '.repeat(inner);
    items.forEach((item, i) => {
      const last = i === items.length - 1;
      if (i > 0) this.out += delim;
      this.format(item, inner, last ? allowance + 1 : 1, level);
    });
    this.out += ']';
  }

  /** `_pprint_str`: a long string as adjacent literals, split after whitespace, in parentheses at the top. */
  private str(s: string, whole: string, indent: number, allowance: number, level: number): void {
    const chunks: string[] = [];
    const lines = splitLinesKeep(s);
    if (level === 1) {
      indent += 1;
      allowance += 1;
    }
    let maxWidth1 = this.width - indent;
    const maxWidth = maxWidth1;
    lines.forEach((line, i) => {
      const rep = pyRepr(line);
      if (i === lines.length - 1) maxWidth1 -= allowance;
      if (rep.length <= maxWidth1) {
        chunks.push(rep);
        return;
      }
      const parts = line.match(/\S*\s*/g) ?? [];
      parts.pop();
      let maxWidth2 = maxWidth;
      let current = '';
      parts.forEach((part, j) => {
        const candidate = current + part;
        if (j === parts.length - 1 && i === lines.length - 1) maxWidth2 -= allowance;
        if (pyRepr(candidate).length > maxWidth2) {
          if (current) chunks.push(pyRepr(current));
          current = part;
        } else current = candidate;
      });
      if (current) chunks.push(pyRepr(current));
    });
    if (chunks.length === 1) {
      this.out += whole;
      return;
    }
    if (level === 1) this.out += '(';
    this.out += chunks.join('\n' + ' '.repeat(indent));
    if (level === 1) this.out += ')';
  }
}

/** `pprint.pformat(value, indent=indent, width=width)`. */
export function pformat(value: unknown, indent = 1, width = 80): string {
  const p = new Printer(indent, width);
  p.format(value, 0, 0, 0);
  return p.out;
}

/** Celery's `celery.utils.text.pretty(value, width)`: see the module notes. */
export function pretty(value: unknown, width = 80, nlWidth = 80): string {
  if (isDict(value)) return `\n ${pformat(value, 4, nlWidth).slice(1)}`;
  return pformat(value, 1, width);
}
