/**
 * A pid lock file, as Celery's `Pidfile` / `create_pidlock` (`celery/platforms.py`):
 *
 * - created with O_CREAT|O_EXCL, mode 0644, holding `<pid>\n`, re-read to check it;
 * - refused (EX_CANTCREAT, 73, with Celery's "Pidfile (...) already exists" message) while the
 *   process it names is alive; a stale one (process gone, unreadable or empty file, or our own pid)
 *   is removed first with Celery's "Stale pidfile exists - Removing it." on stderr;
 * - removed when the process exits.
 *
 * One difference, for `kill -HUP` (a restart is a new process in Node, which has no exec): a
 * process started by the restart takes over the pidfile from the pid named in
 * {@link TAKEOVER_ENV}, and a process removes the file at exit only while it still names itself, so
 * the old process's exit does not remove the new one's pidfile.
 */
import { closeSync, constants, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';

/** Set by a restarting worker on its successor: the pid whose pidfile the successor may take over. */
export const TAKEOVER_ENV = 'CELERIAC_PIDFILE_TAKEOVER';

/** Celery's EX_CANTCREAT. */
export const EX_CANTCREAT = 73;

export class LockFailed extends Error {
  override name = 'LockFailed';
  readonly exitCode = EX_CANTCREAT;
}

/** Whether a process with this pid exists (signal 0; EPERM means it exists under another user). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Pidfile {
  readonly path: string;

  constructor(path: string) {
    this.path = resolve(path);
  }

  /** The pid in the file; null when there is no file; throws when it is partial or not a number. */
  readPid(): number | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const line = text.split('\n')[0] ?? '';
    if (!text.includes('\n')) throw new Error(`Partial or invalid pidfile ${this.path}`);
    const pid = Number(line.trim());
    if (!Number.isInteger(pid)) throw new Error(`pidfile ${this.path} contents invalid.`);
    return pid;
  }

  isLocked(): boolean {
    try {
      readFileSync(this.path);
      return true;
    } catch {
      return false;
    }
  }

  remove(): void {
    try {
      unlinkSync(this.path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EACCES') throw err;
    }
  }

  /** Removes the file when the process it names is gone (Celery's `remove_if_stale`); true if removed. */
  removeIfStale(warn: (line: string) => void = (l) => process.stderr.write(l + '\n')): boolean {
    let pid: number | null;
    try {
      pid = this.readPid();
    } catch {
      warn('Broken pidfile found - Removing it.');
      this.remove();
      return true;
    }
    if (!pid || pid === process.pid) {
      this.remove();
      return true;
    }
    if (!pidAlive(pid)) {
      warn('Stale pidfile exists - Removing it.');
      this.remove();
      return true;
    }
    return false;
  }

  /** Writes our pid (O_EXCL: fails when the file exists) and re-reads it. */
  writePid(): void {
    const content = `${process.pid}\n`;
    const fd = openSync(this.path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (readFileSync(this.path, 'utf8') !== content) throw new LockFailed("Inconsistency: Pidfile content doesn't match at re-read");
  }

  /** Replaces the file's content with our pid at once (rename over it): a restart's takeover. */
  replacePid(): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${process.pid}\n`, { mode: 0o644 });
    renameSync(tmp, this.path);
  }

  /** Removes the file if it still names this process. */
  release(): void {
    let pid: number | null = null;
    try {
      pid = this.readPid();
    } catch {
      return;
    }
    if (pid === process.pid) this.remove();
  }
}

/**
 * Celery's `create_pidlock`: refuse a live lock, remove a stale one, write ours, remove it at exit.
 * `takeoverFrom`: the pid of the worker this one restarts (its pidfile is taken over, not refused).
 */
export function createPidlock(path: string, options: { takeoverFrom?: number; warn?: (line: string) => void } = {}): Pidfile {
  const lock = new Pidfile(path);
  if (options.takeoverFrom !== undefined && lock.isLocked()) {
    let held: number | null = null;
    try {
      held = lock.readPid();
    } catch { /* broken: removed below */ }
    if (held === options.takeoverFrom) {
      lock.replacePid();
      process.once('exit', () => lock.release());
      return lock;
    }
  }
  if (lock.isLocked() && !lock.removeIfStale(options.warn)) {
    let held: number | null = null;
    try {
      held = lock.readPid();
    } catch { /* unreadable */ }
    throw new LockFailed(`Pidfile (${path}) already exists.\nSeems we're already running? (pid: ${held})`);
  }
  try {
    lock.writePid();
  } catch (err) {
    if (err instanceof LockFailed) throw err;
    throw new LockFailed(`${path}: ${(err as Error).message}`, { cause: err });
  }
  process.once('exit', () => lock.release());
  return lock;
}

/** Waits until `pidfile` names `child` (true), or the child exits (false), or `ms` pass (true). */
export function waitForPidfile(child: ChildProcess, pidfile: Pidfile | null, ms: number): Promise<boolean> {
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
