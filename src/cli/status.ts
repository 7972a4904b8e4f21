/**
 * `celeriac status`: the workers that answer a ping, one `->  node: OK` line each, then
 * `N nodes online.` (also with `-q`, as `celery status`); `--json` prints the replies too. Nobody:
 * `Error: No nodes replied within time constraint`, exit 69.
 */
import type { Command } from 'commander';
import type { Celery } from '../app.ts';
import { globalsOf, appForCommand } from './context.ts';
import { cliControl, jsonDumps, noReplies, nodesOnline, remoteOptions, remoteSettings, replyText, reportRemoteError, quietOnClosedStdout, styleFor, type RemoteFlags } from './remote.ts';
import { closeApp } from './result.ts';

export function registerStatus(program: Command): void {
  remoteOptions(program.command('status').description('Show list of workers that are online.')).action(async (flags: RemoteFlags, command: Command) => {
    const g = globalsOf(command);
    quietOnClosedStdout();
    let app: Celery | null = null;
    try {
      const { timeout, destination } = remoteSettings(flags);
      const style = styleFor(process.stdout);
      const quiet = g.quiet ?? false;
      app = await appForCommand(g);
      const replies = await cliControl(app).inspect({
        timeout, destination,
        callback: flags.json ? null : (reply) => process.stdout.write(replyText(reply, { showReply: false, quiet, style })),
      }).ping();
      if (!replies || !Object.keys(replies).length) throw noReplies();
      if (flags.json) process.stdout.write(jsonDumps(replies) + '\n');
      process.stdout.write(nodesOnline(Object.keys(replies).length));
    } catch (err) {
      process.exitCode = reportRemoteError('status', err, g.traceback ?? false);
    } finally {
      await closeApp(app);
    }
  });
}
