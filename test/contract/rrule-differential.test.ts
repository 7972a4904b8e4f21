/**
 * Contract: celeriac's rrule schedule finds the same next occurrence as python-dateutil's
 * `rrule.after()` (what RedBeat's rrule schedule asks), for random rules of every frequency with
 * random byxxx filters (nth weekdays, negative month days, week numbers, year days, Easter, bysetpos),
 * wkst, count, until and dtstart on fixed UTC offsets, at random instants before, inside and after the
 * rule's span, and again at the occurrence just found (strictly after: the next one). Every rule goes
 * through RRuleSchedule.toJSON() to real Python in ONE process (test/python/rrule_after.py), so the
 * JSON is checked too; when RedBeat's source is beside the repository (shared/peers/redbeat), RedBeat's
 * own decoder reads that JSON and its repr and remaining_estimate must equal ours.
 *
 * CELERIAC_RRULE_SEED=<n> draws other rules (the seed is in every failure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RRuleSchedule, rruleFromJSON, type RRuleOptions, type WeekdayInput } from '../../src/beat/schedules/rrule.ts';
import { requirePython, runPython } from '../helpers/peers.ts';
import { mulberry32 } from '../helpers/random.ts';

interface PyResult { next?: (number | null)[]; hang?: true; error?: string; redbeat_repr?: string; redbeat_next?: number | null }

const SEED = Number(process.env.CELERIAC_RRULE_SEED ?? 20240229);
const RULES = 340;
const FROM = Date.UTC(2019, 0, 1);
const SPAN = Date.UTC(2026, 0, 1) - FROM;
const DAY = 86_400_000;
/** How far past dtstart instants are drawn, per freq: dateutil walks from dtstart, so sub-daily rules stay short. */
const HORIZON = [10 * 365 * DAY, 4 * 365 * DAY, 3 * 365 * DAY, 2 * 365 * DAY, 90 * DAY, 3 * DAY, 2 * 3600_000];
const OFFSETS = [0, 0, 0, 60, 120, -300, -480, 330, 345, -210, 600];

const rng = mulberry32;

