/**
 * `celeriac worker` as a service: Celery's daemon options and the worker's signals
 * (`celery/bin/worker.py` detach, `celery/bin/base.py` CeleryDaemonCommand, `celery/platforms.py`
 * detached / create_pidlock / maybe_drop_privileges, `celery/apps/worker.py` install_*_handler).
 *
 *   celeriac worker -A ./tasks.ts -n w1@%h --detach --pidfile /run/celery/%n.pid --logfile /var/log/celery/%n%I.log
 *
 * - `--pidfile`, `--logfile` expand `%n %h %d %p %i %I` for the node name (src/worker/service/nodefmt.ts);
 *   the pidfile is Celery's (src/worker/service/pidfile.ts); with a logfile, the worker's log lines
 *   (and, detached, everything the process writes) go there instead of stderr.
 * - `-D/--detach`: checks the logfile can be written and the pidfile is not held, then starts the
 *   worker again in the background (a new session, stdin from /dev/null, stdout/stderr to the logfile
 *   or /dev/null) and exits 0 once the new process has written its pidfile (Celery forks and exits at
 *   once; waiting lets `celeriac multi start` report a worker that died at startup as FAILED).
 * - `--uid/--gid` drop privileges as Celery (group first, supplementary groups, then the user, and
 *   check that root cannot be regained); `--umask` (octal with a leading 0, else decimal, as Celery)
 *   applies with or without `--detach` (Celery applies it only when detaching).
 * - Signals, as Celery 5.6's worker (checked against it): TERM warm shutdown (exit 0; a second TERM
 *   changes nothing), INT warm (exit 1) and a second INT cold (exit 1), QUIT cold (exit 0), INT/QUIT
 *   during a cold shutdown end the process at once (exit 1); `REMAP_SIGTERM=SIGQUIT` in the
 *   environment makes TERM cold, as in Celery; USR1 writes every running task (id, name, args, kwargs, runtime so far) and the main
 *   thread's stack, and does not open Node's inspector (a SIGUSR1 listener replaces Node's); HUP, when
 *   stdout is not a terminal (as Celery), restarts: warm shutdown, then the same command line in a new
 *   process (Node has no exec, so a new pid), which takes over the pidfile before this one exits.
 * - `--inspect [host:port]`: Node's inspector, only when asked for.
 */
import type { Command } from 'commander';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { WorkerLogger } from '../worker/log.ts';
import type { Worker } from '../worker/worker.ts';
import { expandNodename } from '../worker/worker.ts';
import { nodeFormat } from '../worker/service/nodefmt.ts';
import { createPidlock, Pidfile, TAKEOVER_ENV } from '../worker/service/pidfile.ts';
import type { GlobalOptions } from './context.ts';
import { EX_FAILURE, EX_OK, UsageError } from './exit.ts';

export interface ServiceCliOptions {
  hostname?: string;
  pidfile?: string;
  logfile?: string;
  detach?: boolean;
  uid?: string;
  gid?: string;
  umask?: string;
  executable?: string;
  inspect?: string | boolean;
}

/** Adds Celery's daemonization options (and `--inspect`) to the worker command. */
export function registerServiceOptions(cmd: Command): Command {
  return cmd
    .option('-f, --logfile <path>', 'log destination (default stderr); %n %h %d %p %i %I are expanded')
    .option('--pidfile <path>', 'PID file path (default none); %n %h %d %p are expanded')
    .option('-D, --detach', 'start the worker as a background process')
    .option('--uid <user>', 'drop privileges to this user (name or id)')
    .option('--gid <group>', 'drop privileges to this group (name or id)')
    .option('--umask <mask>', 'create files with this umask (octal with a leading 0, else decimal)')
    .option('--executable <path>', 'with --detach: the node binary to start the worker with')
    .option('--inspect [host:port]', "open Node's inspector (default 127.0.0.1:9229); never opened otherwise, not even by SIGUSR1");
}

/** What the worker command gets from {@link startService}. */
export interface Service {
  /** Writes one log line: to the logfile, else stderr. */
  write(line: string): void;
  pidfile: Pidfile | null;
}

