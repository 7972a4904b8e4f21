/**
 * What crosses between the worker's main thread and a pool slot (a `worker_threads` Worker): task
 * arguments, return values and errors.
 *
 * Values go by the structured clone algorithm, which keeps Date, Uint8Array, bigint, arrays and plain
 * objects but drops class prototypes: the Python value classes of protocol/values.ts (PyDateTime,
 * PyDate, PyTime, Decimal, UUID) are tagged on the way out and rebuilt on the way in, so a task sees
 * the same arguments in a slot as on the main thread, and the backend stores the same result.
 *
 * An error goes as the exception dict Celery stores (`exc_type`, `exc_message`, `exc_module`: what
 * `exceptionToInfo` makes of it in the slot, where its class is known) plus the Python-style
 * traceback formatted in the slot (src/worker/traceback.ts reads the task's source there); the main
 * thread rebuilds it with `exceptionFromInfo`, so Celery's own exceptions (Reject, Ignore, Retry, ...)
 * come back as their classes and the stored FAILURE is what the async pool stores.
 */
import { exceptionFromInfo, exceptionToInfo, type ExceptionInfo, type PythonError } from '../../../protocol/exceptions.ts';
import { Decimal, PyDate, PyDateTime, PyTime, UUID } from '../../../protocol/values.ts';
import { formatTraceback } from '../traceback.ts';

const TAG = '__celeriac_pool__';

type Tagged = { [TAG]: string; v: unknown };

const CLASSES: Record<string, { prototype: object }> = { PyDate, PyTime, Decimal, UUID };

/** A value ready for postMessage. */
export function encodeValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof PyDateTime) return { [TAG]: 'PyDateTime', v: value.isoformat };
  if (value instanceof Date || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(encodeValue);
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== Object.prototype && proto !== null) {
    for (const [name, C] of Object.entries(CLASSES)) if (proto === C.prototype) return { [TAG]: name, v: { ...value } };
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: encodeValue(v), enumerable: true, writable: true, configurable: true });
  return out;
}

/** The value {@link encodeValue} encoded. */
export function decodeValue(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || value instanceof Date || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(decodeValue);
  const tag = (value as Tagged)[TAG];
  if (typeof tag === 'string') {
    const v = (value as Tagged).v;
    if (tag === 'PyDateTime') return new PyDateTime(v as string);
    const C = CLASSES[tag];
    if (C) return Object.assign(Object.create(C.prototype) as object, v);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: decodeValue(v), enumerable: true, writable: true, configurable: true });
  return out;
}

/** An error as it crosses: Celery's exception dict and the traceback text. */
export interface TransferredError {
  info: ExceptionInfo;
  traceback: string;
}

export function encodeError(err: unknown): TransferredError {
  const info = exceptionToInfo(err);
  return { info: { ...info, exc_message: encodeValue(info.exc_message) as ExceptionInfo['exc_message'] }, traceback: formatTraceback(err) };
}

export function decodeError(e: TransferredError): PythonError {
  const info = { ...e.info, exc_message: decodeValue(e.info.exc_message) as ExceptionInfo['exc_message'] };
  return exceptionFromInfo(info, e.traceback);
}
