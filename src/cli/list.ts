/**
 * `celeriac list bindings`: the bindings of the app's task queues, as Celery's `celery list bindings`
 * (`celery/bin/list.py`): the app's queues are declared first, then the table is printed in Celery's
 * layout:
 *
 *   Queue                        Exchange                     Routing Key
 *   ----------------             ----------------             ----------------
 *   celery                       celery                       celery
 *
 * On Redis the rows are the members of kombu's `_kombu.binding.<exchange>` sets of the exchanges the
 * app's queues use (every binding another process stored there too), as kombu lists them. On RabbitMQ
 * they come from the management API (Celery: pyrabbit, which must be installed), the same exchanges
 * only; without the management plugin it fails as Celery does: "Your transport cannot list bindings."
 * (exit 64), with the reason. `--all` lists every binding the broker holds (every `_kombu.binding.*`
 * set on Redis; every queue binding of the vhost, the default exchange's included, on RabbitMQ).
 */
import type { Command } from 'commander';
import type { Celery } from '../app.ts';
import type { BindingRow } from '../broker.ts';
import { ManagementUnavailableError } from '../brokers/amqp/management.ts';
import { appForCommand, globalsOf } from './context.ts';
import { reportError, UsageError } from './exit.ts';
import { closeApp } from './result.ts';

/** Celery's `fmt(q, e, r)`: `f'{q:<28} {e:<28} {r}'`. */
function row(q: string, e: string, r: string): string {
  return `${q.padEnd(28)} ${e.padEnd(28)} ${r}`;
}

/** The table Celery prints (header, dashes, one line per binding), each line ending in a newline. */
export function bindingsTable(rows: readonly BindingRow[]): string {
  const lines = [row('Queue', 'Exchange', 'Routing Key'), row('-'.repeat(16), '-'.repeat(16), '-'.repeat(16))];
  for (const b of rows) lines.push(row(b.queue, b.exchange, b.routingKey));
  return lines.join('\n') + '\n';
}

export function registerList(program: Command): void {
  const list = program
    .command('list')
    .description('Get info from the broker (Celery\'s `celery list`). For RabbitMQ the management plugin is required.');
  list
    .command('bindings')
    .description("Inspect queue bindings: those of the exchanges of the app's task queues (declared first), or with --all every binding the broker holds.")
    .option('--all', 'every binding, not only those of the app\'s exchanges')
    .action(async (flags: { all?: boolean }, command: Command) => {
      const g = globalsOf(command);
      let app: Celery | null = null;
      try {
        app = await appForCommand(g);
        const broker = app.broker;
        if (!broker.listBindings) throw new UsageError('Your transport cannot list bindings.');
        await broker.connect();
        // Celery: app.amqp.TaskConsumer(conn).declare()
        const queues = app.router.queues();
        for (const q of queues) await broker.declareQueue(q);
        const exchanges = [...new Set(queues.map((q) => q.exchange.name).filter((e) => e !== ''))];
        let rows: BindingRow[];
        try {
          rows = await broker.listBindings(flags.all ? undefined : exchanges);
        } catch (err) {
          if (err instanceof ManagementUnavailableError) throw new UsageError(`Your transport cannot list bindings: ${err.message}`, { cause: err });
          throw err;
        }
        process.stdout.write(bindingsTable(rows));
      } catch (err) {
        process.exitCode = reportError('list bindings', err, { traceback: g.traceback ?? false });
      } finally {
        await closeApp(app);
      }
    });
}