/** Celery's umask parsing: octal with a leading zero, else decimal. */
export function parseUmask(text: string): number {
  const n = text.startsWith('0') ? parseInt(text, 8) : Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 0o777 || !/^[0-9]+$/.test(text)) throw new UsageError(`--umask must be a number (octal with a leading 0, e.g. 022 or 0o022 as 022), got ${JSON.stringify(text)}`);
  return n;
}

/** Paths on the command line are relative to --workdir (Celery changes directory before anything). */
function servicePath(g: GlobalOptions, template: string, nodename: string): string {
  return resolve(resolve(g.workdir ?? '.'), nodeFormat(template, nodename));
}

function openLog(path: string): number {
  mkdirSync(dirname(path), { recursive: true });
  try {
    return openSync(path, 'a', 0o644);
  } catch (err) {
    throw new UsageError(`--logfile ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Celery's `maybe_drop_privileges`: group, supplementary groups, user; root must not come back. */
export function dropPrivileges(uid?: string, gid?: string): void {
  if (uid === undefined && gid === undefined) return;
  if (process.platform === 'win32' || !process.setuid || !process.setgid) return;
  const user: string | number = uid === undefined ? '' : /^\d+$/.test(uid) ? Number(uid) : uid;
  const group: string | number | undefined = gid === undefined ? undefined : /^\d+$/.test(gid) ? Number(gid) : gid;
  try {
    if (uid !== undefined) {
      const g = group ?? Number(execFileSync('id', ['-g', String(user)], { encoding: 'utf8' }).trim());
      process.setgid(g);
      (process as { initgroups?: (user: string | number, extraGroup: string | number) => void }).initgroups?.(user, g);
      process.setuid(user);
      let regained = false;
      try {
        process.setuid(0);
        regained = true;
      } catch { /* expected: privileges cannot be restored */ }
      if (regained) throw new Error('non-root user able to restore privileges after setuid.');
    } else if (group !== undefined) {
      process.setgid(group);
    }
  } catch (err) {
    throw new UsageError(`--uid/--gid: ${(err as Error).message}`, { cause: err });
  }
}

/** Waits until `pidfile` names `child` (true), or the child exits (false), or `ms` pass (true). */
function waitForPidfile(child: ChildProcess, pidfile: Pidfile | null, ms: number): Promise<boolean> {
  return new Promise((done) => {
    if (!pidfile) return done(true);
    let exited = false;
    const onExit = () => {
      exited = true;
    };
    child.once('exit', onExit);
    const end = Date.now() + ms;
    const tick = () => {
      let pid: number | null = null;
      try {
        pid = pidfile.readPid();
      } catch { /* being written */ }
      if (pid === child.pid) return finish(true);
      if (exited || child.exitCode !== null) return finish(false);
      if (Date.now() > end) return finish(true);
      setTimeout(tick, 25);
    };
    const finish = (ok: boolean) => {
      child.off('exit', onExit);
      done(ok);
    };
    tick();
  });
}

/** This process's command line without the options that only the starting process uses. */
function argvWithout(args: string[], flags: string[], valued: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (flags.includes(a)) continue;
    if (valued.includes(a)) {
      i++;
      continue;
    }
    if (valued.some((v) => a.startsWith(`${v}=`))) continue;
    out.push(a);
  }
  return out;
}

/** `--detach`: Celery's `detach()` for a runtime without fork. Resolves to the exit status. */
async function detach(o: ServiceCliOptions, g: GlobalOptions, nodename: string): Promise<number> {
  const logfile = o.logfile ? servicePath(g, o.logfile, nodename) : null;
  const pidfile = o.pidfile ? new Pidfile(servicePath(g, o.pidfile, nodename)) : null;
  dropPrivileges(o.uid, o.gid);
  if (o.umask !== undefined) process.umask(parseUmask(o.umask));
  const fd = logfile ? openLog(logfile) : 'ignore';
  // the pidfile is not created here (the worker does it), only checked: a live one refuses
  if (pidfile && pidfile.isLocked() && !pidfile.removeIfStale()) {
    process.stderr.write(`ERROR: Pidfile (${pidfile.path}) already exists.\nSeems we're already running? (pid: ${pidfile.readPid()})\n`);
    return 73;
  }
  const args = argvWithout(process.argv.slice(1), ['--detach', '-D'], ['--uid', '--gid', '--executable']);
  const child = spawn(o.executable ?? process.execPath, [...process.execArgv, ...args], {
    detached: true, stdio: ['ignore', fd, fd], cwd: process.cwd(), env: process.env,
  });
  const spawned = await new Promise<boolean>((r) => {
    child.once('spawn', () => r(true));
    child.once('error', (err) => {
      process.stderr.write(`celeriac worker: can't exec ${o.executable ?? process.execPath}: ${err.message}\n`);
      r(false);
    });
  });
  if (typeof fd === 'number') closeSync(fd);
  if (!spawned) return EX_FAILURE;
  const ok = await waitForPidfile(child, pidfile, 60_000);
  child.unref();
  if (!ok) {
    process.stderr.write(`celeriac worker: the detached worker exited at startup (status ${child.exitCode ?? child.signalCode})${logfile ? `; see ${logfile}` : ''}\n`);
    return EX_FAILURE;
  }
  return EX_OK;
}

let earlyUsr1: (() => void) | null = null;

/**
 * Everything before the app loads: `--detach` (resolves to `{detached: status}` in the starting
 * process), privileges, umask, the pidfile, the logfile, the inspector. A SIGUSR1 listener goes in
 * first, so that signal never opens Node's inspector, even while the app module loads.
 */
export async function startService(o: ServiceCliOptions, g: GlobalOptions): Promise<Service | { detached: number }> {
  if (!earlyUsr1) {
    earlyUsr1 = () => process.stderr.write('celeriac worker: SIGUSR1 received while starting: no task runs yet\n');
    process.on('SIGUSR1', earlyUsr1);
  }
  const nodename = expandNodename(o.hostname ?? 'celery@%h');
  if (o.detach) return { detached: await detach(o, g, nodename) };
  dropPrivileges(o.uid, o.gid);
  if (o.umask !== undefined) process.umask(parseUmask(o.umask));
  const takeover = process.env[TAKEOVER_ENV];
  delete process.env[TAKEOVER_ENV];
  const pidfile = o.pidfile
    ? createPidlock(servicePath(g, o.pidfile, nodename), takeover ? { takeoverFrom: Number(takeover) } : {})
    : null;
  let write = (line: string) => {
    process.stderr.write(line + '\n');
  };
  if (o.logfile) {
    const fd = openLog(servicePath(g, o.logfile, nodename));
    write = (line) => {
      writeSync(fd, line + '\n');
    };
  }
  if (o.inspect !== undefined && o.inspect !== false) {
    const [host, port] = typeof o.inspect === 'string' && o.inspect.includes(':')
      ? [o.inspect.slice(0, o.inspect.lastIndexOf(':')), Number(o.inspect.slice(o.inspect.lastIndexOf(':') + 1))]
      : ['127.0.0.1', typeof o.inspect === 'string' ? Number(o.inspect) : 9229];
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--inspect takes host:port or a port, got ${JSON.stringify(o.inspect)}`);
    const inspector = await import('node:inspector');
    inspector.open(port, host);
    write(`celeriac worker: inspector listening on ${inspector.url() ?? `${host}:${port}`}`);
  }
  return { write, pidfile };
}

/** What the signal handlers need of the worker. */
export type SignalledWorker = Pick<Worker, 'hostname' | 'stop' | 'requestsSnapshot'>;

/** USR1: the running tasks and the main thread's stack (Celery's `cry()` dumps every thread's stack). */
export function dumpState(worker: SignalledWorker, now = Date.now()): string {
  const active = worker.requestsSnapshot().active;
  const lines = [`${worker.hostname} (pid ${process.pid}): ${active.length} running task(s)`, '='.repeat(49)];
  for (const r of active) {
    const runtime = r.timeStart === null ? 'not started' : `${((now - r.timeStart) / 1000).toFixed(3)}s`;
    lines.push(`${r.name}[${r.id}] running for ${runtime} args=${JSON.stringify(r.context.args)} kwargs=${JSON.stringify(r.context.kwargs)}`);
  }
  lines.push('', 'MainThread', '='.repeat(49));
  lines.push(...(new Error('stack').stack ?? '').split('\n').slice(1).map((l) => l.trimStart()).map((l) => `  ${l}`));
  lines.push('='.repeat(49));
  return lines.join('\n');
}

export interface WorkerSignalsOptions {
  worker: SignalledWorker;
  /** Stops what runs beside the worker (an embedded beat) before it. */
  stopFirst?: () => Promise<void>;
  service: Service;
  logger: WorkerLogger;
  /** Ends the process (default `process.exit`). */
  exit?: (code: number) => void;
  /** Reports a failed shutdown, returns the exit status. */
  onError?: (err: Error) => number;
}

/** Installs Celery's worker signal handlers (see the module notes). */
export function installWorkerSignals(opts: WorkerSignalsOptions): void {
  const { worker, service } = opts;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  const say = (line: string) => process.stdout.write(line + '\n');
  let state: 'running' | 'warm' | 'cold' = 'running';
  let exitcode = EX_OK;
  let intSeen = false;
  let restarting = false;
  let stopped: Promise<void> | null = null;

  const shutdown = (how: 'warm' | 'cold', code: number): void => {
    if (how === 'cold') {
      if (state !== 'cold') say('worker: Hitting Ctrl+C again will terminate all running tasks!');
      state = 'cold';
      exitcode = code;
      void worker.stop({ cold: true });
    } else if (state === 'running') {
      state = 'warm';
      exitcode = code;
    }
    if (stopped) return;
    stopped = (opts.stopFirst?.() ?? Promise.resolve()).then(() => worker.stop({ cold: state === 'cold' }));
    stopped.then(async () => {
      if (restarting) await restart();
      exit(exitcode);
    }, (err: Error) => exit(opts.onError?.(err) ?? EX_FAILURE));
  };

  const restart = async () => {
    const argv = [...process.execArgv, ...process.argv.slice(1)];
    const child = spawn(process.execPath, argv, { stdio: 'inherit', env: { ...process.env, [TAKEOVER_ENV]: String(process.pid) } });
    child.once('error', (err) => service.write(`celeriac worker: restart failed: ${err.message}`));
    await waitForPidfile(child, service.pidfile, 60_000);
    child.unref();
  };

  // the worker logs 'worker: Warm/Cold shutdown (MainProcess)' itself; Celery's REMAP_SIGTERM=SIGQUIT
  // makes TERM a cold shutdown (exit 0, as QUIT), e.g. for platforms that send TERM shortly before KILL
  const remap = process.env.REMAP_SIGTERM === 'SIGQUIT';
  process.on('SIGTERM', () => (remap ? (state === 'cold' ? exit(EX_FAILURE) : shutdown('cold', state === 'running' ? EX_OK : exitcode)) : shutdown('warm', EX_OK)));
  process.on('SIGINT', () => {
    if (state === 'cold') return exit(EX_FAILURE); // hard shutdown
    if (intSeen) return shutdown('cold', EX_FAILURE);
    intSeen = true;
    say('worker: Hitting Ctrl+C again will initiate cold shutdown, terminating all running tasks!');
    shutdown('warm', EX_FAILURE);
  });
  process.on('SIGQUIT', () => {
    if (state === 'cold') return exit(EX_FAILURE);
    shutdown('cold', state === 'running' ? EX_OK : exitcode);
  });
  if (earlyUsr1) process.off('SIGUSR1', earlyUsr1);
  earlyUsr1 = null;
  process.on('SIGUSR1', () => service.write(dumpState(worker)));
  // Celery restarts on HUP only when stdout is not a terminal (closing the terminal should not
  // restart the worker into the background); otherwise HUP keeps its default action (end the process)
  if (!process.stdout.isTTY) {
    process.on('SIGHUP', () => {
      if (state !== 'running') return;
      say(`Restarting celery worker (${process.argv.slice(1).join(' ')})`);
      restarting = true;
      shutdown('warm', EX_OK);
    });
  }
}
