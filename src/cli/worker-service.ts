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
 * - Signals (src/worker/service/signals.ts), as Celery 5.6's worker (checked against it): TERM warm shutdown (exit 0; a second TERM
 *   changes nothing), INT warm (exit 1) and a second INT cold (exit 1), QUIT cold (exit 0), INT/QUIT
 *   during a cold shutdown end the process at once (exit 1); `REMAP_SIGTERM=SIGQUIT` in the
 *   environment makes TERM cold, as in Celery; USR1 writes every running task (id, name, args, kwargs, runtime so far) and the main
 *   thread's stack, and does not open Node's inspector (a SIGUSR1 listener replaces Node's); HUP, when
 *   stdout is not a terminal (as Celery), restarts: warm shutdown, then the same command line in a new
 *   process (Node has no exec, so a new pid), which takes over the pidfile before this one exits.
 * - `--inspect [host:port]`: Node's inspector, only when asked for.
 */
import type { Command } from 'commander';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { expandNodename } from '../worker/worker.ts';
import { nodeFormat } from '../worker/service/nodefmt.ts';
import { createPidlock, Pidfile, TAKEOVER_ENV, waitForPidfile } from '../worker/service/pidfile.ts';
import type { GlobalOptions } from './context.ts';
import { EX_FAILURE, EX_OK, UsageError } from './exit.ts';

import { installWorkerSignals as installSignals, type WorkerSignalsOptions } from '../worker/service/signals.ts';

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
 * TERM, INT or QUIT while the app loads, before the worker's own handlers are in: nothing was consumed
 * yet, so the process exits at once, through `exit`, which releases the pidfile (Python's default
 * SIGTERM would leave it behind, stale).
 */
let earlyStop: ((signal: NodeJS.Signals) => void) | null = null;
const EARLY_STOP_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];

/** Removes the listeners {@link startService} put in (the worker's own replace them). */
export function dropEarlyUsr1(): void {
  if (earlyUsr1) process.off('SIGUSR1', earlyUsr1);
  earlyUsr1 = null;
  if (earlyStop) for (const s of EARLY_STOP_SIGNALS) process.off(s, earlyStop);
  earlyStop = null;
}

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
  if (!earlyStop) {
    earlyStop = (signal) => {
      process.stderr.write(`celeriac worker: ${signal} received while starting: exiting (nothing was consumed yet)\n`);
      process.exit(signal === 'SIGINT' ? 1 : 0);
    };
    for (const s of EARLY_STOP_SIGNALS) process.on(s, earlyStop);
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


/** The worker's signal handlers (src/worker/service/signals.ts), replacing the early SIGUSR1 listener. */
export function installWorkerSignals(opts: WorkerSignalsOptions): void {
  installSignals(opts);
  dropEarlyUsr1();
}
