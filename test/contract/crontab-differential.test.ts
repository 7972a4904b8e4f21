// Celery's crontab and schedule against the port, case for case: random crontab expressions (names in
// any case, wrap-around ranges, steps, lists, day of month AND day of week) from random instants (many on
// DST transition days) in five zones, chained as beat chains them; crontab is_due with a starting
// deadline; intervals (fractional, relative); invalid expressions. One Python process, JSON in and out.
// Seed and size: CELERIAC_CRON_SEED, CELERIAC_CRON_CASES.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requirePython, runPython } from '../helpers/peers.ts';
import { CronParseError, crontab, type CrontabSchedule } from '../../src/beat/schedules/crontab.ts';
import { schedule } from '../../src/beat/schedules/interval.ts';
import { formatInstant, Zone } from '../../src/beat/schedules/zone.ts';
import { mulberry32 } from '../helpers/random.ts';

const SEED = Number(process.env.CELERIAC_CRON_SEED ?? (Date.now() % 2 ** 31));
const CASES = Number(process.env.CELERIAC_CRON_CASES ?? 10_000);
const STEPS = 5;
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata'];

const rnd = mulberry32(SEED);
const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const chance = (p: number) => rnd() < p;

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sunday', 'Monday', 'TUE', 'Wednesday', 'thurs', 'FRI', 'saturday'];
const MONTHS = ['jan', 'Feb', 'MAR', 'april', 'may', 'June', 'jul', 'aug', 'sept', 'Oct', 'nov', 'December'];
const cased = (s: string) => (chance(0.2) ? s.toUpperCase() : chance(0.2) ? s[0]!.toUpperCase() + s.slice(1) : s);

/** One atom of a field over [min, min + size - 1]; `names` for day of week / month. */
function atom(min: number, size: number, names?: readonly string[]): string {
  const max = min + size - 1;
  const val = () => (names && chance(0.4) ? cased(pick(names)) : String(int(min, max)));
  const r = rnd();
  if (r < 0.3) return val();
  if (r < 0.4) return `*/${int(1, Math.max(1, Math.floor(size / 2)))}`;
  if (r < 0.75) return `${val()}-${val()}`; // wraps around when the end is below the start
  return `${val()}-${val()}/${int(1, 5)}`;
}

function field(min: number, size: number, star: number, names?: readonly string[]): string {
  if (chance(star)) return '*';
  const n = chance(0.6) ? 1 : int(2, 4);
  return Array.from({ length: n }, () => atom(min, size, names)).join(',');
}

/** A random expression; `nearDst`: hours around the changes (1-3 h) more often. */
function expression(nearDst = false): string {
  const minute = chance(0.15) ? String(int(0, 59)) : field(0, 60, 0.15);
  const hour = nearDst && chance(0.6) ? pick(['2', '1', '1,2', '1-3', '2,3', '0-2/2', '*/2', '1,3']) : field(0, 24, 0.35);
  const restrictDate = chance(0.35);
  const dom = restrictDate && chance(0.6) ? field(1, 31, 0.2) : '*';
  const moy = restrictDate && chance(0.5) ? field(1, 12, 0.3, MONTHS) : '*';
  const dow = field(0, 7, 0.5, DAYS);
  return `${minute} ${hour} ${dom} ${moy} ${dow}`;
}

const HOUR = 3_600_000;
/** DST transition instants of a zone in a year (ms), found by month steps and bisection. */
function transitions(zone: Zone, year: number): number[] {
  const out: number[] = [];
  const off = (ms: number) => zone.offsetAt(ms * 1000);
  for (let m = 0; m < 12; m++) {
    let lo = Date.UTC(year, m, 1);
    let hi = Date.UTC(year, m + 1, 1);
    if (off(lo) === off(hi)) continue;
    while (hi - lo > 1000) {
      const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
      if (off(mid) === off(lo)) lo = mid; else hi = mid;
    }
    out.push(hi);
  }
  return out;
}

/** A start instant: on a DST transition day (half the time, where the zone has DST) or anywhere in 1975-2037. */
function startFor(tz: string): number {
  return start(tz).at;
}

function start(tz: string): { at: number; nearDst: boolean } {
  const zone = Zone.get(tz);
  const tr = chance(0.5) ? transitions(zone, int(1980, 2036)) : [];
  const nearDst = tr.length > 0;
  return { at: roundish(nearDst ? pick(tr) + int(-30 * 60, 30 * 60) * 60_000 : Date.UTC(int(1975, 2037), int(0, 11), int(1, 28), int(0, 23), int(0, 59))), nearDst };
}

function roundish(t: number): number {
  // on a minute, on the hour, or anywhere (with milliseconds)
  const r = rnd();
  if (r < 0.4) return Math.floor(t / 60_000) * 60_000;
  if (r < 0.6) return Math.floor(t / HOUR) * HOUR + pick([0, 15, 30, 45]) * 60_000;
  return t + int(0, 59_999);
}

