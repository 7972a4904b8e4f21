/**
 * The file store (Celery's `PersistentScheduler`, `-s celerybeat-schedule.json`): entries and their run
 * state in memory, ordered by next due time in a heap, kept on disk as a JSON snapshot plus an
 * append-only journal.
 *
 * Every claim batch is one journal line, written and fsynced before the scheduler sends anything, so the
 * disk cost of a tick follows what was due, not how many entries there are. The journal is folded into
 * a new snapshot (written to a temporary file, fsynced, renamed over the old one) every `compactEvery`
 * lines and on close. A restart replays the journal: a slot sent is never sent again, a slot claimed
 * and never confirmed comes back from `pending()` to be resent with its task id, and what fell due while
 * beat was down runs once.
 *
 * A lock file next to the schedule (`<path>.lock`, holding the pid) keeps a second beat off the same
 * file: Celery lets two beats share one and both send every entry.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PyValue } from '../../../protocol/values.ts';
import { ConfigurationError } from '../../errors.ts';
import type { WorkerLogger } from '../../worker/log.ts';
import type { Schedule, ScheduleJSON } from '../schedules/base.ts';
import { initialRunState, type BeatStore, type Claim, type ClaimRequest, type DueEntries, type Entry, type EntryDefinition } from '../store.ts';
import { DueHeap } from './heap.ts';

export const FILE_FORMAT = 'celeriac-beat-schedule/1';

export interface FileStoreOptions {
  path: string;
  /** The app's time zone, recorded in the file; a change is logged and the run state kept (instants). */
  timezone: string;
  dueAt: (entry: Entry, now: number) => number | null;
  fromJSON: (json: ScheduleJSON) => Schedule;
  logger: WorkerLogger;
  now?: () => number;
  /** Journal lines before the snapshot is rewritten. @default 1000 */
  compactEvery?: number;
}

interface Stored {
  entry: Entry;
  /** From `beat_schedule` (removed when no longer configured) rather than added at run time. */
  static: boolean;
}

interface SnapshotEntry {
  task: string;
  schedule: ScheduleJSON;
  args: readonly PyValue[];
  kwargs: Readonly<Record<string, PyValue>>;
  options: Readonly<Record<string, PyValue>>;
  enabled: boolean;
  static: boolean;
  last_run_at: number | null;
  total_run_count: number;
  /** The last slot claimed (epoch ms). */
  claimed?: number;
}

interface Snapshot {
  format: string;
  timezone: string;
  entries: Record<string, SnapshotEntry>;
  pending: Claim[];
}

type JournalLine =
  | { claims: { claim: Claim; meta: { lastRunAt: number; totalRunCount: number } }[] }
  | { sent: [string, number][] };

export class FileBeatStore implements BeatStore {
  readonly kind = 'file';
  readonly location: string;
  private readonly opts: Required<Omit<FileStoreOptions, 'now'>> & { now: () => number };
  private readonly entries = new Map<string, Stored>();
  private readonly claimed = new Map<string, number>();
  private readonly pendingClaims = new Map<string, Claim>();
  private readonly heap = new DueHeap();
  private journalFd: number | null = null;
  private journalLines = 0;
  private lockPath: string;
  private locked = false;
  private loaded = false;

  constructor(options: FileStoreOptions) {
    this.opts = { compactEvery: 1000, now: () => Date.now(), ...options };
    this.location = options.path;
    this.lockPath = `${options.path}.lock`;
  }

  private get journalPath(): string {
    return `${this.opts.path}.journal`;
  }

  async setup(statics: readonly EntryDefinition[], now: number): Promise<void> {
    this.lock();
    this.load();
    const names = new Set(statics.map((d) => d.name));
    for (const [name, stored] of this.entries) {
      if (stored.static && !names.has(name)) {
        this.entries.delete(name);
        this.claimed.delete(name);
      }
    }
    for (const def of statics) {
      const prev = this.entries.get(def.name);
      this.entries.set(def.name, {
        static: true,
        entry: { ...def, ...(prev ? { lastRunAt: prev.entry.lastRunAt, totalRunCount: prev.entry.totalRunCount } : initialRunState(def, now)) },
      });
    }
    this.compact();
    for (const { entry } of this.entries.values()) this.heap.set(entry.name, this.opts.dueAt(entry, now));
  }

  async due(until: number): Promise<DueEntries> {
    const names = this.heap.popUntil(until);
    const entries: Entry[] = [];
    for (const name of names) {
      const stored = this.entries.get(name);
      if (stored) entries.push(stored.entry);
    }
    return { entries, nextAt: this.heap.peekAt() };
  }

