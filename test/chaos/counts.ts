/**
 * Counting in the chaos suite: every task carries an index i and, once its body has finished, does
 * `HINCRBY <key> i 1` on the shared Redis (which no fault touches). After a scenario the hash says, per
 * index, how often it ran: `ran_once` (exactly 1), `duplicates` (indices run 2+ times; `extra_runs` the
 * runs beyond the first), `lost` (sent, never ran). `sent` counts the publishes that resolved; one
 * that rejected is `publish_failed`, not sent.
 *
 * Each scenario prints one line with the `celeriac-count:` prefix the CI log is grepped for:
 *   celeriac-count: chaos <scenario> <broker> <impl>: sent=.. ran_once=.. duplicates=.. lost=.. <more>
 */
import { Redis } from 'ioredis';
import type { Celery } from '../../src/app.ts';

export interface Row {
  scenario: string;
  broker: string;
  impl: string;
  sent: number;
  ranOnce: number;
  duplicates: number;
  extraRuns: number;
  lost: number;
  /** Left in the queue or unacked after every worker stopped. */
  left: number;
  /** Further figures, printed as key=value (elapsed_s, peak_rss_mb, quarantined, ...). */
  extra: Record<string, string | number>;
}

export interface Tally {
  runs: Map<number, number>;
  ranOnce: number;
  duplicates: number;
  extraRuns: number;
  lost: number;
  distinct: number;
}

/**
 * Reads the counter hash for indices `0..n-1` (other fields are ignored but reported as `stray`);
 * `notSent` (publishes that rejected) are not counted as lost.
 */
export async function tally(counter: Redis, key: string, n: number, notSent: number[] = []): Promise<Tally & { stray: number }> {
  const all = await counter.hgetall(key);
  const runs = new Map<number, number>();
  let stray = 0;
  for (const [f, v] of Object.entries(all)) {
    const i = Number(f);
    if (Number.isInteger(i) && i >= 0 && i < n) runs.set(i, Number(v));
    else stray++;
  }
  let ranOnce = 0;
  let duplicates = 0;
  let extraRuns = 0;
  for (const c of runs.values()) {
    if (c === 1) ranOnce++;
    else if (c > 1) {
      duplicates++;
      extraRuns += c - 1;
    }
  }
    let lost = 0;
  const skip = new Set(notSent);
  for (let i = 0; i < n; i++) if (!runs.has(i) && !skip.has(i)) lost++;
  return { runs, ranOnce, duplicates, extraRuns, lost, distinct: runs.size, stray };
}

export function countLine(r: Row): string {
  const extra = Object.entries(r.extra).map(([k, v]) => ` ${k}=${v}`).join('');
  return `celeriac-count: chaos ${r.scenario} ${r.broker} ${r.impl}: sent=${r.sent} ran_once=${r.ranOnce} ` +
    `duplicates=${r.duplicates} extra_runs=${r.extraRuns} lost=${r.lost} left=${r.left}${extra}`;
}

/** The figures as a markdown table (the long run's report). */
export function markdownTable(rows: Row[]): string {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r.extra)))];
  const head = ['scenario', 'broker', 'worker', 'sent', 'ran once', 'duplicates', 'extra runs', 'lost', 'left', ...keys];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    lines.push(`| ${[r.scenario, r.broker, r.impl === 'ts' ? 'celeriac' : 'python celery', r.sent, r.ranOnce, r.duplicates, r.extraRuns, r.lost, r.left,
      ...keys.map((k) => r.extra[k] ?? '')].join(' | ')} |`);
  }
  return lines.join('\n');
}

export interface Published {
  sent: number;
  failed: number;
  /** The indices whose publish rejected (not sent: not counted as lost). */
  failedIndices: number[];
  /** The first few publish errors. */
  errors: string[];
}

/**
 * Publishes `chaos.<task>(i, ms)` for every i in `indices`, `inflight` at a time, to `queue`. Resolves
 * when all have settled; `onSent` runs after each resolved publish (for pacing and fault triggers).
 */
export async function publish(app: Celery, task: string, indices: number[], ms: number, queue: string,
  o: { inflight?: number; onSent?: (sent: number) => Promise<void> | void } = {}): Promise<Published> {
  const out: Published = { sent: 0, failed: 0, failedIndices: [], errors: [] };
  let next = 0;
  const lane = async () => {
    while (next < indices.length) {
      const i = indices[next++]!;
      try {
        await app.sendTask(task, [i, ms], {}, { queue });
        out.sent++;
        await o.onSent?.(out.sent);
      } catch (err) {
        out.failed++;
        out.failedIndices.push(i);
        if (out.errors.length < 5) out.errors.push(`${i}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: o.inflight ?? 100 }, lane));
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 50 ms; false when `ms` passed first. */
export async function until(cond: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) return false;
    await sleep(50);
  }
  return true;
}
