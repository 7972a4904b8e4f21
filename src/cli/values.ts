/**
 * Option values from the command line: each parser names the option and what it accepts when the
 * value is wrong (a {@link UsageError}: exit status 64).
 */
import { parseKombuJson } from '../../protocol/serialization/index.ts';
import type { PyValue } from '../../protocol/values.ts';
import { LOG_LEVELS, parseLogLevel, type LogLevel } from '../worker/log.ts';
import { UsageError } from './exit.ts';

/** Seconds: a finite number >= 0. */
export function parseSeconds(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`${flag} must be a number of seconds >= 0, got ${JSON.stringify(text)}`);
  return n;
}

/** An integer >= `min`. */
export function parseInteger(flag: string, text: string, min: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
  return n;
}

/** A number >= `min`. */
export function parseNumber(flag: string, text: string, min: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min) throw new UsageError(`${flag} must be a number >= ${min}, got ${JSON.stringify(text)}`);
  return n;
}

/** JSON as kombu reads it (big integers exact, kombu's type tags). */
export function parseJson(flag: string, text: string): PyValue {
  try {
    return parseKombuJson(text);
  } catch (err) {
    throw new UsageError(`${flag} must be JSON: ${(err as Error).message.replace(/^body: /, '')}`, { cause: err });
  }
}

/** One of `choices` (case-insensitive). */
export function parseChoice<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  const found = choices.find((c) => c === text.toLowerCase());
  if (!found) throw new UsageError(`${flag} must be one of ${choices.join(', ')}, got ${JSON.stringify(text)}`);
  return found;
}

const LEVEL_NAMES: readonly string[] = [...Object.keys(LOG_LEVELS), 'warn', 'fatal'];

/** `-l/--loglevel` as Celery reads it (any case; `warn` and `fatal` as aliases, which parseLogLevel maps). */
export function parseLoglevel(text: string): LogLevel {
  return parseLogLevel(parseChoice('-l/--loglevel', text, LEVEL_NAMES));
}
