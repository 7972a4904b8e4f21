/**
 * `celeriac quarantine`: the messages workers refused (malformed, undecodable, invalid, badly signed,
 * unknown task), kept with the reason in `<queue>.celeriac.invalid` on Redis and RabbitMQ alike
 * (src/quarantine/). Celery has no counterpart: it drops them.
 *
 *   celeriac -A ./tasks.ts quarantine list                  # every queue of the app (else -Q)
 *   celeriac -b redis://localhost:6379/0 quarantine list -Q celery
 *   celeriac ... quarantine show 6b0f...c2 -Q celery        # the reason, and the message as stored (pipe it to `celeriac decode`)
 *   celeriac ... quarantine requeue -Q celery 6b0f...c2     # back to the end of its queue, once the cause is fixed (or --all)
 *   celeriac ... quarantine purge -Q celery --all -f        # deleted; asks first without -f
 *
 * An entry is named by its quarantine id or by its task id. `list --json` and `show --json` print JSON.
 * Exit statuses are the CLI's (src/cli/exit.ts): 64 for a wrong call (no id and no --all, an unknown
 * id), 69 for a broker that cannot be reached.
 */
import type { Command } from 'commander';
import type { Celery } from '../app.ts';
import type { Broker } from '../broker.ts';
import type { QuarantinedDetail, QuarantineSelection, QuarantineStore } from '../quarantine/store.ts';
import { appForCommand, globalsOf } from './context.ts';
import { describeError, reportError, UsageError } from './exit.ts';
import { Aborted, commandBroker, commaList, confirm, pluralize } from './ops.ts';
import { closeApp } from './result.ts';

interface QuarantineFlags {
  queues?: string;
  json?: boolean;
  all?: boolean;
  force?: boolean;
}

/** `2026-12-07 05:31:02` (UTC), or `-` for an entry with no time. */
function when(at: number | null): string {
  return at === null ? '-' : new Date(at * 1000).toISOString().replace('T', ' ').slice(0, 19);
}

function oneLine(text: string, width: number): string {
  const s = text.replace(/\s+/g, ' ').trim();
  return s.length > width ? `${s.slice(0, Math.max(0, width - 1))}…` : s;
}

/** The table `list` prints: one line per entry, the reason cut to the terminal's width. */
export function formatList(queue: string, entries: readonly QuarantinedDetail[], columns = 120): string {
  if (entries.length === 0) return `${queue}: no quarantined messages\n`;
  const lines = [`${queue}: ${entries.length} quarantined ${pluralize(entries.length, 'message')}`];
  for (const e of entries) {
    const task = e.task ? `${e.task}[${e.taskId ?? '?'}]` : '-';
    const head = `  ${e.id}  ${when(e.at)}  ${e.kind.padEnd(12)}  ${task}  `;
    lines.push(head + oneLine(e.reason, Math.max(30, columns - head.length)));
  }
  return lines.join('\n') + '\n';
}

/** What a stored message looks like as input to `celeriac decode`: the envelope (Redis) or the AMQP message as JSON. */
export function storedMessage(e: QuarantinedDetail): string {
  if (!e.properties) return e.envelope.toString('utf8');
  const { headers, ...props } = e.properties as { headers?: Record<string, unknown> } & Record<string, unknown>;
  const properties: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) if (v !== undefined) properties[k] = v;
  return JSON.stringify({
    body: e.envelope.toString('base64'),
    body_encoding: 'base64',
    properties: { ...properties, headers: headers ?? {} },
    delivery_info: { exchange: e.exchange, routing_key: e.routingKey },
  }, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
}

export function formatShow(e: QuarantinedDetail): string {
  return [
    `id:          ${e.id}`,
    `queue:       ${e.queue}`,
    `quarantined: ${when(e.at)}${e.hostname ? ` by ${e.hostname}` : ''}`,
    `kind:        ${e.kind}`,
    `task:        ${e.task ?? '-'}${e.taskId ? `[${e.taskId}]` : ''}`,
    `delivery:    exchange ${JSON.stringify(e.exchange)} routing key ${JSON.stringify(e.routingKey)}`,
    `reason:      ${e.reason}`,
    `message (${e.size} bytes; pipe this line to \`celeriac decode\`):`,
    storedMessage(e),
  ].join('\n') + '\n';
}

function toJson(e: QuarantinedDetail): Record<string, unknown> {
  const { envelope: _, properties: __, ...entry } = e;
  return { ...entry, message: storedMessage(e) };
}

/** The ids given, or --all; neither (or both) is a usage error. */
export function selection(ids: readonly string[], all: boolean | undefined, verb: string): QuarantineSelection {
  if (all && ids.length) throw new UsageError(`give either ids or --all to ${verb}, not both`);
  if (all) return { all: true };
  if (!ids.length) throw new UsageError(`give the ids (or task ids) of the messages to ${verb}, or --all: \`celeriac quarantine list\` shows them`);
  return { ids };
}

function singleQueue(app: Celery, flags: QuarantineFlags): string {
  const qs = queuesOf(app, flags);
  if (qs.length !== 1) throw new UsageError(`name one queue with -Q (the app has ${qs.length}: ${qs.join(', ')})`);
  return qs[0]!;
}

