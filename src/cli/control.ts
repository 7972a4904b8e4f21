/**
 * `celeriac control <method> [args...]`: send one of Celery's control commands to the workers
 * (Python and TypeScript alike) and print each node's reply as `celery control` does; the words
 * after the method become its arguments with Celery's types (`rate_limit TASK RATE`, `time_limit
 * TASK SOFT [HARD]` as floats, `add_consumer QUEUE [EXCHANGE [TYPE [ROUTING_KEY]]]`, `pool_grow N`,
 * `revoke ID...`). `--json` prints the list of replies; no reply: exit 69.
 *
 *   celeriac -A ./tasks.ts control rate_limit proj.tasks.add 10/m -d celery@host
 */
import type { Command } from 'commander';
import type { PyDict } from '../../protocol/values.ts';
import type { Celery } from '../app.ts';
import { globalsOf, appForCommand } from './context.ts';
import {
  cliControl, compileArguments, jsonDumps, listCommands, noReplies, quietOnClosedStdout, remoteOptions, remoteSettings, replyText, reportRemoteError,
  styleFor, verifyCommand, type RemoteFlags,
} from './remote.ts';
import { closeApp } from './result.ts';

interface ControlFlags extends RemoteFlags {
  list?: boolean;
}

export function registerControl(program: Command): void {
  remoteOptions(
    program
      .command('control')
      .description('Send the COMMAND control command to the workers (`--list` shows them).')
      .argument('[command]', 'the control command: rate_limit, time_limit, revoke, add_consumer, pool_grow, shutdown, ...')
      .argument('[args...]', "the command's arguments, e.g. `rate_limit TASK 10/m`")
      .option('--list', 'List available control commands and exit.'),
  ).action(async (method: string | undefined, words: string[], flags: ControlFlags, command: Command) => {
    const g = globalsOf(command);
    quietOnClosedStdout();
    if (flags.list) {
      process.stdout.write(listCommands('control'));
      return;
    }
    let app: Celery | null = null;
    try {
      if (method === undefined) command.error("error: missing required argument 'command'");
      const panel = verifyCommand('control', method);
      const args = compileArguments(panel, words);
      const { timeout, destination } = remoteSettings(flags);
      const style = styleFor(process.stdout);
      const quiet = g.quiet ?? false;
      app = await appForCommand(g);
      const replies = await cliControl(app).broadcast(panel.name, args, {
        timeout, destination, reply: true as const,
        callback: flags.json ? null : (reply: PyDict) => process.stdout.write(replyText(reply, { showReply: true, quiet, style })),
      });
      if (!replies.length) throw noReplies();
      if (flags.json) process.stdout.write(jsonDumps(replies) + '\n');
    } catch (err) {
      process.exitCode = reportRemoteError(`control ${method ?? ''}`.trim(), err, g.traceback ?? false);
    } finally {
      await closeApp(app);
    }
  });
}
