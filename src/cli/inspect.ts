/**
 * `celeriac inspect <method> [args...]`: ask the workers (Python and TypeScript alike) with one of
 * Celery's inspect commands and print each node's reply as `celery inspect` does, then
 * `N nodes online.`; `--json` prints the replies by node as one JSON object instead. No reply within
 * the timeout: `Error: No nodes replied within time constraint`, exit 69.
 *
 *   celeriac -A ./tasks.ts inspect registered rate_limit -d ts@host,celery@host -t 2
 */
import type { Command } from 'commander';
import type { Celery } from '../app.ts';
import { globalsOf, appForCommand } from './context.ts';
import {
  cliControl, compileArguments, jsonDumps, listCommands, noReplies, nodesOnline, remoteOptions, remoteSettings, replyText,
  reportRemoteError, quietOnClosedStdout, styleFor, verifyCommand, type RemoteFlags,
} from './remote.ts';
import { closeApp } from './result.ts';

interface InspectFlags extends RemoteFlags {
  list?: boolean;
}

export function registerInspect(program: Command): void {
  remoteOptions(
    program
      .command('inspect')
      .description('Inspect the workers by sending them the COMMAND inspect command (`--list` shows them).')
      .argument('[command]', 'the inspect command: ping, stats, active, registered, conf, ...')
      .argument('[args...]', "the command's arguments, e.g. `registered rate_limit`, `query_task ID...`")
      .option('--list', 'List available inspect commands and exit.'),
  ).action(async (method: string | undefined, words: string[], flags: InspectFlags, command: Command) => {
    const g = globalsOf(command);
    quietOnClosedStdout();
    if (flags.list) {
      process.stdout.write(listCommands('inspect'));
      return;
    }
    let app: Celery | null = null;
    try {
      if (method === undefined) command.error("error: missing required argument 'command'");
      const panel = verifyCommand('inspect', method);
      const args = compileArguments(panel, words);
      const { timeout, destination } = remoteSettings(flags);
      const style = styleFor(process.stdout);
      const quiet = g.quiet ?? false;
      app = await appForCommand(g);
      const inspect = cliControl(app).inspect({
        timeout, destination,
        callback: flags.json ? null : (reply) => process.stdout.write(replyText(reply, { showReply: true, quiet, style })),
      });
      const replies = await inspect.request(panel.name, args);
      if (!replies || !Object.keys(replies).length) throw noReplies();
      if (flags.json) process.stdout.write(jsonDumps(replies) + '\n');
      else if (!quiet) process.stdout.write(nodesOnline(Object.keys(replies).length));
    } catch (err) {
      process.exitCode = reportRemoteError(`inspect ${method ?? ''}`.trim(), err, g.traceback ?? false);
    } finally {
      await closeApp(app);
    }
  });
}