function queuesOf(app: Celery, flags: QuarantineFlags): string[] {
  const named = commaList(flags.queues);
  return named.length ? named : [...new Set(app.router.queues().map((q) => q.name))].sort();
}

/** Opens the app and its broker's quarantine for one subcommand, and closes them after. */
async function withStore(command: Command, verb: string, body: (app: Celery, store: QuarantineStore) => Promise<void>): Promise<void> {
  const g = globalsOf(command);
  let app: Celery | null = null;
  let broker: Broker | null = null;
  try {
    app = await appForCommand(g);
    broker = commandBroker(app, (err) => process.stderr.write(`celeriac quarantine ${verb}: ${describeError(err)}\n`));
    if (!broker.quarantineStore) throw new UsageError(`the broker ${broker.safeUrl} has no quarantine`);
    const store = broker.quarantineStore();
    await broker.connect();
    await body(app, store);
  } catch (err) {
    if (err instanceof Aborted) {
      process.stderr.write('Aborted!\n');
      process.exitCode = err.exitCode;
    } else process.exitCode = reportError(`quarantine ${verb}`, err, { traceback: g.traceback ?? false });
  } finally {
    await broker?.close().catch(() => undefined);
    await closeApp(app);
  }
}

export function registerQuarantine(program: Command): void {
  const q = program
    .command('quarantine')
    .description('Messages workers refused (malformed, undecodable, invalid, badly signed, unknown task), kept with the reason in <queue>.celeriac.invalid');

  q.command('list')
    .description("list the quarantined messages of the app's queues (or -Q)")
    .option('-Q, --queues <names>', 'comma separated list of queue names')
    .option('--json', 'one JSON array per queue: every field, and the message as stored')
    .action((flags: QuarantineFlags, command: Command) => withStore(command, 'list', async (app, store) => {
      for (const queue of queuesOf(app, flags)) {
        const entries = await store.list(queue);
        if (flags.json) process.stdout.write(JSON.stringify({ queue, messages: entries.map(toJson) }) + '\n');
        else process.stdout.write(formatList(queue, entries, process.stdout.columns ?? 120));
      }
    }));

  q.command('show')
    .description('the reason and the message as stored (a line `celeriac decode` reads)')
    .argument('<id>', 'quarantine id or task id')
    .option('-Q, --queues <name>', 'the queue (needed when the app has several)')
    .option('--json', 'as JSON')
    .action((id: string, flags: QuarantineFlags, command: Command) => withStore(command, 'show', async (app, store) => {
      const queue = singleQueue(app, flags);
      const found = (await store.list(queue)).filter((e) => e.id === id || e.taskId === id);
      if (found.length === 0) throw new UsageError(`no quarantined message ${JSON.stringify(id)} in ${JSON.stringify(queue)} (\`celeriac quarantine list -Q ${queue}\`)`);
      for (const e of found) process.stdout.write(flags.json ? JSON.stringify(toJson(e)) + '\n' : formatShow(e));
    }));

  q.command('requeue')
    .description('put messages back at the end of the queue they were taken from (once the cause is fixed)')
    .argument('[ids...]', 'quarantine ids or task ids')
    .option('-Q, --queues <name>', 'the queue (needed when the app has several)')
    .option('--all', 'every quarantined message of the queue')
    .action((ids: string[], flags: QuarantineFlags, command: Command) => withStore(command, 'requeue', async (app, store) => {
      const sel = selection(ids, flags.all, 'requeue');
      const queue = singleQueue(app, flags);
      const done = await store.requeue(queue, sel);
      for (const e of done) process.stdout.write(`requeued ${e.id}${e.task ? ` ${e.task}[${e.taskId ?? '?'}]` : ''} to ${e.queue}\n`);
      process.stdout.write(`Requeued ${done.length} ${pluralize(done.length, 'message')} from the quarantine of ${queue}.\n`);
      if ('ids' in sel) {
        const missing = sel.ids.filter((id) => !done.some((e) => e.id === id || e.taskId === id));
        if (missing.length) throw new UsageError(`not in the quarantine of ${JSON.stringify(queue)}: ${missing.join(', ')}`);
      }
    }));

  q.command('purge')
    .description('delete quarantined messages (asks first without -f)')
    .argument('[ids...]', 'quarantine ids or task ids')
    .option('-Q, --queues <name>', 'the queue (needed when the app has several)')
    .option('--all', 'every quarantined message of the queue')
    .option('-f, --force', "don't prompt for verification")
    .action((ids: string[], flags: QuarantineFlags, command: Command) => withStore(command, 'purge', async (app, store) => {
      const sel = selection(ids, flags.all, 'purge');
      const queue = singleQueue(app, flags);
      if (!flags.force) {
        const what = 'all' in sel ? `every quarantined message of ${queue}` : `${sel.ids.length} quarantined ${pluralize(sel.ids.length, 'message')} of ${queue}`;
        await confirm(`This will delete ${what}. There is no undo.\nAre you sure?`);
      }
      const n = await store.purge(queue, sel);
      process.stdout.write(`Purged ${n} ${pluralize(n, 'message')} from the quarantine of ${queue}.\n`);
    }));
}