function generator(seed: number) {
  const r = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const some = <T>(xs: readonly T[], max = 3): T[] => [...new Set(Array.from({ length: int(1, max) }, () => pick(xs)))];
  /** A list, sometimes a bare int (dateutil takes both). */
  const list = (xs: readonly number[], max = 3): number | number[] => (r() < 0.2 ? pick(xs) : some(xs, max));

  function rule(): RRuleOptions {
    const freq = pick([0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5, 5, 6]);
    const sub = freq >= 4;
    const start = FROM + Math.floor(r() * SPAN / 1000) * 1000;
    const o: RRuleOptions = {
      freq: r() < 0.2 ? ['YEARLY', 'MONTHLY', 'WEEKLY', 'DAILY', 'HOURLY', 'MINUTELY', 'SECONDLY'][freq]! : freq,
      dtstart: r() < 0.6 ? start - (start % 60_000) : start,
      dtstartTz: pick(OFFSETS),
      interval: r() < 0.6 ? 1 : int(2, sub ? 15 : 4),
    };
    if (r() < 0.3) o.wkst = int(0, 6);
    if (r() < 0.25) o.count = r() < 0.05 ? 0 : int(1, 40);
    if (r() < 0.25) {
      o.until = start + Math.floor(r() * HORIZON[freq]!);
      o.untilTz = pick(OFFSETS);
    }
    let filtered = false;
    // Day filters on a SECONDLY rule make dateutil step second by second through the days they remove.
    const days = freq < 6;
    if (days && r() < 0.25) { o.bymonth = list([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]); filtered = true; }
    if (days && r() < (sub ? 0.12 : 0.25)) {
      // a day every month has among them (no never-matching rule: dateutil would walk to year 9999)
      o.bymonthday = [...new Set([pick([1, 2, 5, 10, 15, 28, -1, -2, -7]), ...some([1, 13, 28, 29, 30, 31, -1, -3, -31])])];
      filtered = true;
    }
    if ((freq === 0 || freq === 3 || freq === 4) && r() < 0.12) {
      delete o.bymonth; // with them it could never match: dateutil would walk to year 9999
      delete o.bymonthday;
      o.byyearday = freq === 0 && r() < 0.1 ? [] : [...new Set([pick([1, -1, 100, -100]), ...some([1, 32, 60, 100, 200, 365, 366, -1, -60, -366])])];
      filtered = true;
    }
    if (freq === 0 && r() < 0.12) { o.byweekno = list([1, 2, 10, 26, 52, 53, -1, -2]); filtered = true; }
    if (freq === 0 && r() < 0.08) { o.byeaster = r() < 0.3 ? [int(-60, 60)] : int(-60, 60); filtered = true; }
    if (days && r() < 0.35) {
      // n counts in the month or year; dateutil ignores it for WEEKLY and finer
      // (a YEARLY rule with bymonth counts n in each month: dateutil raises IndexError past the fifth)
      const nth = freq === 0 && o.bymonth === undefined ? [1, 2, 10, 20, -1, -2, -10] : freq <= 1 ? [1, 2, 3, 4, -1, -2, -4] : [1, -1];
      // dateutil ANDs plain and nth weekdays of a MONTHLY or YEARLY rule (a day must be both): mixing
      // them can never match, and dateutil then walks to year 9999; so all nth, or none.
      const nthAll = freq <= 1 && r() < 0.4;
      const days: WeekdayInput[] = some([0, 1, 2, 3, 4, 5, 6]).map((d) => {
        const roll = r();
        if (nthAll || (freq > 1 && roll < 0.2)) return { __type__: 'weekday', wkday: d, n: pick(nth) };
        if (roll < 0.55) return { __type__: 'weekday', wkday: d };
        return d;
      });
      o.byweekday = days.length === 1 && r() < 0.3 ? days[0]! : days;
      filtered = true;
    }
    if (r() < 0.25) o.byhour = list([0, 1, 6, 9, 12, 17, 23]);
    if (r() < 0.2) o.byminute = list([0, 5, 15, 30, 45, 59]);
    if (r() < 0.12) o.bysecond = list([0, 1, 30, 59]);
    if (filtered && freq <= 2 && r() < 0.15) o.bysetpos = pick([1, -1, [1, -1], [1], [-1]]);
    return o;
  }

  function instants(s: RRuleSchedule): number[] {
    // A rule that never matches makes dateutil walk to year 9999 on every call: one instant is enough.
    if (s.after(s.dtstart - 1000) === null) return [s.dtstart + Math.floor(r() * HORIZON[s.freq]!)];
    const out: number[] = [];
    for (let i = 0; i < 4; i++) {
      const roll = r();
      if (roll < 0.1) out.push(s.dtstart - Math.floor(r() * DAY));
      else if (roll < 0.15) out.push(s.dtstart);
      else out.push(s.dtstart + Math.floor(r() * HORIZON[s.freq]!));
    }
    // at an occurrence, and just before one
    const hit = s.after(out[0]!);
    if (hit !== null) out.push(hit, hit - 1);
    return out;
  }
  return { rule, instants };
}

/** RedBeat's JSON for options that RRuleSchedule refused (so has no toJSON of its own). */
function redbeatJSON(o: RRuleOptions): Record<string, unknown> {
  const { freq, dtstart, dtstartTz, until, untilTz, ...rest } = o;
  const names = ['YEARLY', 'MONTHLY', 'WEEKLY', 'DAILY', 'HOURLY', 'MINUTELY', 'SECONDLY'];
  return {
    ...rest, freq: typeof freq === 'string' ? names.indexOf(freq) : freq,
    dtstart: Math.floor(Number(dtstart) / 1000), dtstart_tz: dtstartTz ?? 0,
    ...(until === undefined ? {} : { until: Math.floor(Number(until) / 1000), until_tz: untilTz ?? 0 }),
  };
}

