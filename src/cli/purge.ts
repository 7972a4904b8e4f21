/**
 * `celeriac purge`: erase all messages from the app's task queues, as Celery's `celery purge`
 * (`celery/bin/purge.py`): the queues of `task_queues` (else `task_default_queue`), or those of `-Q`,
 * minus those of `-X`; on Redis every priority sub-queue (`<queue>\x06\x163`, ...) too. Without `-f` it
 * asks Celery's question first (on standard input, a terminal or not, as click does):
 *
 *   $ celeriac -A ./tasks.ts purge -Q reports
 *   WARNING:This will remove all tasks from queue: reports.
 *            There is no undo for this operation!
 *
 *   (to skip this prompt use the -f option)
 *   Are you sure you want to delete all tasks? [y/N]: y
 *   Purged 3 messages from 1 known task queue.
 *
 * A "no" prints `Aborted!` on stderr and exits 1, as Celery. A queue that does not exist counts 0 (on
 * RabbitMQ Celery ignores the channel error the same way). There is no undo.
 */
import type { Command } from 'commander';
import type { Celery } from '../app.ts';
import type { Broker } from '../broker.ts';
import { appForCommand, globalsOf } from './context.ts';
import { describeError, reportError } from './exit.ts';
import { Aborted, commandBroker, commaList, confirm, pluralize, red } from './ops.ts';
import { closeApp } from './result.ts';

interface PurgeFlags {
  force?: boolean;
  queues?: string;
  excludeQueues?: string;
}

/** The queues a purge empties: `-Q` (else the app's queues) minus `-X`, sorted. */
export function queuesToPurge(appQueues: readonly string[], queues: string | undefined, exclude: string | undefined): string[] {
  const chosen = new Set(commaList(queues).length ? commaList(queues) : appQueues);
  for (const q of commaList(exclude)) chosen.delete(q);
  return [...chosen].sort();
}

/** Celery's confirmation question for `names` (already sorted). */
export function purgeQuestion(names: readonly string[], color = false): string {
  const warning = color ? red('WARNING', { isTTY: true }) : 'WARNING';
  return `${warning}:This will remove all tasks from ${pluralize(names.length, 'queue')}: ${names.join(', ')}.\n` +
    '         There is no undo for this operation!\n\n' +
    '(to skip this prompt use the -f option)\n' +
    'Are you sure you want to delete all tasks?';
}

/** Celery's closing line. */
export function purgeSummary(messages: number, queues: number): string {
  const qs = pluralize(queues, 'queue');
  return messages ? `Purged ${messages} ${pluralize(messages, 'message')} from ${queues} known task ${qs}.` : `No messages purged from ${queues} ${qs}.`;
}

function isMissingQueue(err: unknown): boolean {
  return /NOT_FOUND|no queue/i.test((err as Error)?.message ?? '');
}

/** Purges one queue; a queue that does not exist is 0 (Celery catches the channel error). */
async function purgeOne(broker: Broker, queue: string): Promise<number> {
  try {
    return await broker.purge(queue);
  } catch (err) {
    if (isMissingQueue(err)) return 0;
    throw err;
  }
}

export function registerPurge(program: Command): void {
  program
    .command('purge')
    .description("Erase all messages from all known task queues (the app's task_queues, else task_default_queue). There is no undo.")
    .option('-f, --force', "don't prompt for verification")
    .option('-Q, --queues <names>', 'comma separated list of queue names to purge')
    .option('-X, --exclude-queues <names>', 'comma separated list of queue names not to purge')
    .action(async (flags: PurgeFlags, command: Command) => {
      const g = globalsOf(command);
      let app: Celery | null = null;
      let broker: Broker | null = null;
      try {
        app = await appForCommand(g);
        const names = queuesToPurge(app.router.queues().map((q) => q.name), flags.queues, flags.excludeQueues);
        if (names.length === 0) return;
        if (!flags.force) await confirm(purgeQuestion(names, process.stdout.isTTY === true && !process.env.NO_COLOR));
        // the channel error of a queue that does not exist is expected (counted 0), not reported
        broker = commandBroker(app, (err) => {
          if (!isMissingQueue(err)) process.stderr.write(`celeriac purge: ${describeError(err)}\n`);
        });
        await broker.connect();
        let messages = 0;
        for (const q of names) messages += await purgeOne(broker, q);
        process.stdout.write(purgeSummary(messages, names.length) + '\n');
      } catch (err) {
        if (err instanceof Aborted) {
          process.stderr.write('Aborted!\n');
          process.exitCode = err.exitCode;
        } else process.exitCode = reportError('purge', err, { traceback: g.traceback ?? false });
      } finally {
        await broker?.close().catch(() => undefined);
        await closeApp(app);
      }
    });
}
