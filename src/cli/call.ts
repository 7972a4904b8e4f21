/**
 * `celeriac call <task>`: send a task by name (to a Python or a TypeScript worker) through the app's
 * broker and routes (Celery's `celery call`) and print its id; with `--wait`, print the task id on
 * stderr, wait, and print its result as JSON instead (exit statuses as `celeriac result`).
 *
 *   celeriac call -A ./tasks.ts proj.tasks.add -a '[2, 3]' --wait --timeout 10
 */
import type { Command } from 'commander';
import { isPlainObject, type PyDict, type PyValue } from '../../protocol/values.ts';
import type { Celery } from '../app.ts';
import type { SendTaskOptions } from '../producer.ts';
import { appForCommand, globalsOf } from './context.ts';
import { reportError, UsageError } from './exit.ts';
import { closeApp, noBackend, showResult, type ShowResultOptions } from './result.ts';
import { parseJson as json, parseSeconds } from './values.ts';

interface CallFlags {
  args?: string;
  kwargs?: string;
  queue?: string;
  routingKey?: string;
  exchange?: string;
  countdown?: string;
  eta?: string;
  expires?: string;
  priority?: string;
  serializer?: string;
  compression?: string;
  taskId?: string;
  timeLimit?: string;
  softTimeLimit?: string;
  headers?: string;
  ignoreResult?: boolean;
  wait?: boolean;
  timeout?: string;
  meta?: boolean;
}

/** The send options a `call` command line asks for. */
export function callOptions(flags: CallFlags): { args: PyValue[]; kwargs: PyDict; options: SendTaskOptions } {
  const args = flags.args === undefined ? [] : json('--args', flags.args);
  if (!Array.isArray(args)) throw new UsageError('--args must be a JSON array, e.g. --args \'[2, 3]\'');
  const kwargs = flags.kwargs === undefined ? {} : json('--kwargs', flags.kwargs);
  if (!isPlainObject(kwargs)) throw new UsageError('--kwargs must be a JSON object, e.g. --kwargs \'{"x": 1}\'');
  const options: SendTaskOptions = {};
  if (flags.queue !== undefined) options.queue = flags.queue;
  if (flags.routingKey !== undefined) options.routingKey = flags.routingKey;
  if (flags.exchange !== undefined) options.exchange = flags.exchange;
  if (flags.countdown !== undefined) options.countdown = parseSeconds('--countdown', flags.countdown);
  if (flags.eta !== undefined) {
    if (Number.isNaN(Date.parse(flags.eta))) throw new UsageError(`--eta must be an ISO 8601 datetime, got ${JSON.stringify(flags.eta)}`);
    options.eta = flags.eta;
  }
  if (flags.expires !== undefined) {
    const n = Number(flags.expires);
    if (flags.expires.trim() !== '' && Number.isFinite(n)) options.expires = n;
    else if (!Number.isNaN(Date.parse(flags.expires))) options.expires = flags.expires;
    else throw new UsageError(`--expires must be seconds or an ISO 8601 datetime, got ${JSON.stringify(flags.expires)}`);
  }
  if (flags.priority !== undefined) {
    const p = Number(flags.priority);
    if (!Number.isInteger(p) || p < 0 || p > 255) throw new UsageError(`--priority must be an integer 0-255 (0-9 on Redis), got ${JSON.stringify(flags.priority)}`);
    options.priority = p;
  }
  if (flags.serializer !== undefined) options.serializer = flags.serializer;
  if (flags.compression !== undefined) options.compression = flags.compression;
  if (flags.taskId !== undefined) options.taskId = flags.taskId;
  if (flags.timeLimit !== undefined) options.timeLimit = parseSeconds('--time-limit', flags.timeLimit);
  if (flags.softTimeLimit !== undefined) options.softTimeLimit = parseSeconds('--soft-time-limit', flags.softTimeLimit);
  if (flags.headers !== undefined) {
    const h = json('--headers', flags.headers);
    if (!isPlainObject(h)) throw new UsageError('--headers must be a JSON object');
    options.headers = h as PyDict;
  }
  if (flags.ignoreResult) options.ignoreResult = true;
  return { args: args as PyValue[], kwargs: kwargs as PyDict, options };
}

export function registerCall(program: Command): void {
  program
    .command('call')
    .description(
      'Send a task by name and print its id. With --wait, print its result as JSON; a failed task prints ' +
        '`exc_type: message` on stderr and exits 1, a wait that times out exits 75.',
    )
    .argument('<task>', 'the task name, e.g. tasks.add')
    .option('-a, --args <json>', 'positional arguments, a JSON array')
    .option('-k, --kwargs <json>', 'keyword arguments, a JSON object')
    .option('--queue <name>', 'queue to send to (default: task_default_queue, "celery")')
    .option('--routing-key <key>', 'routing key (topic exchanges)')
    .option('--exchange <name>', 'exchange to publish to')
    .option('--countdown <seconds>', 'run no earlier than this many seconds from now')
    .option('--eta <iso>', 'run no earlier than this time (ISO 8601)')
    .option('--expires <seconds|iso>', 'revoke the task if it has not started by then')
    .option('--priority <n>', 'message priority (0-9 on Redis; lower runs first there)')
    .option('--serializer <name>', 'json, msgpack or yaml (default: json)')
    .option('--compression <name>', 'zlib, bzip2, lzma, brotli or zstd')
    .option('--task-id <id>', 'use this task id instead of a new uuid')
    .option('--time-limit <seconds>', 'hard time limit')
    .option('--soft-time-limit <seconds>', 'soft time limit')
    .option('--headers <json>', 'custom message headers, a JSON object')
    .option('--ignore-result', 'ask the worker not to store the result')
    .option('--wait', 'wait for the result and print it')
    .option('--timeout <seconds>', 'with --wait: give up after this many seconds')
    .option('--meta', 'with --wait: print the whole result record')
    .action(async (task: string, flags: CallFlags, command: Command) => {
      const g = globalsOf(command);
      let app: Celery | null = null;
      try {
        const { args, kwargs, options } = callOptions(flags);
        const timeout = flags.timeout === undefined ? undefined : parseSeconds('--timeout', flags.timeout);
        if (flags.timeout !== undefined && !flags.wait) throw new UsageError('--timeout needs --wait');
        if (flags.meta && !flags.wait) throw new UsageError('--meta needs --wait (or use celeriac result --meta)');
        if (flags.wait && flags.ignoreResult) throw new UsageError('--wait and --ignore-result exclude each other');
        app = await appForCommand(g);
        if (flags.wait && app.conf.resultBackend === null) throw noBackend('--wait');
        const result = await app.sendTask(task, args, kwargs, options);
        if (!flags.wait) {
          process.stdout.write(result.id + '\n');
          return;
        }
        // the id first, so a wait that is interrupted does not lose it
        if (!g.quiet) process.stderr.write(`${task}[${result.id}] sent; waiting for the result\n`);
        const opts: ShowResultOptions = { wait: true, meta: flags.meta ?? false, traceback: g.traceback ?? false, quiet: g.quiet ?? false };
        if (timeout !== undefined) opts.timeout = timeout;
        process.exitCode = await showResult(app, result.id, opts);
      } catch (err) {
        process.exitCode = reportError('call', err, { traceback: g.traceback ?? false });
      } finally {
        await closeApp(app);
      }
    });
}
