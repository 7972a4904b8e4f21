/**
 * `celeriac migrate SOURCE DEST`: move queued task messages from one broker to another, as Celery's
 * `celery migrate` (`celery/bin/migrate.py`, `celery.contrib.migrate.migrate_tasks`); Redis and
 * RabbitMQ in any direction, or another Redis db:
 *
 *   $ celeriac -A ./tasks.ts migrate redis://old:6379/0 amqp://guest:guest@new:5672// -a
 *   Migrating task 1/2: [[2, 2], {}, {'callbacks': None, 'errbacks': None, 'chain': None, 'chord': None}]
 *   Migrating task 2/2: [[3, 3], {}, {'callbacks': None, 'errbacks': None, 'chain': None, 'chord': None}]
 *
 * The app's queues (`task_queues`, else `task_default_queue`), or those of `-Q a,b:c` (`b` renamed to
 * `c` on the destination), are declared on both brokers as the app declares them; each message is
 * published to the destination with its body, headers and properties unchanged, and with `-a` acked on
 * the source only after the destination accepted it (without `-a` the messages are copied: they go back
 * to the source at the end). The migration ends when no message came for `-t` seconds (1 by default;
 * Celery's command waits forever without `-t`, which is `-F` here), after `-n` messages, or on Ctrl-C.
 * A publish that fails stops it with that message still on the source (exit 69). See
 * src/brokers/migrate.ts for the differences from Celery.
 */
import type { Command } from 'commander';
import { pyRepr } from '../../protocol/repr.ts';
import type { PyValue } from '../../protocol/values.ts';
import type { Celery } from '../app.ts';
import type { Broker, QueueDeclaration } from '../broker.ts';
import { migrateTasks, prepareQueues, type MigrationState } from '../brokers/migrate.ts';
import type { RawMessage } from '../../protocol/types.ts';
import { appForCommand, globalsOf } from './context.ts';
import { describeError, reportError, UsageError } from './exit.ts';
import { commaList, commandBroker } from './ops.ts';
import { closeApp } from './result.ts';
import { parseInteger, parseSeconds } from './values.ts';

interface MigrateFlags {
  limit?: string;
  timeout?: string;
  ackMessages?: boolean;
  tasks?: string;
  queues?: string;
  forever?: boolean;
}

export interface MigrateArgs {
  limit: number | null;
  timeout: number;
  ackMessages: boolean;
  tasks: Set<string>;
  renames: Map<string, string>;
  forever: boolean;
}

/** The options of a `migrate` command line, checked. */
export function migrateArgs(flags: MigrateFlags): MigrateArgs {
  return {
    limit: flags.limit === undefined ? null : parseInteger('-n/--limit', flags.limit, 1),
    timeout: flags.timeout === undefined ? 1 : parseSeconds('-t/--timeout', flags.timeout),
    ackMessages: flags.ackMessages ?? false,
    tasks: new Set(commaList(flags.tasks)),
    renames: prepareQueues(flags.queues),
    forever: flags.forever ?? false,
  };
}

/** Celery's progress line: `Migrating task N/M: <repr of the body>`. */
export function progressLine(state: Pick<MigrationState, 'count' | 'strtotal'>, body: PyValue | undefined, raw: Pick<RawMessage, 'contentType'>): string {
  const shown = body === undefined ? `<body not decodable here (${raw.contentType})>` : pyRepr(body);
  return `Migrating task ${state.count}/${state.strtotal}: ${shown}`;
}

function brokerFor(app: Celery, which: string, url: string, onError: (err: Error) => void): Broker {
  if (url.trim() === '') throw new UsageError(`${which} must be a broker URL, e.g. redis://localhost:6379/0 or amqp://guest:guest@localhost:5672//`);
  try {
    return commandBroker(app, onError, url);
  } catch (err) {
    throw new UsageError(`${which}: ${(err as Error).message}`, { cause: err });
  }
}

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description(
      'Migrate tasks from one broker to another (Celery\'s `celery migrate`). Messages are acked on the source ' +
        'only after the destination has them, and only with -a; without -a they are copied.',
    )
    .argument('<source>', 'the broker URL to take the messages from')
    .argument('<destination>', 'the broker URL to put them on')
    .option('-n, --limit <n>', 'number of tasks to consume')
    .option('-t, --timeout <seconds>', 'stop when no task came for this long (default 1)')
    .option('-a, --ack-messages', 'ack messages from the source broker (move them; without it they are copied)')
    .option('-T, --tasks <names>', 'comma separated list of task names to filter on')
    .option('-Q, --queues <names>', 'comma separated list of queues to migrate; `src:dest` renames one on the destination')
    .option('-F, --forever', 'continually migrate tasks until killed')
    .action(async (sourceUrl: string, destUrl: string, flags: MigrateFlags, command: Command) => {
      const g = globalsOf(command);
      let app: Celery | null = null;
      const brokers: Broker[] = [];
      const stopOnSignal: (() => void)[] = [];
      const onSignal = () => stopOnSignal.forEach((f) => f());
      try {
        const args = migrateArgs(flags);
        if (sourceUrl.trim() === destUrl.trim() && ![...args.renames].some(([from, to]) => from !== to)) {
          throw new UsageError('SOURCE and DESTINATION are the same broker: the messages would be taken again as they are put back (rename the queues with -Q src:dest)');
        }
        app = await appForCommand(g);
        const onError = (err: Error) => process.stderr.write(`celeriac migrate: ${describeError(err)}\n`);
        const source = brokerFor(app, 'SOURCE', sourceUrl, onError);
        brokers.push(source);
        const dest = brokerFor(app, 'DESTINATION', destUrl, onError);
        brokers.push(dest);
        await source.connect();
        await dest.connect();
        const queues: QueueDeclaration[] = args.renames.size
          ? [...args.renames.keys()].map((name) => app!.router.queue(name))
          : app.router.queues();
        const migration = await migrateTasks({
          source, dest, queues, renames: args.renames, limit: args.limit, timeout: args.timeout,
          ackMessages: args.ackMessages, tasks: args.tasks, forever: args.forever, onError,
          onMigrated: (state, body, raw) => process.stdout.write(progressLine(state, body, raw) + '\n'),
        });
        stopOnSignal.push(() => migration.stop());
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        await migration.done;
      } catch (err) {
        process.exitCode = reportError('migrate', err, { traceback: g.traceback ?? false });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        // closing the source gives back every message not acked
        for (const b of brokers) {
          await b.close().catch((err: Error) => process.stderr.write(`celeriac migrate: closing ${b.safeUrl}: ${describeError(err)}\n`));
        }
        await closeApp(app);
      }
    });
}
