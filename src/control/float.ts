/**
 * Python floats with an integral value (`10.0`) through JSON. JavaScript has one number type, so
 * `JSON.parse('10.0')` and `10` are the same value and write back as `10`; `celery control time_limit
 * TASK 10` sends `10.0` (it converts with `float()`) and a worker's `stats` or `conf` reply says
 * `120.0` and `10.0`, which `celery inspect` prints so. {@link PyFloat} marks such a value, and the two
 * functions here read and write JSON keeping it: what the CLI commands use to print exactly what
 * Celery prints. The programmatic API (`app.control`) gives plain numbers.
 */
import { randomBytes } from 'node:crypto';
import { encodeKombuJson, parseKombuJson } from '../../protocol/serialization/index.ts';
import { pyFloatRepr } from '../../protocol/repr.ts';
import { isPlainObject, type PyValue } from '../../protocol/values.ts';

/** A Python `float` (on the wire `10.0`, never `10`). */
export class PyFloat {
  constructor(readonly value: number) {}
  valueOf(): number {
    return this.value;
  }
  /** Python's `repr(float)`: `10.0`, `1e+16`, `inf`. */
  toString(): string {
    return pyFloatRepr(this.value);
  }
}

/** The JSON text Python's `json.dumps` writes for a float (`10.0`, `Infinity`, `NaN`). */
export function floatJson(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  return pyFloatRepr(x);
}

/** Values as decoded or to encode: PyValue with {@link PyFloat} anywhere in it. */
export type FloatValue = PyValue | PyFloat | FloatValue[] | { [key: string]: FloatValue };

function mapDeep(v: unknown, f: (x: unknown) => unknown): unknown {
  const r = f(v);
  if (r !== v) return r;
  if (Array.isArray(v)) return v.map((x) => mapDeep(x, f));
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = mapDeep(x, f);
    return out;
  }
  return v;
}

/** kombu JSON of `value`, every {@link PyFloat} written as Python writes a float. */
export function encodeJsonWithFloats(value: FloatValue): Uint8Array {
  const nonce = randomBytes(6).toString('hex');
  const floats: number[] = [];
  const marked = mapDeep(value, (x) => (x instanceof PyFloat ? `\u0000${nonce}:${floats.push(x.value) - 1}` : x)) as PyValue;
  let text = new TextDecoder().decode(encodeKombuJson(marked));
  if (floats.length) text = text.replace(new RegExp(`"\\\\u0000${nonce}:(\\d+)"`, 'g'), (_, i: string) => floatJson(floats[Number(i)]!));
  return new TextEncoder().encode(text);
}

const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/**
 * kombu JSON text parsed as {@link parseKombuJson} does, except that a number written as a float
 * (`10.0`, `1e3`) whose value is integral comes back as a {@link PyFloat}.
 */
export function parseJsonWithFloats(text: string): FloatValue {
  const nonce = `\u0000${randomBytes(6).toString('hex')}:`;
  let out = '';
  let last = 0;
  let marked = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92) i++;
        else if (d === 34) break;
      }
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m) continue;
      const token = m[0];
      if (/[.eE]/.test(token) && Number.isInteger(Number(token))) {
        out += text.slice(last, i) + JSON.stringify(nonce + token);
        last = i + token.length;
        marked = true;
      }
      i += token.length - 1;
    }
  }
  if (!marked) return parseKombuJson(text);
  const parsed = parseKombuJson(out + text.slice(last));
  return mapDeep(parsed, (x) => (typeof x === 'string' && x.startsWith(nonce) ? new PyFloat(Number(x.slice(nonce.length))) : x)) as FloatValue;
}

/** {@link FloatValue} with every {@link PyFloat} back to a plain number. */
export function plainNumbers(value: FloatValue): PyValue {
  return mapDeep(value, (x) => (x instanceof PyFloat ? x.value : x)) as PyValue;
}
