/**
 * Celery task states (`celery/states.py`, Celery 5.6).
 *
 * Custom states (e.g. `PROGRESS` from `update_state`) are plain strings; they rank like Python's
 * `None` entry in `PRECEDENCE`: below SUCCESS/FAILURE, above every other built-in state.
 */

export const PENDING = 'PENDING';
export const RECEIVED = 'RECEIVED';
export const STARTED = 'STARTED';
export const SUCCESS = 'SUCCESS';
export const FAILURE = 'FAILURE';
export const REVOKED = 'REVOKED';
export const REJECTED = 'REJECTED';
export const RETRY = 'RETRY';
export const IGNORED = 'IGNORED';

/** The built-in state names. Any other string is a custom state. */
export type BuiltinState =
  | typeof PENDING
  | typeof RECEIVED
  | typeof STARTED
  | typeof SUCCESS
  | typeof FAILURE
  | typeof REVOKED
  | typeof REJECTED
  | typeof RETRY
  | typeof IGNORED;

export const READY_STATES: ReadonlySet<string> = new Set([SUCCESS, FAILURE, REVOKED]);
export const UNREADY_STATES: ReadonlySet<string> = new Set([PENDING, RECEIVED, STARTED, REJECTED, RETRY]);
export const EXCEPTION_STATES: ReadonlySet<string> = new Set([RETRY, FAILURE, REVOKED]);
export const PROPAGATE_STATES: ReadonlySet<string> = new Set([FAILURE, REVOKED]);
/** `celery.states.ALL_STATES` (note: Celery leaves REJECTED and IGNORED out of it). */
export const ALL_STATES: ReadonlySet<string> = new Set([PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, RETRY, REVOKED]);

/** `celery.states.PRECEDENCE`; `null` stands for any unknown (custom) state. Lower index = higher precedence. */
export const PRECEDENCE: readonly (string | null)[] = [
  SUCCESS,
  FAILURE,
  null,
  REVOKED,
  STARTED,
  RECEIVED,
  REJECTED,
  RETRY,
  PENDING,
];

const NONE_PRECEDENCE = PRECEDENCE.indexOf(null);

/** Precedence index of a state (lower = higher precedence); unknown/custom states get the index of `None` (2). */
export function precedence(state: string): number {
  const i = PRECEDENCE.indexOf(state);
  return i < 0 ? NONE_PRECEDENCE : i;
}

/**
 * Compare two states the way `celery.states.state` does: positive when `a` ranks higher than `b`
 * (`state(a) > state(b)`), negative when lower, 0 when equal precedence.
 */
export function compareStates(a: string, b: string): number {
  return precedence(b) - precedence(a);
}

/** True for SUCCESS, FAILURE and REVOKED. */
export function isReady(state: string): boolean {
  return READY_STATES.has(state);
}

/** True for RETRY, FAILURE and REVOKED (the `result` field holds an exception). */
export function isExceptionState(state: string): boolean {
  return EXCEPTION_STATES.has(state);
}

/** True for FAILURE and REVOKED (`AsyncResult.get()` raises). */
export function isPropagating(state: string): boolean {
  return PROPAGATE_STATES.has(state);
}