  async claim(requests: readonly ClaimRequest[]): Promise<Claim[]> {
    const accepted: { request: ClaimRequest; claim: Claim; meta: { lastRunAt: number; totalRunCount: number } }[] = [];
    const now = this.opts.now();
    for (const r of requests) {
      const stored = this.entries.get(r.entry.name);
      const last = this.claimed.get(r.entry.name);
      if (!stored || stored.entry.lastRunAt !== r.entry.lastRunAt || (last !== undefined && last >= r.slot)) {
        if (stored) this.heap.set(stored.entry.name, this.opts.dueAt(stored.entry, now));
        continue;
      }
      const { entry } = r;
      const claim: Claim = {
        name: entry.name, slot: r.slot, taskId: r.taskId, claimedAt: now,
        task: entry.task, args: entry.args, kwargs: entry.kwargs, options: entry.options,
      };
      accepted.push({ request: r, claim, meta: { lastRunAt: r.meta.lastRunAt ?? now, totalRunCount: r.meta.totalRunCount } });
    }
    if (accepted.length === 0) return [];
    this.append({ claims: accepted.map(({ claim, meta }) => ({ claim, meta })) });
    for (const { request, claim, meta } of accepted) {
      this.applyClaim(claim, meta);
      this.heap.set(claim.name, request.nextDueAt);
    }
    this.maybeCompact();
    return accepted.map((c) => c.claim);
  }

  async reschedule(name: string, nextDueAt: number | null): Promise<void> {
    if (this.entries.has(name)) this.heap.set(name, nextDueAt);
  }

  async sent(claims: readonly Claim[]): Promise<void> {
    if (claims.length === 0) return;
    this.append({ sent: claims.map((c) => [c.name, c.slot]) });
    for (const c of claims) this.pendingClaims.delete(pendingKey(c.name, c.slot));
    this.maybeCompact();
  }

  async pending(): Promise<Claim[]> {
    return [...this.pendingClaims.values()].sort((a, b) => a.claimedAt - b.claimedAt);
  }

  async list(): Promise<Entry[]> {
    this.load();
    return [...this.entries.values()].map((s) => s.entry);
  }

  async get(name: string): Promise<Entry | null> {
    this.load();
    return this.entries.get(name)?.entry ?? null;
  }

  async save(def: EntryDefinition): Promise<void> {
    this.requireLock('save');
    const prev = this.entries.get(def.name);
    const entry: Entry = { ...def, ...(prev ? { lastRunAt: prev.entry.lastRunAt, totalRunCount: prev.entry.totalRunCount } : initialRunState(def, this.opts.now())) };
    this.entries.set(def.name, { entry, static: prev?.static ?? false });
    this.heap.set(def.name, this.opts.dueAt(entry, this.opts.now()));
    this.compact();
  }

  async remove(name: string): Promise<boolean> {
    this.requireLock('remove');
    if (!this.entries.delete(name)) return false;
    this.heap.set(name, null);
    this.compact();
    return true;
  }

  async setEnabled(name: string, enabled: boolean): Promise<boolean> {
    const stored = this.entries.get(name);
    if (!stored) return false;
    return this.save({ ...stored.entry, enabled }).then(() => true);
  }

  async close(): Promise<void> {
    if (!this.locked) return;
    this.compact();
    if (this.journalFd !== null) closeSync(this.journalFd);
    this.journalFd = null;
    rmSync(this.lockPath, { force: true });
    this.locked = false;
  }

  // -------------------------------------------------------------------------------------------
  // disk

  /** Changes go through the beat that holds the file (setup() took its lock), never beside it. */
  private requireLock(what: string): void {
    if (!this.locked) throw new ConfigurationError(`cannot ${what} an entry of ${this.opts.path} from outside the beat that runs it: use the Redis store (-S redis) for run-time changes`);
  }

  private applyClaim(claim: Claim, meta: { lastRunAt: number; totalRunCount: number }): void {
    const stored = this.entries.get(claim.name);
    if (stored) stored.entry = { ...stored.entry, lastRunAt: meta.lastRunAt, totalRunCount: meta.totalRunCount };
    this.claimed.set(claim.name, Math.max(claim.slot, this.claimed.get(claim.name) ?? -Infinity));
    this.pendingClaims.set(pendingKey(claim.name, claim.slot), claim);
  }

  /**
   * Writes one journal line and fsyncs it. The caller applies the line to memory, then calls
   * {@link maybeCompact}: a compaction here would snapshot the state without this line and then empty
   * the journal that holds it, losing the claim (or the `sent`) on a crash before the next compaction.
   */
  private append(line: JournalLine): void {
    if (this.journalFd === null) this.journalFd = openSync(this.journalPath, 'a');
    writeSync(this.journalFd, JSON.stringify(line) + '\n');
    fsyncSync(this.journalFd);
    this.journalLines++;
  }

  /** Folds the journal into the snapshot once it has `compactEvery` lines (after they were applied). */
  private maybeCompact(): void {
    if (this.journalLines >= this.opts.compactEvery) this.compact();
  }