test('rrule: next occurrence as python-dateutil\'s rrule.after() (random rules and instants)', async (t) => {
  if (!requirePython(t)) return;
  const gen = generator(SEED);
  const cases: { rule: Record<string, unknown>; after: number[]; schedule: RRuleSchedule }[] = [];
  // Rules dateutil refuses (an interval that never reaches byhour/byminute/bysecond): ours must refuse
  // them with dateutil's message.
  const refused: { rule: Record<string, unknown>; after: number[]; message: string }[] = [];
  for (let i = 0; i < RULES; i++) {
    const options = gen.rule();
    let schedule: RRuleSchedule;
    try {
      schedule = new RRuleSchedule(options);
    } catch (err) {
      refused.push({ rule: redbeatJSON(options), after: [Number(options.dtstart)], message: (err as Error).message });
      continue;
    }
    const { type, ...rule } = schedule.toJSON();
    assert.equal(type, 'rrule');
    cases.push({ rule, after: gen.instants(schedule), schedule });
  }
  const all = [...cases, ...refused].map(({ rule, after }) => ({ rule, after }));

  const out = JSON.parse(await runPython('test/python/rrule_after.py', { cases: all })) as
    { dateutil: string; redbeat: boolean; results: PyResult[] };
  assert.equal(out.results.length, all.length);
  for (const [i, c] of refused.entries()) {
    const py = out.results[cases.length + i]!;
    assert.equal(py.error, `ValueError: ${c.message}`, `rule ${JSON.stringify(c.rule)} (seed ${SEED})`);
  }
  const failures: string[] = [];
  let compared = 0;
  let exhausted = 0;
  let never = 0;
  for (const [i, c] of cases.entries()) {
    const py = out.results[i]!;
    const label = `rule ${JSON.stringify(c.rule)} (seed ${SEED})`;
    assert.ok(!py.error, `python: ${py.error} on ${label}`);
    if (py.hang) {
      // dateutil walks a rule that never matches to year 9999, for a sub-daily rule at its cadence
      // (minutes, seconds): too long to wait for. Ours must find it never matches.
      assert.equal(c.schedule.after(c.schedule.dtstart - 1000), null, `dateutil takes too long on ${label}`);
      never++;
      continue;
    }
    // the JSON reads back to the same rule
    const back = rruleFromJSON(c.rule);
    assert.equal(String(back), String(c.schedule), label);
    for (const [k, at] of c.after.entries()) {
      const ours = c.schedule.after(at);
      compared++;
      if (ours === null) exhausted++;
      if (ours !== py.next![k]) {
        failures.push(`after ${new Date(at).toISOString()}: ours ${ours === null ? null : new Date(ours).toISOString()}, dateutil ${py.next![k] == null ? null : new Date(py.next![k]!).toISOString()}: ${label}`);
      }
      if (k === 0) assert.equal(back.after(at), ours, label);
    }
    if (out.redbeat) {
      assert.equal(String(c.schedule), py.redbeat_repr, `repr of ${label}`);
      const rem = c.schedule.remainingEstimate(c.after[0]!, c.after[0]!);
      assert.equal(rem === null ? null : c.after[0]! + rem, py.redbeat_next, `RedBeat's remaining_estimate for ${label}`);
    }
  }
  console.log(`celeriac-count: rrule differential: ${cases.length} rules (+${refused.length} refused as dateutil refuses them), ${compared} instants (${exhausted} past the last occurrence; ${never} never-matching rules dateutil walks to year 9999 too slowly) vs dateutil ${out.dateutil}${out.redbeat ? ', repr and remaining_estimate vs RedBeat' : ' (RedBeat source not found: repr not compared)'}: ${failures.length} differ (seed ${SEED})`);
  assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${compared} differ`);
});
