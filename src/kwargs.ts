/**
 * Keyword arguments in `delay`, as Python writes `add.delay(2, y=3)`:
 *
 *   await add.delay(2, kw({ y: 3 }));            // args [2], kwargs {y: 3}
 *   await add.applyAsync([2], { y: 3 });          // the same
 *
 * `kw()` marks its object so `delay` takes it as the keyword arguments, never as a positional
 * argument that happens to be an object.
 */
import type { PyDict } from '../protocol/values.ts';

const KWARGS = Symbol.for('celeriac.kwargs');

/** Keyword arguments for `delay` (see {@link kw}). */
export interface Kwargs<K extends object = PyDict> {
  readonly [KWARGS]: K;
}

/** Marks `kwargs` as the keyword arguments of a `delay` call: `task.delay(2, kw({ y: 3 }))`. */
export function kw<K extends object>(kwargs: K): Kwargs<K> {
  return Object.freeze({ [KWARGS]: kwargs }) as Kwargs<K>;
}

/** `delay`'s arguments as Python's (args, kwargs): a trailing {@link kw} object is the kwargs. */
export function splitKwargs(args: readonly unknown[]): [unknown[], PyDict] {
  const last = args[args.length - 1];
  if (typeof last === 'object' && last !== null && KWARGS in last) {
    return [args.slice(0, -1), (last as Kwargs)[KWARGS]];
  }
  return [args as unknown[], {}];
}