const INVALID = [
  '60 * * * *', '* 24 * * *', '* * 0 * *', '* * 32 * *', '* * * 13 *', '* * * 0 *', '* * * * 7', '* * * * xyz',
  '* * * * mon-xyz', '*/0 * * * *', '1-5/0 * * * *', '*/ * * * *', '1-5/ * * * *', '-5 * * * *', ',5 * * * *',
  '5, * * * *', '* * * *', '* * * * * *', '*  * * * *', '', '*/abc * * * *', '5-70 * * * *', '70-5 * * * *',
  '* * * foo *', '* * * * 8-9', 'a * * * *', '*5 * * * *', '1_0 * * * *', '+5 * * * *', '* * * * Mon-Fri',
  '1-5/2-3 * * * *', '*/5/3 * * * *', '* * * * sun-sat/2', '99999999999999999999 * * * *', '٣ * * * *',
  '* * * * \'x', '* * * * \t', '0 0 31 2 *', '0 0 30 2 *',
];

/** An expression with a random slip: a character replaced, inserted or dropped, or a number out of range. */
function mutate(expr: string): string {
  const chars = ['-', '/', ',', '*', ' ', '', '0', '61', '32', '13', '7', 'x', 'Mon', '_', '+', '\t', 'é'];
  const i = int(0, expr.length);
  const r = rnd();
  if (r < 0.4) return expr.slice(0, i) + pick(chars) + expr.slice(i);
  if (r < 0.7) return expr.slice(0, i) + pick(chars) + expr.slice(i + 1);
  return expr.slice(0, i) + expr.slice(i + 1);
}

interface Chain { expr: string; tz: string; start: number; steps: number }
interface ChainOut { runs?: number[]; err?: [string, string] }

