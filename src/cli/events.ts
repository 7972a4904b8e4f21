/**
 * `celeriac events`: Celery's `celery events` for a mixed fleet (Python and TypeScript workers alike).
 *
 *   celeriac -A ./tasks.ts events            # the live view: workers, tasks, keys to inspect a task
 *   celeriac -b redis://localhost:6379/0 events --dump    # every event as a line, as `celery events --dump`
 *
 * Events come through the app's `event_exchange` (an `app.events.receiver()`), which asks every worker
 * for a heartbeat at once, as Celery's receiver does. The live view (src/cli/events/top.ts) is built on
 * Ink and React, loaded only when it starts; `--dump` and every other command never load them.
 *
 * Options are Celery's that apply without a snapshot camera: `-d/--dump`. `-c/--camera` (a Python
 * class that stores snapshots) is refused with one line; `-F/--freq`, `-r/--maxrate`, `-l` and
 * `--detach` only configure a camera in Celery, and are not offered.
 */
import type { Command } from 'commander';
import type { CeleryEvent } from '../../protocol/events.ts';
import type { Celery } from '../app.ts';
import { isConnectionError } from '../errors.ts';
import { humanizeIn, startupIntervals } from '../worker/connect.ts';
import { appForCommand, globalsOf } from './context.ts';
import { Dumper } from './events/dump.ts';
import { EX_OK, EX_UNAVAILABLE, reportError, UsageError, type WithExitCode } from './exit.ts';
import { closeApp } from './result.ts';

interface EventsFlags {
  dump?: boolean;
  camera?: string;
}

/** An error that ends the command with Celery's status for it (69: no terminal, no broker). */
class EventsError extends Error implements WithExitCode {
  override name = 'EventsError';
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves at SIGINT/SIGTERM (Ctrl-C ends the dump, as KeyboardInterrupt ends Celery's). */
function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

/**
 * `evdump`: `-> evdump: starting capture...`, then a line per event until Ctrl-C. A broker that is
 * down is tried again and again, each failure printed as Celery prints it.
 */
async function evdump(app: Celery, write: (text: string) => void): Promise<void> {
  const dumper = new Dumper((line) => write(line + '\n'));
  write('-> evdump: starting capture...\n');
  const receiver = app.events.receiver({
    handlers: { '*': (e: CeleryEvent) => dumper.onEvent(e) },
    onError: (err) => write(`-> ${err.message}\n`),
  });
  const stop = untilSignal();
  let stopped = false;
  void stop.then(() => (stopped = true));
  const intervals = startupIntervals();
  while (!stopped) {
    try {
      await receiver.start();
      break;
    } catch (err) {
      if (!isConnectionError(err) && (err as Error).name !== 'BrokerConnectionError') throw err;
      const secs = intervals.next().value!;
      // the transports' message starts "cannot connect to the Redis broker <url>: "; Celery's line names the URL once
      const reason = (err as Error).message.replace(/^cannot connect to the \S+ broker \S+: /i, '');
      write(`-> Cannot connect to ${app.broker.safeUrl}: ${reason}.\nTrying again ${humanizeIn(secs)}\n\n`);
      await Promise.race([sleep(secs * 1000), stop]);
    }
  }
  await stop;
  await receiver.stop().catch(() => undefined);
}

/** The live view: needs a terminal on both ends, as Celery's curses monitor does. */
async function evtop(app: Celery, version: string): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new EventsError('the live view needs a terminal (stdin and stdout a TTY); use --dump to print the events as lines', EX_UNAVAILABLE);
  }
  const { runTop } = await import('./events/top.ts');
  await runTop(app, { version });
}

export function registerEvents(program: Command, version: string): void {
  program
    .command('events')
    .description(
      'Watch the fleet\'s events: a live view of workers and tasks (keys: j/k or arrows to select a task, i info, ' +
        't traceback, r result, c revoke, l rate limit, q quit), or with --dump every event as a line, as `celery events`',
    )
    .option('-d, --dump', 'print every event as a line (`celery events --dump`), until Ctrl-C')
    .option('-c, --camera <class>', 'not supported: snapshot cameras are Python classes (use `celery events -c`)')
    .action(async (flags: EventsFlags, command: Command) => {
      const g = globalsOf(command);
      let app: Celery | null = null;
      try {
        if (flags.camera !== undefined) throw new UsageError('-c/--camera is not supported: a snapshot camera is a Python class; run `celery events --camera` for it');
        app = await appForCommand(g);
        if (flags.dump) await evdump(app, (text) => process.stdout.write(text));
        else await evtop(app, version);
        process.exitCode = EX_OK;
      } catch (err) {
        process.exitCode = reportError('events', err, { traceback: g.traceback ?? false });
      } finally {
        await closeApp(app);
      }
    });
}
