/**
 * `celeriac beat -A <module>`: Celery's `celery beat`, sending the app's `beat_schedule` (and, with the
 * Redis store, entries added at run time) to the broker when due.
 *
 *   celeriac beat -A ./tasks.ts                          # file store, celerybeat-schedule.json
 *   celeriac beat -A ./tasks.ts -S redis -l info         # RedBeat's Redis layout, with its leader lock
 *   celeriac beat -A ./tasks.ts -S redis list            # entries, last run, runs, next run
 *   celeriac beat -A ./tasks.ts -S redis add nightly --task reports.build --crontab '0 3 * * *'
 *
 * Signals: SIGTERM / SIGINT stop it warm: the tick in progress finishes (a claimed slot is sent or left
 * claimed for the next beat to resend), then the lock is released.
 */
import type { Command } from 'commander';
import type { Celery } from '../app.ts';
import { createBeat, storeKind, type Beat, type BeatOptions } from '../beat/beat.ts';
import { entryFromConfig } from '../beat/entries.ts';
import { clocked } from '../beat/schedules/clocked.ts';
import { crontab } from '../beat/schedules/crontab.ts';
import { solar } from '../beat/schedules/solar.ts';
import type { Entry } from '../beat/store.ts';
import { signals } from '../signals.ts';
import { createLogger, type LogLevel } from '../worker/log.ts';
import { appForCommand, globalsOf } from './context.ts';
import { EX_OK, reportError, UsageError } from './exit.ts';
import { parseJson, parseLoglevel, parseNumber } from './values.ts';

interface BeatCliOptions {
  schedule?: string;
  scheduler?: string;
  maxInterval?: string;
  lockTimeout?: string;
  loglevel: string;
}


/** The options `celeriac beat` and `celeriac worker -B` share, checked before the app is loaded. */
export function beatOptions(o: { schedule?: string; scheduler?: string; maxInterval?: string; lockTimeout?: string }): BeatOptions {
  if (o.scheduler !== undefined) {
    try {
      storeKind(o.scheduler);
    } catch (err) {
      throw new UsageError(`-S/--scheduler: ${(err as Error).message}`);
    }
  }
  return {
    ...(o.schedule !== undefined ? { schedule: o.schedule } : {}),
    ...(o.scheduler !== undefined ? { scheduler: o.scheduler } : {}),
    ...(o.maxInterval !== undefined ? { maxInterval: parseNumber('--max-interval', o.maxInterval, 0.001) } : {}),
    ...(o.lockTimeout !== undefined ? { lockTimeout: parseNumber('--lock-timeout', o.lockTimeout, 0.1) } : {}),
  };
}

/** Celery's beat banner. */
export function beatBanner(beat: Beat, app: Celery, version: string, level: LogLevel): string {
  const where = beat.kind === 'file' ? `. db -> ${beat.store.location}` : `. redis -> ${beat.store.location}`;
  const lines = [
    `celeriac beat v${version} is starting.`,
    '__    -    ... __   -        _',
    `LocalTime -> ${new Date().toISOString().replace('T', ' ').slice(0, 19)}`,
    'Configuration ->',
    `    . broker -> ${app.broker.safeUrl}`,
    `    . scheduler -> ${beat.kind === 'file' ? 'celery.beat.PersistentScheduler (file)' : 'redbeat.RedBeatScheduler (redis)'}`,
    `    ${where}`,
    ...(beat.lock ? [`    . lock -> \`${beat.lock.key}\` ${beat.lock.timeout / 1000}s`] : []),
    `    . logfile -> [stderr]@%${level.toUpperCase()}`,
    `    . maxinterval -> ${beat.maxInterval / 1000}s`,
    '',
  ];
  return lines.join('\n');
}

async function loadBeat(command: Command, o: BeatCliOptions, level: LogLevel) {
  const g = globalsOf(command);
  const options = beatOptions(o);
  const app = await appForCommand(g, {
    requireApp: 'beat needs -A/--app MODULE (or CELERY_APP): the module that creates the app and sets beat_schedule, e.g. -A ./tasks.ts',
  });
  const beat = await createBeat(app, { ...options, logger: createLogger(level) });
  return { app, beat };
}

