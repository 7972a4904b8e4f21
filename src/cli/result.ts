/**
 * `celeriac result <task-id>`: read (or `--wait` for) a task's result from the result backend and print
 * the value as kombu JSON. Shared with `celeriac call --wait`.
 *
 * Exit codes: 0 success; 1 the task failed or was revoked (stderr: `exc_type: message`); 2 a usage,
 * configuration or connection error; 3 not ready (without `--wait`) or the wait timed out.
 */
import type { Command } from 'commander';
import { CeleriacError } from '../../protocol/errors.ts';
import { PythonError } from '../../protocol/exceptions.ts';
import { resultValue, type ResultMeta } from '../../protocol/result.ts';
import { stringifyKombuJson } from '../../protocol/serialization/index.ts';
import { READY_STATES } from '../../protocol/states.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';
import { Celery } from '../app.ts';
import { createBroker } from '../brokers/index.ts';
import { safeUrl } from '../redis/url.ts';
import { ConfigurationError } from '../errors.ts';

export const EXIT_FAILED = 1;
export const EXIT_ERROR = 2;
export const EXIT_NOT_READY = 3;

/** Flags shared by `call` and `result`. */
export interface ConnectionFlags {
  broker?: string;
  resultBackend?: string;
}

/** An app from flags, else `CELERY_BROKER_URL` / `CELERY_RESULT_BACKEND`, else local Redis. */
export function appFromFlags(flags: ConnectionFlags): Celery {
  const env = { ...process.env };
  if (flags.broker) env.CELERY_BROKER_URL = flags.broker;
  if (flags.resultBackend) env.CELERY_RESULT_BACKEND = flags.resultBackend;
  // the command reports the final error itself; the transport's reconnect messages are noise here
  return new Celery({ env, createBroker: (url, transport) => createBroker(url, transport, { onError: () => undefined }) });
}

/** Seconds from a flag: a finite number >= 0. */
export function parseSeconds(flag: string, text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0) throw new ConfigurationError(`${flag} must be a number of seconds >= 0, got ${JSON.stringify(text)}`);
  return n;
}

/** Prints a READY record: the value on stdout (exit 0), or `exc_type: message` on stderr (exit 1). */
export function printOutcome(meta: ResultMeta, options: { meta?: boolean } = {}): number {
  if (options.meta) process.stdout.write(stringifyKombuJson(meta as unknown as PyDict) + '\n');
  const value = resultValue(meta);
  if (value instanceof PythonError) {
    process.stderr.write(`${value.excType}: ${value.reason}\n`);
    return EXIT_FAILED;
  }
  if (meta.status !== 'SUCCESS') {
    process.stderr.write(`task ${meta.task_id} is ${meta.status}\n`);
    return EXIT_FAILED;
  }
  if (!options.meta) process.stdout.write(stringifyKombuJson(value as PyValue) + '\n');
  return 0;
}

/** The message for an error of the CLI itself, with every URL in it redacted. */
export function describeError(err: unknown): string {
  const e = err as Error;
  const text = `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`;
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"'`,;)]+/gi, (url) => safeUrl(url));
}

/** Exit code and message for an error thrown while waiting or connecting. */
export function reportError(command: string, err: unknown): number {
  const e = err as Error;
  if (e?.name === 'TimeoutError' && e instanceof CeleriacError) {
    process.stderr.write(`celeriac ${command}: ${describeError(err)}\n`);
    return EXIT_NOT_READY;
  }
  process.stderr.write(`celeriac ${command}: ${describeError(err)}\n`);
  return EXIT_ERROR;
}

/**
 * Close the app, but never let a hanging close keep a finished command alive: after `graceMs` the
 * output is flushed and the process exits with the command's exit code.
 */
export async function closeApp(app: Celery | null, graceMs = 3000): Promise<void> {
  if (!app) return;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(true), graceMs);
  });
  const closed = app.close().then(() => false, () => false);
  const hung = await Promise.race([closed, timedOut]);
  clearTimeout(timer);
  if (hung) {
    process.stderr.write('', () => process.stdout.write('', () => process.exit(process.exitCode ?? 0)));
  }
}

/** Wait for (or read) a result and print it. Returns the exit code. */
export async function showResult(app: Celery, taskId: string, options: { wait?: boolean; timeout?: number; meta?: boolean }): Promise<number> {
  if (app.conf.resultBackend === null) {
    throw new ConfigurationError('no result backend: pass --result-backend URL or set CELERY_RESULT_BACKEND');
  }
  const backend = app.backend;
  let meta: ResultMeta;
  if (options.wait) {
    meta = await backend.waitForReady(taskId, options.timeout === undefined ? {} : { timeout: options.timeout });
  } else {
    meta = await backend.getTaskMeta(taskId);
    if (!READY_STATES.has(meta.status)) {
      if (options.meta) process.stdout.write(stringifyKombuJson(meta as unknown as PyDict) + '\n');
      process.stderr.write(`task ${taskId} is ${meta.status} (not ready; use --wait to wait for it)\n`);
      return EXIT_NOT_READY;
    }
  }
  return printOutcome(meta, { meta: options.meta ?? false });
}

interface ResultFlags extends ConnectionFlags {
  wait?: boolean;
  timeout?: string;
  meta?: boolean;
}

export function registerResult(program: Command): void {
  program
    .command('result')
    .description(
      "Print a task's result as JSON (kombu JSON). A failed task prints `exc_type: message` on stderr and exits 1; " +
        'a task that is not ready exits 3 (or use --wait).',
    )
    .argument('<task-id>', 'the task id')
    .option('--wait', 'wait until the task is ready')
    .option('--timeout <seconds>', 'with --wait: give up after this many seconds (exit 3)')
    .option('--meta', 'print the whole result record (status, result, traceback, children, date_done)')
    .option('--result-backend <url>', 'result backend URL (default: $CELERY_RESULT_BACKEND)')
    .action(async (taskId: string, flags: ResultFlags) => {
      let app: Celery | null = null;
      try {
        app = appFromFlags(flags);
        const timeout = flags.timeout === undefined ? undefined : parseSeconds('--timeout', flags.timeout);
        const opts: { wait?: boolean; timeout?: number; meta?: boolean } = { wait: flags.wait ?? false, meta: flags.meta ?? false };
        if (timeout !== undefined) opts.timeout = timeout;
        process.exitCode = await showResult(app, taskId, opts);
      } catch (err) {
        process.exitCode = reportError('result', err);
      } finally {
        await closeApp(app);
      }
    });
}