  /** Writes the snapshot atomically and empties the journal. */
  private compact(): void {
    const snapshot: Snapshot = { format: FILE_FORMAT, timezone: this.opts.timezone, entries: {}, pending: [...this.pendingClaims.values()] };
    for (const [name, { entry, static: isStatic }] of this.entries) {
      snapshot.entries[name] = {
        task: entry.task, schedule: entry.schedule.toJSON(), args: entry.args, kwargs: entry.kwargs, options: entry.options,
        enabled: entry.enabled, static: isStatic, last_run_at: entry.lastRunAt, total_run_count: entry.totalRunCount,
        ...(this.claimed.has(name) ? { claimed: this.claimed.get(name)! } : {}),
      };
    }
    const tmp = `${this.opts.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(snapshot));
    const fd = openSync(tmp, 'r+');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.opts.path);
    syncDir(dirname(this.opts.path));
    if (this.journalFd !== null) closeSync(this.journalFd);
    this.journalFd = openSync(this.journalPath, 'w');
    fsyncSync(this.journalFd);
    this.journalLines = 0;
  }

  /** Reads the snapshot and journal once (read-only until {@link setup} takes the lock). */
  private load(): void {
    if (this.loaded) return;
    this.loaded = true;
    const path = this.opts.path;
    if (!existsSync(path)) return;
    const text = readFileSync(path);
    let snapshot: Snapshot;
    try {
      snapshot = JSON.parse(text.toString('utf8')) as Snapshot;
      if (snapshot.format !== FILE_FORMAT) throw new Error(`format is ${JSON.stringify(snapshot.format)}`);
    } catch (err) {
      const python = text.length > 0 && (text[0]! < 0x20 || text.subarray(0, 16).includes(0));
      throw new ConfigurationError(
        `schedule file ${path} is not a celeriac beat schedule (${python ? "it looks like Python Celery's shelve file" : (err as Error).message}): `
        + 'move it away or pass another file with -s',
      );
    }
    if (snapshot.timezone !== this.opts.timezone) {
      this.opts.logger.warning(
        `beat: the time zone changed from ${snapshot.timezone} to ${this.opts.timezone}: last run times are kept (they are instants); crontab entries follow ${this.opts.timezone}'s wall clock from now on`,
      );
    }
    for (const [name, e] of Object.entries(snapshot.entries)) {
      let schedule: Schedule;
      try {
        schedule = this.opts.fromJSON(e.schedule);
      } catch (err) {
        this.opts.logger.error(`beat: ${path}: entry ${name} has a schedule celeriac cannot read (${(err as Error).message}); dropped`);
        continue;
      }
      this.entries.set(name, {
        static: e.static,
        entry: {
          name, task: e.task, schedule, args: e.args, kwargs: e.kwargs, options: e.options, enabled: e.enabled,
          lastRunAt: e.last_run_at, totalRunCount: e.total_run_count,
        },
      });
      if (e.claimed !== undefined) this.claimed.set(name, e.claimed);
    }
    for (const c of snapshot.pending) this.pendingClaims.set(pendingKey(c.name, c.slot), c);
    this.replayJournal();
  }

  private replayJournal(): void {
    if (!existsSync(this.journalPath)) return;
    const lines = readFileSync(this.journalPath, 'utf8').split('\n');
    for (const [i, text] of lines.entries()) {
      if (text === '') continue;
      let line: JournalLine;
      try {
        line = JSON.parse(text) as JournalLine;
      } catch {
        // a line cut short by a crash mid-write: nothing after it was written either
        if (i >= lines.length - 2) break;
        throw new ConfigurationError(`schedule journal ${this.journalPath}: line ${i + 1} is not JSON: move it away to start over`);
      }
      if ('claims' in line) for (const { claim, meta } of line.claims) this.applyClaim(claim, meta);
      else for (const [name, slot] of line.sent) this.pendingClaims.delete(pendingKey(name, slot));
    }
  }

  private lock(): void {
    if (this.locked) return;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockPath, 'wx');
        writeSync(fd, String(process.pid));
        closeSync(fd);
        this.locked = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number(readFileSync(this.lockPath, 'utf8').trim());
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
          throw new ConfigurationError(
            `another beat (pid ${pid}) is using the schedule file ${this.opts.path}: run one beat per file (two would send every entry twice), or use -S redis for several`,
          );
        }
        this.opts.logger.warning(`beat: removing the stale lock ${this.lockPath} of pid ${pid}, which is gone`);
        rmSync(this.lockPath, { force: true });
      }
    }
    throw new ConfigurationError(`could not lock ${this.lockPath}`);
  }
}

function pendingKey(name: string, slot: number): string {
  return `${name}\n${slot}`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some file systems cannot fsync a directory; the rename is still atomic
  }
}
