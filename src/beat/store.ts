/**
 * Where beat keeps its entries and their run state: the narrow interface the scheduler
 * (src/beat/scheduler.ts) drives, with two implementations: a file (src/beat/stores/file.ts, Celery's
 * `-s celerybeat-schedule`) and Redis in RedBeat's layout (src/beat/stores/redis.ts, `-S redis`).
 *
 * The send protocol, the same for both: `claim` records the slot (entry + due instant), the task id
 * derived from them, and the entry's next run, durably, before the message goes out; `sent` clears the
 * claim once the broker confirmed the message; `pending` gives back the claims never confirmed (a crash
 * or a lost confirm), which the scheduler resends with the same task id. So a slot is never lost, and
 * a slot sent twice carries one task id both times.
 */
import type { PyValue } from '../../protocol/values.ts';
import type { Schedule } from './schedules/base.ts';

/** An entry of `beat_schedule` (Celery's `ScheduleEntry` without its run state). */
export interface EntryDefinition {
  readonly name: string;
  /** The task's name, as registered on the workers. */
  readonly task: string;
  readonly schedule: Schedule;
  readonly args: readonly PyValue[];
  readonly kwargs: Readonly<Record<string, PyValue>>;
  /** Send options in Celery's snake_case shape: queue, routing_key, exchange, priority, expires, headers, ... */
  readonly options: Readonly<Record<string, PyValue>>;
  /** RedBeat's `enabled`: a disabled entry stays in the store and is never due. */
  readonly enabled: boolean;
}

/** An entry's run state (Celery's `last_run_at` and `total_run_count`; RedBeat's `meta`). */
export interface EntryMeta {
  /** When it last ran, epoch ms; null when it never ran (a new entry). */
  readonly lastRunAt: number | null;
  readonly totalRunCount: number;
}

export interface Entry extends EntryDefinition, EntryMeta {}

/**
 * The run state of an entry added now: Celery's (`last_run_at` = now, so an interval entry first runs
 * one interval later), except a clocked entry, which has not run: one whose instant passed before it was
 * added runs once at once, as django-celery-beat runs it.
 */
export function initialRunState(def: Pick<EntryDefinition, 'schedule'>, now: number): EntryMeta {
  return { lastRunAt: def.schedule.kind === 'clocked' ? null : now, totalRunCount: 0 };
}

/** What the scheduler asks a store to record before it sends a slot. */
export interface ClaimRequest {
  /** The entry as the scheduler read it (its lastRunAt is the compare-and-set expectation). */
  readonly entry: Entry;
  /** The due instant this send is for, epoch ms. */
  readonly slot: number;
  /** Derived from entry name + slot ({@link slotTaskId}), so every copy of a slot has one id. */
  readonly taskId: string;
  /** The run state after this send (lastRunAt = now, totalRunCount + 1). */
  readonly meta: EntryMeta;
  /** The entry's next due instant under the new meta (epoch ms), or null when it never runs again. */
  readonly nextDueAt: number | null;
}

/** A slot recorded as claimed, not yet confirmed by the broker. */
export interface Claim {
  readonly name: string;
  readonly slot: number;
  readonly taskId: string;
  /** When it was claimed, epoch ms. */
  readonly claimedAt: number;
  /** What to send (the definition as it was when claimed). */
  readonly task: string;
  readonly args: readonly PyValue[];
  readonly kwargs: Readonly<Record<string, PyValue>>;
  readonly options: Readonly<Record<string, PyValue>>;
}

export interface DueEntries {
  /** Entries whose next due time is at or before the instant asked for. */
  readonly entries: Entry[];
  /** The earliest due time after it, or null when nothing else is scheduled. */
  readonly nextAt: number | null;
}

export interface BeatStore {
  /** `file` or `redis`, for logs and `beat list`. */
  readonly kind: string;
  /** Where it lives (a path, a redacted URL), for the banner. */
  readonly location: string;
  /**
   * Installs `beat_schedule`'s entries (Celery's `merge_inplace`, RedBeat's statics): new ones are added,
   * changed ones keep their run state, static entries no longer configured are removed; entries added at
   * run time (not static) are kept.
   */
  setup(statics: readonly EntryDefinition[], now: number): Promise<void>;
  /** Entries due at or before `until` (epoch ms), found without scanning every entry. */
  due(until: number): Promise<DueEntries>;
  /**
   * Records each request (durably, before it resolves) unless its slot was claimed already or the
   * entry changed since it was read (its stored lastRunAt differs); returns those recorded.
   */
  claim(requests: readonly ClaimRequest[]): Promise<Claim[]>;
  /** Moves an entry's next check to `nextDueAt` without a run (not due yet, disabled, or skipped by a deadline). */
  reschedule(name: string, nextDueAt: number | null): Promise<void>;
  /** The broker confirmed these. */
  sent(claims: readonly Claim[]): Promise<void>;
  /** Claims recorded but never confirmed, oldest first. */
  pending(): Promise<Claim[]>;
  list(): Promise<Entry[]>;
  get(name: string): Promise<Entry | null>;
  /** Adds an entry or changes its definition, keeping its run state. */
  save(definition: EntryDefinition): Promise<void>;
  remove(name: string): Promise<boolean>;
  setEnabled(name: string, enabled: boolean): Promise<boolean>;
  /**
   * Optional: calls `onChange` when another process changes an entry, so a sleeping beat wakes for it;
   * resolves with a function that stops watching.
   */
  watch?(onChange: (name: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
