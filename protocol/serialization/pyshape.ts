/**
 * Python `json.dumps` text of the members of objects that keep the same shape: the same keys in the
 * same order, most values the same as last time (the headers and properties of the task messages a
 * producer sends). A {@link ShapeText} remembers the last shape as text segments between the values
 * that change (ids, reprs); an object of that shape is then checked key by key (no allocation) and
 * written as those segments around its changing values, instead of member by member.
 *
 * The text is always exactly what `pythonJsonDumps` writes for the same members: a value is reused only
 * when it is equal (`===`, or a short list of such values, or `{}`) to the one the segments were written
 * from. Anything else (another shape, an undefined member, a value that is not plain JSON) returns null,
 * and the caller takes the general path.
 */
import { pythonJsonDumps, pythonJsonKey } from './pywrite.ts';

/** A value whose text a segment may hold: compared with `===` (or element by element, for lists). */
function isFixable(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object':
      if (v === null) return true;
      if (Array.isArray(v)) return v.length <= 4 && typeof (v as { toJSON?: unknown }).toJSON !== 'function' && v.every(isScalar);
      return isEmptyPlain(v);
    default:
      return false;
  }
}

function isScalar(v: unknown): boolean {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

function isEmptyPlain(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const _ in v) return false;
  return true;
}

/** Whether `v` writes the same text as `fixed` (a value {@link isFixable} accepted). */
function same(v: unknown, fixed: unknown): boolean {
  if (v === fixed) return true;
  if (typeof fixed !== 'object' || fixed === null || typeof v !== 'object' || v === null) return false;
  if (Array.isArray(fixed)) {
    if (!Array.isArray(v) || v.length !== fixed.length || typeof (v as { toJSON?: unknown }).toJSON === 'function') return false;
    for (let i = 0; i < v.length; i++) if (v[i] !== fixed[i]) return false;
    return true;
  }
  return !Array.isArray(v) && isEmptyPlain(v);
}

/** How many changing keys a {@link ShapeText} remembers (then it starts over: custom header names are many). */
const MAX_CHANGING = 256;
/** How many shapes a {@link ShapeText} remembers (e.g. messages with and without custom headers). */
const MAX_SHAPES = 4;

const VARYING: unique symbol = Symbol('varying');
const SKIPPED: unique symbol = Symbol('skipped');

/** One remembered shape: its keys, and the text between the values that change. */
interface Shape {
  /** Keys, in order (skipped keys included: they are matched, not written). */
  readonly keys: readonly string[];
  /** Per key: the value its segment holds, VARYING (written each time) or SKIPPED. */
  readonly fixed: readonly unknown[];
  /** Indexes (in `keys`) of the varying members, in order. */
  readonly varying: readonly number[];
  /** `segments[j]` comes before the j-th varying value; the last one ends the text. */
  readonly segments: readonly string[];
}

/** Whether `o` has the keys of `shape`, in order, and the values its segments hold. */
function matches(shape: Shape, o: Record<string, unknown>): boolean {
  const { keys, fixed } = shape;
  const n = keys.length;
  let i = 0;
  for (const k in o) {
    if (i === n || k !== keys[i]) return false;
    const v = o[k];
    if (v === undefined) return false;
    const f = fixed[i++];
    if (f !== VARYING && f !== SKIPPED && !same(v, f)) return false;
  }
  return i === n;
}

export class ShapeText {
  /** Most recently used first. */
  #shapes: Shape[] = [];
  /** Keys seen with another value than a segment held: written each time from then on. */
  readonly #changing = new Set<string>();
  readonly #skip: ReadonlySet<string> | null;
  /** Objects in a row that matched no remembered shape. */
  #misses = 0;

  /** `skip`: keys whose members are left out of the text (matched, never written). */
  constructor(skip: readonly string[] = []) {
    this.#skip = skip.length ? new Set(skip) : null;
  }

  /**
   * `"k1": v1, "k2": v2` (no braces) for the own enumerable members of `obj` but the skipped ones, as
   * `pythonJsonDumps(obj)` writes them; null when a member is undefined or not plain JSON, or `obj` is
   * not a plain object.
   */
  members(obj: object): string | null {
    const proto: unknown = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) return null;
    const o = obj as Record<string, unknown>;
    const shapes = this.#shapes;
    let shape: Shape | null = null;
    for (let i = 0; i < shapes.length; i++) {
      if (matches(shapes[i]!, o)) {
        shape = shapes[i]!;
        if (i > 0) {
          shapes.splice(i, 1);
          shapes.unshift(shape);
        }
        break;
      }
    }
    if (shape !== null) this.#misses = 0;
    else {
      // objects that never repeat a shape: learning each would cost more than writing it (the caller's
      // general path); after a run of misses, only every 16th is learned
      if (++this.#misses > 8 && this.#misses % 16 !== 0) return null;
      shape = this.#learn(o);
      if (shape === null) return null;
    }
    const { keys, varying, segments } = shape;
    let out = segments[0]!;
    for (let j = 0; j < varying.length; j++) {
      const text = pythonJsonDumps(o[keys[varying[j]!]!], 1);
      if (text === null) return null;
      out += text;
      out += segments[j + 1]!;
    }
    return out;
  }

  /** Remembers the shape of `o`; null when it cannot be kept (the caller then writes `o` in general). */
  #learn(o: Record<string, unknown>): Shape | null {
    const keys = Object.keys(o);
    const skip = this.#skip;
    const last = this.#shapes[0];
    const fixed: unknown[] = [];
    if (this.#changing.size > MAX_CHANGING) this.#changing.clear();
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const v = o[k];
      if (v === undefined) return null;
      if (skip?.has(k)) {
        fixed.push(SKIPPED);
        continue;
      }
      // a key that held another value at the same place last time is one that changes
      const before = last?.keys[i] === k ? last.fixed[i] : VARYING;
      if (before !== VARYING && before !== SKIPPED && !same(v, before)) this.#changing.add(k);
      fixed.push(isFixable(v) && !this.#changing.has(k) ? v : VARYING);
    }
    const segments: string[] = [];
    const varying: number[] = [];
    let seg = '';
    for (let i = 0; i < keys.length; i++) {
      const f = fixed[i];
      if (f === SKIPPED) continue;
      if (seg !== '' || segments.length > 0) seg += ', ';
      seg += pythonJsonKey(keys[i]!);
      if (f === VARYING) {
        segments.push(seg);
        varying.push(i);
        seg = '';
      } else {
        const text = pythonJsonDumps(f, 1);
        if (text === null) return null;
        seg += text;
      }
    }
    segments.push(seg);
    const shape: Shape = { keys, fixed, varying, segments };
    this.#shapes.unshift(shape);
    if (this.#shapes.length > MAX_SHAPES) this.#shapes.pop();
    return shape;
  }
}
