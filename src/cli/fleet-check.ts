/**
 * `celeriac fleet check`: asks the fleet `inspect registered`, `inspect active_queues` and `inspect
 * conf` (at once), adds the routes and tasks of the app given with -A, and reports every queue whose
 * consumers do not all know a task that may arrive there, every route to a queue no worker consumes,
 * and every consumer of a shared queue whose accept_content, result backend, task or result
 * serializer differs from the others' (src/control/fleet-check.ts says exactly what is checked).
 *
 *   celeriac -A ./tasks.ts fleet check -t 2          # exit 0: clean, 1: problems found
 *   celeriac -A ./tasks.ts fleet check --json
 *
 * Exit status: 0 no problem, 1 (EX_FAILURE) at least one finding, 69 no node replied or the broker
 * cannot be reached, 64 a wrong option.
 */
import type { Command } from 'commander';
import type { Celery } from '../app.ts';
import { checkFleet, formatReport, type AppRoute, type AppView } from '../control/fleet-check.ts';
import { prepareRoutes } from '../routing.ts';
import { appForCommand, globalsOf } from './context.ts';
import { EX_FAILURE } from './exit.ts';
import { cliControl, jsonDumps, noReplies, quietOnClosedStdout, remoteOptions, remoteSettings, reportRemoteError, type RemoteFlags } from './remote.ts';
import { closeApp } from './result.ts';

/** Exact task names written in `task_routes` maps (globs, regular expressions and functions left out). */
export function routeNames(routes: unknown): string[] {
  const isPair = (p: unknown) => Array.isArray(p) && p.length === 2 && (typeof p[0] === 'string' || p[0] instanceof RegExp);
  const out: string[] = [];
  const fromMap = (m: unknown) => {
    if (m instanceof Map) {
      for (const k of m.keys()) if (typeof k === 'string') out.push(k);
    } else if (Array.isArray(m)) {
      for (const p of m) if (isPair(p) && typeof p[0] === 'string') out.push(p[0]);
    } else if (m !== null && typeof m === 'object') {
      out.push(...Object.keys(m));
    }
  };
  // a list of maps (Celery's form), or one map written as a list of [pattern, route] pairs
  if (Array.isArray(routes) && !(routes.length > 0 && routes.every(isPair))) routes.forEach(fromMap);
  else fromMap(routes);
  return out.filter((k) => !k.includes('*'));
}

/** The app as the check sees it: its tasks, where it routes a name, its task_serializer. */
export function appView(app: Celery): AppView {
  const routers = prepareRoutes(app.conf.taskRoutes);
  const route = (name: string): AppRoute => {
    const own = app.tasks.get(name)?.sendDefaults as { queue?: unknown } | undefined;
    let explicit = own?.queue !== undefined && own.queue !== null;
    for (const r of routers) {
      if (explicit) break;
      try {
        const v = r(name, [], {}, {}, undefined);
        if (v !== null && v !== undefined) explicit = true;
      } catch {
        // a router function that needs real arguments: not known from the name
      }
    }
    try {
      const opts = explicit && own?.queue !== undefined ? { queue: own.queue as string } : {};
      return { queue: app.router.route(name, opts).queue?.name ?? null, explicit };
    } catch {
      return { queue: null, explicit };
    }
  };
  return {
    tasks: [...app.tasks.keys()].filter((n) => !n.startsWith('celery.')),
    routeNames: routeNames(app.conf.taskRoutes),
    route,
    taskSerializer: app.conf.taskSerializer,
  };
}

export function registerFleetCheck(program: Command): void {
  const fleet = program.command('fleet').description('Checks of a mixed fleet of Python and TypeScript workers.');
  remoteOptions(
    fleet
      .command('check')
      .description(
        'Report queues whose consumers do not all know a task that may arrive there, routes to queues nobody consumes, ' +
          'and consumers of one queue that differ in accept_content, result_backend, task_serializer or result_serializer. ' +
          'Exit 0 when clean, 1 on a finding, 69 when no node replied.',
      ),
  ).action(async (flags: RemoteFlags, command: Command) => {
    const g = globalsOf(command);
    quietOnClosedStdout();
    let app: Celery | null = null;
    try {
      const { timeout, destination } = remoteSettings(flags);
      app = await appForCommand(g);
      const inspect = cliControl(app).inspect({ timeout, destination });
      const [registered, activeQueues, conf] = await Promise.all([inspect.registered(), inspect.activeQueues(), inspect.conf(true)]);
      if (!registered && !activeQueues && !conf) throw noReplies();
      const report = checkFleet({ registered, activeQueues, conf }, appView(app));
      process.stdout.write(flags.json ? jsonDumps(report) + '\n' : formatReport(report));
      if (!report.ok) process.exitCode = EX_FAILURE;
    } catch (err) {
      process.exitCode = reportRemoteError('fleet check', err, g.traceback ?? false);
    } finally {
      await closeApp(app);
    }
  });
}
