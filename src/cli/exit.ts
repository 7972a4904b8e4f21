/**
 * Exit statuses and error lines of every `celeriac` command.
 *
 * The statuses are the BSD `sysexits.h` codes Celery's own commands use (`celery/platforms.py`:
 * `EX_FAILURE`, `EX_USAGE`, `EX_UNAVAILABLE`, ...), so scripts can tell a mistake on the command line
 * from a broker that is down or a task that failed:
 *
 * | status | name           | when                                                              |
 * |--------|----------------|-------------------------------------------------------------------|
 * | 0      | EX_OK          | done                                                              |
 * | 1      | EX_FAILURE     | the task failed or was revoked (`call --wait`, `result`)          |
 * | 64     | EX_USAGE       | a wrong option, argument or value on the command line             |
 * | 65     | EX_DATAERR     | the input is not a message (`decode`)                             |
 * | 66     | EX_NOINPUT     | the `-A` / `--config` module does not exist                       |
 * | 69     | EX_UNAVAILABLE | the broker or result backend cannot be reached; nothing replied    |
 * | 70     | EX_SOFTWARE    | an unexpected error (a bug: rerun with `--traceback`, report it)  |
 * | 75     | EX_TEMPFAIL    | the result is not ready yet, or the wait for it timed out         |
 * | 78     | EX_CONFIG      | the app or its settings are wrong (bad setting, no app exported)  |
 *
 * An error is printed as one line, `celeriac <command>: <Name>: <message>`, with every URL's password
 * redacted; the stack trace only with `--traceback` or `-l debug`.
 */
import { CeleriacError, ProtocolError } from '../../protocol/errors.ts';
import { ConfigurationError, isConnectionError } from '../errors.ts';
import { safeUrl } from '../redis/url.ts';

export const EX_OK = 0;
export const EX_FAILURE = 1;
export const EX_USAGE = 64;
export const EX_DATAERR = 65;
export const EX_NOINPUT = 66;
export const EX_UNAVAILABLE = 69;
export const EX_SOFTWARE = 70;
export const EX_TEMPFAIL = 75;
export const EX_CONFIG = 78;

/** A mistake on the command line: the message names the option and what it accepts. */
export class UsageError extends ConfigurationError {
  override name = 'UsageError';
  override readonly code = 'EUSAGE';
}

/** An error that carries the exit status it should end the command with. */
export interface WithExitCode {
  exitCode: number;
}

function hasExitCode(err: unknown): err is WithExitCode {
  return typeof (err as WithExitCode | null)?.exitCode === 'number';
}

/** The exit status an error ends a command with (see the table above). */
export function exitCodeFor(err: unknown): number {
  if (hasExitCode(err)) return err.exitCode;
  const e = err as (Error & { code?: unknown; kind?: unknown }) | null;
  if (e instanceof UsageError) return EX_USAGE;
  if (e?.name === 'AppLoadError' && e.kind === 'not-found') return EX_NOINPUT;
  if (e?.name === 'TimeoutError' && e instanceof CeleriacError) return EX_TEMPFAIL;
  if (e instanceof ConfigurationError) return EX_CONFIG;
  if (isConnectionError(err) || e?.name === 'OperationalError' || e?.name === 'BrokerConnectionError') return EX_UNAVAILABLE;
  if (e instanceof ProtocolError) return EX_DATAERR;
  if (e instanceof CeleriacError && /^Broker|Unroutable/.test(e.name)) return EX_UNAVAILABLE;
  return EX_SOFTWARE;
}

/** `Name: message` of an error, with every URL in it redacted. */
export function describeError(err: unknown): string {
  const e = err as Error | null;
  const text = e instanceof Error ? `${e.name}: ${e.message}` : String(err);
  return redactUrls(text);
}

/** Every `scheme://user:password@host` in a text, password replaced by `**`. */
export function redactUrls(text: string): string {
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'`,;)]+/gi, (url) => safeUrl(url));
}

/** Where {@link reportError} writes, and whether it adds stack traces. */
export interface ReportOptions {
  /** Print the stack (and its causes) after the line: `--traceback` or `-l debug`. */
  traceback?: boolean;
  stream?: { write(text: string): unknown };
}

/**
 * Prints `celeriac <command>: <Name>: <message>` (one line; the stack only with `traceback`) and
 * returns the exit status for the error.
 */
export function reportError(command: string, err: unknown, options: ReportOptions = {}): number {
  const out = options.stream ?? process.stderr;
  const code = exitCodeFor(err);
  let line = `celeriac ${command}: ${describeError(err)}`;
  if (code === EX_SOFTWARE && !options.traceback) line += ' (an unexpected error: rerun with --traceback for the stack trace)';
  out.write(line + '\n');
  if (options.traceback) out.write(redactUrls(stackOf(err)) + '\n');
  return code;
}

/** The stack of an error and of each of its causes. */
function stackOf(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    parts.push(depth === 0 ? String((e as Error).stack ?? e) : `Caused by: ${String((e as Error).stack ?? e)}`);
    const next = (e as Error).cause;
    if (next === e) break;
    e = next;
  }
  return parts.join('\n');
}