test('crontab and schedule agree with Python Celery 5.6', { timeout: 240_000 }, async (t) => {
  if (!requirePython(t)) return;
  console.log(`crontab differential: seed ${SEED} (CELERIAC_CRON_SEED=${SEED} to replay), ${CASES} cases`);
  const chains: Chain[] = [];
  for (let i = 0; i < CASES; i++) {
    const tz = pick(ZONES);
    const st = start(tz);
    const expr = chance(0.03) ? mutate(expression()) : expression(st.nearDst);
    chains.push({ expr, tz, start: st.at * 1000, steps: STEPS });
  }
  const due = Array.from({ length: Math.ceil(CASES / 5) }, () => {
    const tz = pick(ZONES);
    const last = startFor(tz);
    const now = last + pick([0, 1000, 59_000, 15 * 60_000, HOUR, 26 * HOUR, 9 * 24 * HOUR]) * rnd();
    return { expr: expression(), tz, last: last * 1000, now: Math.round(now) * 1000, deadline: pick([null, null, 0, 30, 300, 3600, 86400]) };
  });
  const intervals = Array.from({ length: Math.ceil(CASES / 5) }, () => {
    const tz = pick(ZONES);
    const last = startFor(tz);
    const every = pick([1, 0.5, 0.25, 2.5, 10, 59.999, 60, 90, 300, 3600, 5400, 86400, 172800.5, 0.0000015, 1.0000005, rnd() * 100000]);
    const now = last + pick([0, 500, every * 1000, every * 2000, 3 * HOUR]) * rnd();
    return { every, relative: chance(0.5), tz, last: last * 1000, now: Math.round(now) * 1000 };
  });
  const out = JSON.parse(await runPython('test/python/crontab_next.py', { chains, due, intervals, invalid: INVALID })) as {
    chains: ChainOut[]; due: Array<{ due?: boolean; next?: number; err?: [string, string] }>;
    intervals: Array<{ rem: number; due: boolean; next: number; repr: string }>; invalid: Array<ChainOut | { ok: true }>;
  };

  const show = (us: number, tz: string) => formatInstant(us / 1000, Zone.get(tz));
  const failures: string[] = [];
  let dstDiffer = 0;
  const dstKinds = { gap: 0, repeat: 0 };
  let errors = 0;
  for (let i = 0; i < chains.length; i++) {
    const c = chains[i]!;
    const py = out.chains[i]!;
    const ctx = { timezone: c.tz };
    let exact: CrontabSchedule;
    let fixed: CrontabSchedule;
    try {
      exact = crontab.fromString(c.expr, { dst: 'celery' });
      fixed = crontab.fromString(c.expr);
    } catch (err) {
      if (!py.err || py.runs) failures.push(`${c.expr}: we refuse (${String(err)}), Python ${JSON.stringify(py)}`);
      else if (py.err[1] !== (err as Error).message || py.err[0] !== (err as CronParseError).kind) failures.push(`${c.expr}: ${String(err)} vs ${py.err.join(': ')}`);
      errors++;
      continue;
    }
    // Python's answer, instant for instant
    let last = c.start / 1000;
    const runs: number[] = [];
    let err: unknown = null;
    for (let s = 0; s < (py.runs?.length ?? 0) + (py.err ? 1 : 0) && s < c.steps; s++) {
      try {
        last = last + exact.remainingEstimate(last, last, ctx);
        runs.push(Math.round(last * 1000));
      } catch (e) {
        err = e;
        break;
      }
    }
    if (py.err && !err) failures.push(`${c.expr} ${c.tz}: Python raised ${py.err.join(': ')}, we did not`);
    if (err && (!py.err || py.err[1] !== (err as Error).message)) failures.push(`${c.expr} ${c.tz}: we raised ${String(err)}, Python ${JSON.stringify(py.err)}`);
    const pyRuns = py.runs ?? [];
    if (JSON.stringify(runs) !== JSON.stringify(pyRuns)) {
      failures.push(`${c.expr} in ${c.tz} from ${show(c.start, c.tz)}:\n  python ${pyRuns.map((u) => show(u, c.tz)).join(' ')}\n  ours   ${runs.map((u) => show(u, c.tz)).join(' ')}`);
      continue;
    }
    // celeriac's default: the same chain, and the first step that differs is a documented DST case
    last = c.start / 1000;
    for (let s = 0; s < pyRuns.length; s++) {
      const e = fixed.explain(last, last, ctx);
      if (Math.round(e.runAt * 1000) === pyRuns[s]) {
        last = e.runAt;
        continue;
      }
      if (e.dstCase === null || Math.round(e.celeryRunAt * 1000) !== pyRuns[s]) {
        failures.push(`${c.expr} in ${c.tz}: celeriac mode differs outside a DST case at step ${s}: ${show(e.runAt * 1000, c.tz)} vs ${show(pyRuns[s]!, c.tz)}`);
      } else if (e.dstCase === 'gap' ? e.runAt * 1000 >= pyRuns[s]! : e.runAt <= last) {
        failures.push(`${c.expr} in ${c.tz}: ${e.dstCase} fix not as documented at step ${s}: ${show(e.runAt * 1000, c.tz)} (Python ${show(pyRuns[s]!, c.tz)})`);
      } else {
        dstDiffer++;
        dstKinds[e.dstCase]++;
      }
      break;
    }
  }

  for (let i = 0; i < due.length; i++) {
    const d = due[i]!;
    const py = out.due[i]!;
    const c = crontab.fromString(d.expr, { dst: 'celery' });
    let ours: { isDue: boolean; next: number | null } | { err: string };
    try {
      ours = c.isDue(d.last / 1000, d.now / 1000, { timezone: d.tz, cronStartingDeadline: d.deadline });
    } catch (e) {
      ours = { err: (e as Error).message };
    }
    const theirs = py.err ? { err: py.err[1] } : { isDue: py.due, next: py.next };
    if (JSON.stringify(ours) !== JSON.stringify(theirs)) failures.push(`is_due ${d.expr} ${d.tz} last ${show(d.last, d.tz)} now ${show(d.now, d.tz)} deadline ${d.deadline}: python ${JSON.stringify(theirs)} ours ${JSON.stringify(ours)}`);
  }

  for (let i = 0; i < intervals.length; i++) {
    const v = intervals[i]!;
    const py = out.intervals[i]!;
    const s = schedule(v.every, { relative: v.relative });
    const ctx = { timezone: v.tz };
    const rem = Math.round(s.remainingEstimate(v.last / 1000, v.now / 1000, ctx) * 1000);
    const st = s.isDue(v.last / 1000, v.now / 1000, ctx);
    const ours = { rem, due: st.isDue, next: st.next, repr: String(s) };
    if (JSON.stringify(ours) !== JSON.stringify(py)) failures.push(`schedule(${v.every}, relative=${v.relative}) ${v.tz} last ${show(v.last, v.tz)} now ${show(v.now, v.tz)}: python ${JSON.stringify(py)} ours ${JSON.stringify(ours)}`);
  }

  for (let i = 0; i < INVALID.length; i++) {
    const py = out.invalid[i]!;
    let ours: ChainOut | { ok: true };
    try {
      crontab.fromString(INVALID[i]!);
      ours = { ok: true };
    } catch (e) {
      ours = { err: [(e as CronParseError).kind ?? (e as Error).name, (e as Error).message] };
    }
    if (JSON.stringify(ours) !== JSON.stringify(py)) failures.push(`from_string(${JSON.stringify(INVALID[i])}): python ${JSON.stringify(py)} ours ${JSON.stringify(ours)}`);
  }

  console.log(`celeriac-count: crontab differential: ${chains.length} chains x ${STEPS} runs (${errors} refused) + ${due.length} is_due + ${intervals.length} intervals + ${INVALID.length} invalid expressions, 0 differ in celery mode; celeriac mode: ${dstDiffer} chains differ (all DST: ${dstKinds.gap} gap, ${dstKinds.repeat} repeat); seed ${SEED}`);
  assert.equal(failures.length, 0, `${failures.length} differences (seed ${SEED}):\n${failures.slice(0, 15).join('\n')}`);
});