export async function runBeat(o: BeatCliOptions, command: Command, version: string): Promise<void> {
  const level = parseLoglevel(o.loglevel);
  const { app, beat } = await loadBeat(command, o, level);
  process.stdout.write(beatBanner(beat, app, version, level) + '\n');
  await signals.beat_init.send({ sender: beat.service });
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    void beat.service.stop().then(() => app.close()).then(() => process.exit(EX_OK), (err: Error) => {
      process.exit(reportError('beat', new Error(`shutdown failed: ${err.message}`, { cause: err }), { traceback: level === 'debug' }));
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await beat.service.start();
}

// ---------------------------------------------------------------------------------------------
// run-time entries

function describeEntry(e: Entry, next: number | null): string[] {
  const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
  return [e.name, e.task, String(e.schedule), e.enabled ? 'yes' : 'no', iso(e.lastRunAt), String(e.totalRunCount), iso(next)];
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

async function withStore<T>(command: Command, fn: (beat: Beat, app: Celery) => Promise<T>): Promise<T> {
  const parent = command.parent!;
  const o = parent.opts<BeatCliOptions>();
  const { app, beat } = await loadBeat(parent, o, parseLoglevel(o.loglevel));
  try {
    return await fn(beat, app);
  } finally {
    await beat.store.close();
    await app.close();
  }
}

interface AddOptions {
  task: string;
  every?: string;
  crontab?: string;
  clocked?: string;
  solar?: string;
  timezone?: string;
  relative?: boolean;
  args?: string;
  kwargs?: string;
  options?: string;
  disabled?: boolean;
}

/** The schedule `beat add` was given: exactly one of --every, --crontab, --clocked, --solar. */
function scheduleFromFlags(o: AddOptions): unknown {
  const given = (['every', 'crontab', 'clocked', 'solar'] as const).filter((k) => o[k] !== undefined);
  if (given.length !== 1) throw new UsageError(`beat add needs exactly one of --every, --crontab, --clocked, --solar${given.length ? ` (got ${given.map((g) => `--${g}`).join(', ')})` : ''}`);
  if (o.every !== undefined) return parseNumber('--every', o.every, 0.001);
  if (o.crontab !== undefined) {
    try {
      return crontab.fromString(o.crontab, o.timezone ? { timezone: o.timezone } : {});
    } catch (err) {
      throw new UsageError(`--crontab ${JSON.stringify(o.crontab)}: ${(err as Error).message}`);
    }
  }
  if (o.clocked !== undefined) {
    const at = Date.parse(o.clocked);
    if (Number.isNaN(at)) throw new UsageError(`--clocked needs an ISO 8601 time, got ${JSON.stringify(o.clocked)}`);
    return clocked(at);
  }
  const parts = o.solar!.split(',');
  if (parts.length !== 3) throw new UsageError(`--solar needs EVENT,LAT,LON (e.g. sunset,52.52,13.40), got ${JSON.stringify(o.solar)}`);
  try {
    return solar(parts[0]!, parseNumber('--solar latitude', parts[1]!, -90), parseNumber('--solar longitude', parts[2]!, -180));
  } catch (err) {
    throw new UsageError(`--solar: ${(err as Error).message}`);
  }
}

/** A subcommand's action whose failure is one line on stderr and a sysexits status. */
function guard<A extends unknown[]>(verb: string, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const command = args[args.length - 1] as Command;
      process.exit(reportError(`beat ${verb}`, err, { traceback: globalsOf(command).traceback === true }));
    }
  };
}

function registerEntryCommands(beat: Command): void {
  beat.command('list')
    .description("list the entries: schedule, enabled, last run, total runs, next run")
    .option('--json', 'one JSON object per entry')
    .action(guard('list', async (o: { json?: boolean }, command: Command) => {
      await withStore(command, async (b) => {
        const now = Date.now();
        const entries = (await b.store.list()).sort((x, y) => x.name.localeCompare(y.name));
        if (o.json) {
          for (const e of entries) {
            process.stdout.write(JSON.stringify({
              name: e.name, task: e.task, schedule: e.schedule.toJSON(), repr: String(e.schedule), args: e.args, kwargs: e.kwargs,
              options: e.options, enabled: e.enabled, last_run_at: e.lastRunAt === null ? null : new Date(e.lastRunAt).toISOString(),
              total_run_count: e.totalRunCount, next_run_at: nextRun(b, e, now),
            }) + '\n');
          }
          return;
        }
        const rows = [['NAME', 'TASK', 'SCHEDULE', 'ENABLED', 'LAST RUN', 'RUNS', 'NEXT RUN'], ...entries.map((e) => describeEntry(e, b.scheduler.dueAt(e, now)))];
        process.stdout.write(table(rows) + '\n');
      });
    }));
  beat.command('add <name>')
    .description('add or change an entry at run time (Redis store)')
    .requiredOption('--task <name>', 'the task to send')
    .option('--every <seconds>', 'an interval schedule')
    .option('--relative', 'round the interval to its resolution (Celery\'s relative)')
    .option('--crontab <expr>', "a crontab: 'minute hour day_of_month month_of_year day_of_week'")
    .option('--timezone <zone>', "the crontab's own IANA time zone (default: the app's)")
    .option('--clocked <iso>', 'once, at this time')
    .option('--solar <event,lat,lon>', 'a solar event, e.g. sunset,52.52,13.40')
    .option('--args <json>', 'positional arguments, a JSON array')
    .option('--kwargs <json>', 'keyword arguments, a JSON object')
    .option('--options <json>', 'send options, a JSON object (queue, priority, expires, headers, ...)')
    .option('--disabled', 'add it disabled')
    .action(guard('add', async (name: string, o: AddOptions, command: Command) => {
      const schedule = scheduleFromFlags(o);
      const def = entryFromConfig(name, {
        task: o.task, schedule, relative: o.relative ?? false,
        ...(o.args !== undefined ? { args: parseJson('--args', o.args) } : {}),
        ...(o.kwargs !== undefined ? { kwargs: parseJson('--kwargs', o.kwargs) } : {}),
        ...(o.options !== undefined ? { options: parseJson('--options', o.options) } : {}),
        enabled: !o.disabled,
      });
      await withStore(command, async (b) => {
        requireRedis(b, 'add');
        await b.store.save(def);
        process.stdout.write(`added ${name}: ${def.task} ${String(def.schedule)}\n`);
      });
    }));
  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    beat.command(`${verb} <name>`)
      .description(`${verb} an entry (Redis store)`)
      .action(guard(verb, async (name: string, _o: unknown, command: Command) => {
        await withStore(command, async (b) => {
          requireRedis(b, verb);
          if (!(await b.store.setEnabled(name, enabled))) throw new UsageError(`no entry named ${JSON.stringify(name)}`);
          process.stdout.write(`${verb}d ${name}\n`);
        });
      }));
  }
  beat.command('remove <name>')
    .description('remove an entry (Redis store; an entry of beat_schedule comes back when beat restarts)')
    .action(guard('remove', async (name: string, _o: unknown, command: Command) => {
      await withStore(command, async (b) => {
        requireRedis(b, 'remove');
        if (!(await b.store.remove(name))) throw new UsageError(`no entry named ${JSON.stringify(name)}`);
        process.stdout.write(`removed ${name}\n`);
      });
    }));
  beat.command('run-now <name>')
    .description("send an entry's task once now, with its arguments and options (its schedule is unchanged)")
    .action(guard('run-now', async (name: string, _o: unknown, command: Command) => {
      await withStore(command, async (b, app) => {
        const e = await b.store.get(name);
        if (!e) throw new UsageError(`no entry named ${JSON.stringify(name)}`);
        const { headers, ...options } = e.options as Record<string, unknown>;
        const r = await app.sendTask(e.task, e.args, e.kwargs as Record<string, never>, {
          ...options, headers: { ...(headers as object | undefined), periodic_task_name: e.name },
        });
        process.stdout.write(`${r.id}\n`);
      });
    }));
}

