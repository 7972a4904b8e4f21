/**
 * The exact text Python's `json.dumps` writes (kombu's JSON serializer and its Redis envelope use the
 * defaults): `", "` and `": "` separators, `ensure_ascii` (everything outside printable ASCII as a
 * lowercase `\uXXXX` escape, astral characters as surrogate pairs) and `repr(float)` exponents.
 *
 * It rewrites the compact text `JSON.stringify` gives, in one pass, so what celeriac writes to Redis
 * (task messages, result records) is byte-for-byte what a Python process would have written for the
 * same values; `redis-cli` shows no difference. Two things cannot be known from a JavaScript value and
 * are left as JSON.stringify writes them: a float with an integral value (`1.0` in Python, `1` here)
 * and NaN/Infinity (written by the kombu replacer as Python does, not here).
 */

const NON_ASCII = /[\u007f-\uffff]/;
const NON_ASCII_G = /[\u007f-\uffff]/g;
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

function escapeChar(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * Python's `repr(float)` of a number JavaScript printed as `token`: Python switches to exponent form
 * below 1e-4 (JavaScript below 1e-6) and writes at least two exponent digits (`1e-07`, `1e+21`).
 */
export function pythonNumber(token: string): string {
  const e = token.indexOf('e');
  if (e >= 0) {
    const digits = token.slice(e + 2);
    return digits.length === 1 ? `${token.slice(0, e + 2)}0${digits}` : token;
  }
  // 0.00001 .. 0.0000999...: fixed notation in JavaScript, exponent notation in Python
  const start = token.charCodeAt(0) === 45 ? 1 : 0;
  if (token.startsWith('0.0000', start) && token.length > start + 6) {
    return pythonNumber(Number(token).toExponential());
  }
  return token;
}

/** Python `json.dumps` text of the value `JSON.stringify` wrote as `compact` (no whitespace in it). */
export function pythonJsonText(compact: string): string {
  let out = '';
  let last = 0;
  const n = compact.length;
  // numbers need a look only when one could differ: an exponent, or a fraction starting 0.0000
  const fixNumbers = compact.includes('e-') || compact.includes('e+') || compact.includes('0.0000');
  for (let i = 0; i < n; i++) {
    const c = compact.charCodeAt(i);
    if (c === 34) {
      // skip the string
      for (i++; i < n; i++) {
        const d = compact.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
    } else if (c === 44 || c === 58) {
      out += compact.slice(last, i + 1);
      out += ' ';
      last = i + 1;
    } else if (fixNumbers && (c === 45 || (c >= 48 && c <= 57))) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(compact);
      if (m) {
        const fixed = pythonNumber(m[0]);
        if (fixed !== m[0]) {
          out += compact.slice(last, i);
          out += fixed;
          last = i + m[0].length;
        }
        i += m[0].length - 1;
      }
    }
  }
  out = last === 0 ? compact : out + compact.slice(last);
  return NON_ASCII.test(out) ? out.replace(NON_ASCII_G, escapeChar) : out;
}

/** Python `json.dumps(s)` of one string. */
export function pythonJsonString(s: string): string {
  const out = JSON.stringify(s);
  return NON_ASCII.test(out) ? out.replace(NON_ASCII_G, escapeChar) : out;
}
