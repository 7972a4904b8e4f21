/**
 * `celeriac result <task-id>`: read (or `--wait` for) a task's result from the app's result backend
 * and print the value as kombu JSON (Celery's `celery result`). Shared with `celeriac call --wait`.
 *
 *   celeriac -A ./tasks.ts result 0b2f... --wait --timeout 10
 *
 * Exit statuses (src/cli/exit.ts): 0 success; 1 the task failed or was revoked (stderr: `exc_type:
 * message`, with `--traceback` the task's traceback instead); 75 not ready (without `--wait`) or the
 * wait timed out; 64 a wrong option; 69 the backend cannot be reached; 78 the app or a setting is wrong.
 */
import type { Command } from 'commander';
import { PythonError } from '../../protocol/exceptions.ts';
import { resultValue, type ResultMeta } from '../../protocol/result.ts';
import { stringifyKombuJson } from '../../protocol/serialization/index.ts';
import { READY_STATES } from '../../protocol/states.ts';
import type { PyDict, PyValue } from '../../protocol/values.ts';
import type { Celery } from '../app.ts';
import { ConfigurationError } from '../errors.ts';
import { appForCommand, globalsOf } from './context.ts';
import { EX_FAILURE, EX_OK, EX_TEMPFAIL, reportError, UsageError } from './exit.ts';
import { createStateReporter } from './progress.ts';
import { parseSeconds } from './values.ts';

/** How a READY record is printed. */
export interface OutcomeOptions {
  /** Print the whole record instead of the value. */
  meta?: boolean;
  /** A failed task's traceback on stderr instead of `exc_type: message`. */
  traceback?: boolean;
}

/** Prints a READY record: the value on stdout (exit 0), or `exc_type: message` on stderr (exit 1). */
export function printOutcome(meta: ResultMeta, options: OutcomeOptions = {}): number {
  if (options.meta) process.stdout.write(stringifyKombuJson(meta as unknown as PyDict) + '\n');
  const value = resultValue(meta);
  if (value instanceof PythonError) {
    // the task's traceback ends with its own `module.ExcType: message` line
    if (options.traceback && value.traceback) process.stderr.write(value.traceback.replace(/\n?$/, '\n'));
    else process.stderr.write(`${value.excType}: ${value.reason}\n`);
    return EX_FAILURE;
  }
  if (meta.status !== 'SUCCESS') {
    process.stderr.write(`task ${meta.task_id} is ${meta.status}\n`);
    return EX_FAILURE;
  }
  if (!options.meta) process.stdout.write(stringifyKombuJson(value as PyValue) + '\n');
  return EX_OK;
}

/**
 * Close the app, but never let a hanging close keep a finished command alive: after `graceMs` the
 * output is flushed and the process exits with the command's exit status.
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

/** The error for a command that needs results from an app that keeps none. */
export function noBackend(what: string): ConfigurationError {
  return new ConfigurationError(
    `${what} needs a result backend: set result_backend in the app (-A) or its config module (--config), ` +
      'or pass --result-backend URL, or set CELERY_RESULT_BACKEND',
  );
}

export interface ShowResultOptions extends OutcomeOptions {
  wait?: boolean;
  /** Seconds; with `wait`. */
  timeout?: number;
  /** With `wait`: do not show the task's states on stderr (`-q`). */
  quiet?: boolean;
}

/** Wait for (or read) a result and print it. Returns the exit status. */
export async function showResult(app: Celery, taskId: string, options: ShowResultOptions): Promise<number> {
  if (app.conf.resultBackend === null) throw noBackend(options.wait ? '--wait' : 'result');
  const backend = app.backend;
  let meta: ResultMeta;
  if (options.wait) {
    // the task's states on stderr as they change (a bar on a terminal); cleared before the result
    const reporter = createStateReporter({ stream: process.stderr, taskId, quiet: options.quiet ?? false });
    try {
      meta = await backend.waitForReady(taskId, { ...(options.timeout === undefined ? {} : { timeout: options.timeout }), onMessage: reporter.update });
    } finally {
      reporter.done();
    }
  } else {
    meta = await backend.getTaskMeta(taskId);
    if (!READY_STATES.has(meta.status)) {
      if (options.meta) process.stdout.write(stringifyKombuJson(meta as unknown as PyDict) + '\n');
      process.stderr.write(`task ${taskId} is ${meta.status} (not ready; use --wait to wait for it)\n`);
      return EX_TEMPFAIL;
    }
  }
  return printOutcome(meta, options);
}

interface ResultFlags {
  wait?: boolean;
  timeout?: string;
  meta?: boolean;
}

export function registerResult(program: Command): void {
  program
    .command('result')
    .description(
      "Print a task's result as JSON (kombu JSON), read from the app's result backend. A failed task prints " +
        '`exc_type: message` on stderr and exits 1; a task that is not ready exits 75 (or use --wait).',
    )
    .argument('<task-id>', 'the task id')
    .option('--wait', 'wait until the task is ready')
    .option('--timeout <seconds>', 'with --wait: give up after this many seconds (exit 75)')
    .option('--meta', 'print the whole result record (status, result, traceback, children, date_done)')
    .action(async (taskId: string, flags: ResultFlags, command: Command) => {
      const g = globalsOf(command);
      let app: Celery | null = null;
      try {
        const timeout = flags.timeout === undefined ? undefined : parseSeconds('--timeout', flags.timeout);
        if (timeout !== undefined && !flags.wait) throw new UsageError('--timeout needs --wait');
        app = await appForCommand(g);
        const opts: ShowResultOptions = { wait: flags.wait ?? false, meta: flags.meta ?? false, traceback: g.traceback ?? false, quiet: g.quiet ?? false };
        if (timeout !== undefined) opts.timeout = timeout;
        process.exitCode = await showResult(app, taskId, opts);
      } catch (err) {
        process.exitCode = reportError('result', err, { traceback: g.traceback ?? false });
      } finally {
        await closeApp(app);
      }
    });
}