function nextRun(b: Beat, e: Entry, now: number): string | null {
  const at = b.scheduler.dueAt(e, now);
  return at === null ? null : new Date(at).toISOString();
}

function requireRedis(b: Beat, verb: string): void {
  if (b.kind !== 'redis') {
    throw new UsageError(`beat ${verb} changes entries at run time, which needs the Redis store (-S redis); the file store's entries come from beat_schedule`);
  }
}

export function registerBeat(program: Command, version: string): void {
  const beat = program
    .command('beat')
    .description('Start the periodic task scheduler (Celery beat) for the app\'s beat_schedule')
    .option('-s, --schedule <file>', 'the file store\'s path (default: beat_schedule_filename, celerybeat-schedule.json)')
    .option('-S, --scheduler <name>', 'file, or redis (RedBeat\'s layout and lock); Celery\'s class paths are accepted (default: beat_scheduler)')
    .option('--max-interval <seconds>', 'longest sleep between checks (default: beat_max_loop_interval, else 300 for file, 30 for redis)')
    .option('--lock-timeout <seconds>', 'the Redis store\'s leader lease (default: redbeat_lock_timeout, else 30)')
    .option('-l, --loglevel <level>', 'debug, info, warning, error, critical', 'warning')
    .action(async (o: BeatCliOptions, command: Command) => {
      try {
        await runBeat(o, command, version);
      } catch (err) {
        const traceback = globalsOf(command).traceback === true || /^debug$/i.test(o.loglevel);
        process.exit(reportError('beat', err, { traceback }));
      }
    });
  registerEntryCommands(beat);
}
