/**
 * Python `json.dumps` text of a plain JSON value, written in one recursive pass — the hot path of the
 * producer (headers, properties and body of every message). The text is exactly
 * `pythonJsonText(JSON.stringify(value))` (see pyjson.ts) for every value `isPlainJson` accepts: the same
 * keys in the same order, `", "` / `": "` separators, `ensure_ascii` escapes, Python float exponents.
 * For anything else (Dates, bytes, bigints, non-finite numbers, class instances, functions, nesting
 * deeper than 64) it returns null and the caller takes the general kombu-JSON path.
 *
 * Rewriting JSON.stringify's output costs a scan of every character plus a cons string per separator;
 * writing the separators directly costs neither (2–3× less time for a task message's headers).
 */
import { pythonJsonString, pythonNumber } from './pyjson.ts';

/** The depth `isPlainJson` gives up at (json.ts): deeper values take the general path there too. */
const MAX_DEPTH = 64;
/** A string that JSON.stringify + ensure_ascii leave as `"<s>"`: no quote, backslash, control or non-ASCII. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;

/** `json.dumps(s)` of a string (Python's ensure_ascii). */
export function pythonJsonStr(s: string): string {
  return NEEDS_ESCAPE.test(s) ? pythonJsonString(s) : `"${s}"`;
}

/** `"<key>": ` by key: messages repeat the same keys (headers, properties), so each is escaped once. */
const KEY_TEXT = new Map<string, string>();
const KEY_TEXT_MAX = 4096;

/** `"<key>": ` as Python writes a member's key. */
export function pythonJsonKey(k: string): string {
  let t = KEY_TEXT.get(k);
  if (t === undefined) {
    t = `${pythonJsonStr(k)}: `;
    if (KEY_TEXT.size < KEY_TEXT_MAX) KEY_TEXT.set(k, t);
  }
  return t;
}

class NotPlain {}
const NOT_PLAIN = new NotPlain();

function write(v: unknown, depth: number): string {
  switch (typeof v) {
    case 'string':
      return pythonJsonStr(v);
    case 'number':
      if (!Number.isFinite(v)) throw NOT_PLAIN;
      return pythonNumber(String(v));
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (depth >= MAX_DEPTH) throw NOT_PLAIN;
      if (Array.isArray(v)) {
        // JSON.stringify would call an own toJSON (isPlainJson does not look for one on arrays)
        if (typeof (v as unknown as { toJSON?: unknown }).toJSON === 'function') throw NOT_PLAIN;
        const n = v.length;
        if (n === 0) return '[]';
        let out = '[';
        for (let i = 0; i < n; i++) {
          const x: unknown = v[i];
          if (i > 0) out += ', ';
          // JSON.stringify writes an undefined (or a hole) in an array as null
          out += x === undefined ? 'null' : write(x, depth + 1);
        }
        return out + ']';
      }
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw NOT_PLAIN;
      const o = v as Record<string, unknown>;
      let out = '{';
      let first = true;
      for (const k of Object.keys(o)) {
        const x = o[k];
        if (x === undefined) continue; // JSON.stringify leaves the key out
        if (first) first = false;
        else out += ', ';
        out += pythonJsonKey(k) + write(x, depth + 1);
      }
      return out + '}';
    }
    default:
      // undefined at the top, bigint, symbol, function
      throw NOT_PLAIN;
  }
}

/**
 * `json.dumps(value)` as Python writes it, or null when `value` is not plain JSON (see the module notes).
 * `depth`: how deep `value` sits in the value being written (the nesting limit counts from there).
 */
export function pythonJsonDumps(value: unknown, depth = 0): string | null {
  try {
    return write(value, depth);
  } catch (err) {
    if (err === NOT_PLAIN) return null;
    throw err;
  }
}
