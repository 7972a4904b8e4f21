/**
 * Celery's `solar` schedule (celery/schedules.py, 5.6): runs at the next sunrise, sunset, solar noon,
 * dawn or dusk of an observer on the ground.
 *
 * Celery asks PyEphem (`ephem.Observer` with `elev = 0`, `pressure = 0`, the event's `horizon`) for
 * `next_rising` / `next_setting` / `next_transit` of the Sun after `last_run_at`. This module ports
 * PyEphem 4.1's search itself (`Observer._find_rise_or_set`, `_compute_transit`, `newton`) step for
 * step, and takes the Sun's positions from astronomy-engine (topocentric apparent right ascension and
 * declination of date, apparent sidereal time): the same iteration on nearly the same positions (they
 * agree to about an arcsecond), so the same event is found (to about a second) and the same days are
 * "circumpolar" (the Sun does not cross the horizon in the circuit PyEphem looks at).
 *
 * Circumpolar days: Celery catches `ephem.CircumpolarError` and means to look again one minute after
 * the next anti-transit (`cal.next_antitransit(Sun()) + timedelta(minutes=1)`), but adding a timedelta
 * to an `ephem.Date` raises TypeError (celery/celery#9514), so Celery's beat dies on such a day. We do
 * what the code means: the estimate is one minute after the next anti-transit. As in Celery, that
 * instant is then "due" (remaining <= 0 against the same `last_run_at`), so the task runs then.
 */
import { createRequire } from 'node:module';
import type * as Astronomy from 'astronomy-engine';

// loaded on first use: an app without solar entries does not pay for it at start
let astronomy: typeof Astronomy | undefined;
const lib = (): typeof Astronomy => (astronomy ??= createRequire(import.meta.url)('astronomy-engine') as typeof Astronomy);
import { pyNumberRepr } from '../../../protocol/repr.ts';
import type { Schedule, ScheduleContext, ScheduleJSON, ScheduleState } from './base.ts';

export const SOLAR_EVENTS = [
  'dawn_astronomical', 'dawn_nautical', 'dawn_civil', 'sunrise', 'solar_noon',
  'sunset', 'dusk_civil', 'dusk_nautical', 'dusk_astronomical',
] as const;
export type SolarEvent = (typeof SOLAR_EVENTS)[number];

type Method = 'next_rising' | 'next_setting' | 'next_transit';

/** Celery's `_horizons` in degrees ('-0:34' is -34 arcminutes). */
const HORIZONS: Record<SolarEvent, number> = {
  dawn_astronomical: -18, dawn_nautical: -12, dawn_civil: -6, sunrise: -34 / 60, solar_noon: 0,
  sunset: -34 / 60, dusk_civil: -6, dusk_nautical: -12, dusk_astronomical: -18,
};
/** Celery's `_methods`. */
const METHODS: Record<SolarEvent, Method> = {
  dawn_astronomical: 'next_rising', dawn_nautical: 'next_rising', dawn_civil: 'next_rising',
  sunrise: 'next_rising', solar_noon: 'next_transit', sunset: 'next_setting', dusk_civil: 'next_setting',
  dusk_nautical: 'next_setting', dusk_astronomical: 'next_setting',
};
/** Celery's `_use_center_l`: twilights use the Sun's centre, sunrise and sunset its upper limb. */
const USE_CENTER: Record<SolarEvent, boolean> = {
  dawn_astronomical: true, dawn_nautical: true, dawn_civil: true, sunrise: false, solar_noon: false,
  sunset: false, dusk_civil: true, dusk_nautical: true, dusk_astronomical: true,
};

// Celery's messages (SOLAR_INVALID_*), word for word.
const invalidEvent = (event: string) =>
  `Argument event "${event}" is invalid, must be one of ${[...SOLAR_EVENTS].sort().join(', ')}.`;
const invalidLatitude = (lat: number) => `Argument latitude ${pyNumberRepr(lat)} is invalid, must be between -90 and 90.`;
const invalidLongitude = (lon: number) => `Argument longitude ${pyNumberRepr(lon)} is invalid, must be between -180 and 180.`;

// PyEphem's constants. Dates are in days (here: days since the Unix epoch, UT).
const TAU = 2 * Math.PI;
const DAY_MS = 86_400_000;
const SECOND = 1 / 86_400;
const MINUTE = 1 / 1_440;
const NEWTON_PRECISION = SECOND / 10; // default_newton_precision
const TINY = (Math.PI / 180 / 3600) / 360; // arcsecond / 360
const SLIGHTLY_LESS_THAN_ZERO = -1e-15;
const SLIGHTLY_MORE_THAN_PI = Math.PI + 1e-15;
/** PyEphem's Sun radius: libastro's 4.65242e-3 AU over the Earth-Sun distance (radians). */
const SUN_RADIUS_AU = 4.65242e-3;
/** Unix epoch in astronomy-engine's UT days (days since 2000-01-01T12:00Z). */
const UNIX_EPOCH_UT = -10_957.5;
/** A search that has not converged after this many steps gives up (PyEphem would loop on). */
const MAX_STEPS = 200;

const DEG = Math.PI / 180;

/** Python's `a % b` for floats (the result has the sign of b). */
function pymod(a: number, b: number): number {
  const r = a % b;
  return r !== 0 && (r < 0) !== (b < 0) ? r + b : r;
}
/** PyEphem's `_plusminus_pi`. */
const plusMinusPi = (angle: number) => pymod(angle - Math.PI, TAU) - Math.PI;
/** PyEphem's `Angle.znorm`: the angle in [-pi, pi). */
const znorm = (angle: number) => pymod(angle + Math.PI, TAU) - Math.PI;

/** The next solar event after an instant, as the schedule computes it. */
export interface SolarEventTime {
  /** The instant, epoch milliseconds. */
  readonly at: number;
  /**
   * True when the Sun does not reach the event's horizon in the circuit PyEphem searched
   * (`ephem.CircumpolarError`): `at` is then one minute after the next anti-transit.
   */
  readonly circumpolar: boolean;
}

class SunObserver {
  readonly observer: Astronomy.Observer;
  readonly latRad: number;
  readonly lonHours: number;

  constructor(lat: number, lon: number) {
    this.observer = new (lib().Observer)(lat, lon, 0);
    this.latRad = lat * DEG;
    this.lonHours = lon / 15;
  }

  private time(days: number): Astronomy.AstroTime {
    return new (lib().AstroTime)(days + UNIX_EPOCH_UT);
  }

  /** Local apparent sidereal time, radians. */
  private lst(t: Astronomy.AstroTime): number {
    return pymod((lib().SiderealTime(t) + this.lonHours) * 15 * DEG, TAU);
  }

  /** What PyEphem's `body.compute(observer)` gives with pressure 0: topocentric dec, hour angle, radius. */
  topocentric(days: number): { dec: number; ha: number; radius: number } {
    const t = this.time(days);
    const A = lib();
    const eq = A.Equator(A.Body.Sun, t, this.observer, true, true);
    return { dec: eq.dec * DEG, ha: pymod(this.lst(t) - eq.ra * 15 * DEG, TAU), radius: SUN_RADIUS_AU / eq.dist };
  }

  /** Apparent geocentric right ascension of date (PyEphem's `g_ra`), radians. */
  private geocentricRa(t: Astronomy.AstroTime): number {
    const A = lib();
    const vec = A.RotateVector(A.Rotation_EQJ_EQD(t), A.GeoVector(A.Body.Sun, t, true));
    return A.EquatorFromVector(vec).ra * 15 * DEG;
  }

  /** PyEphem's `Observer._compute_transit(Sun, start, +1, offset)`: 0 for a transit, pi for an anti-transit. */
  nextTransit(start: number, offset: number): number {
    const f = (d: number) => {
      const t = this.time(d);
      return znorm(offset - this.lst(t) + this.geocentricRa(t));
    };
    const t0 = this.time(start);
    const ha = this.lst(t0) - this.geocentricRa(t0);
    let haToMove = pymod(offset - ha, TAU);
    if (Math.abs(haToMove) < TINY) haToMove = TAU;
    const d = start + haToMove / TAU;
    return newton(f, d, d + MINUTE);
  }

  /** PyEphem's `Observer._find_rise_or_set(Sun, start, use_center, +1, rising)`; null when circumpolar. */
  nextRiseOrSet(start: number, horizonRad: number, useCenter: boolean, rising: boolean): number | null {
    let date = start;
    let first = true;
    let absTarget = 0;
    for (let step = 0; ; step++) {
      const { dec, ha, radius } = this.topocentric(date);
      const horizon = useCenter ? horizonRad : horizonRad - radius;
      absTarget = targetHourAngle(this.latRad, dec, horizon);
      const target = rising ? -absTarget : absTarget;
      let difference = target - ha;
      let bump: number;
      if (first) {
        difference = pymod(difference, TAU);
        bump = difference / TAU;
        if (Math.abs(bump) < NEWTON_PRECISION) bump += 1; // already at the event: the next one
      } else {
        bump = plusMinusPi(difference) / TAU;
      }
      if (Math.abs(bump) < NEWTON_PRECISION || step >= MAX_STEPS) break;
      date += bump;
      first = false;
    }
    if (absTarget === SLIGHTLY_MORE_THAN_PI || absTarget === SLIGHTLY_LESS_THAN_ZERO) return null;
    return date;
  }
}

/** PyEphem's `Observer._target_hour_angle`. */
function targetHourAngle(lat: number, dec: number, alt: number): number {
  const arg = (Math.sin(alt) - Math.sin(lat) * Math.sin(dec)) / (Math.cos(lat) * Math.cos(dec));
  if (arg < -1) return SLIGHTLY_MORE_THAN_PI;
  if (arg > 1) return SLIGHTLY_LESS_THAN_ZERO;
  return Math.acos(arg);
}

/** PyEphem's `newton` (a secant search). */
function newton(f: (x: number) => number, x0: number, x1: number, precision = NEWTON_PRECISION): number {
  let f0 = f(x0);
  let f1 = f(x1);
  for (let i = 0; f1 && Math.abs(x1 - x0) > precision && f1 !== f0 && i < MAX_STEPS; i++) {
    [x0, x1] = [x1, x1 + (x1 - x0) / (f0 / f1 - 1)];
    [f0, f1] = [f1, f(x1)];
  }
  return x1;
}

export class SolarSchedule implements Schedule {
  readonly kind = 'solar' as const;
  readonly event: SolarEvent;
  readonly lat: number;
  readonly lon: number;
  /** What Celery passes as `ephem` method, horizon (radians) and `use_center`. */
  readonly method: Method;
  readonly horizon: number;
  readonly useCenter: boolean;
  private readonly sun: SunObserver;

  constructor(event: string, lat: number, lon: number) {
    if (!(SOLAR_EVENTS as readonly string[]).includes(event)) throw new RangeError(invalidEvent(event));
    if (typeof lat !== 'number' || !(lat >= -90 && lat <= 90)) throw new RangeError(invalidLatitude(lat));
    if (typeof lon !== 'number' || !(lon >= -180 && lon <= 180)) throw new RangeError(invalidLongitude(lon));
    this.event = event as SolarEvent;
    this.lat = lat;
    this.lon = lon;
    this.method = METHODS[this.event];
    this.horizon = HORIZONS[this.event] * DEG;
    this.useCenter = USE_CENTER[this.event];
    this.sun = new SunObserver(lat, lon);
  }

  /** The event that follows `after` (epoch ms), as Celery's `remaining_estimate` finds it. */
  nextEvent(after: number): SolarEventTime {
    const start = after / DAY_MS;
    let days: number | null;
    if (this.method === 'next_transit') days = this.sun.nextTransit(start, 0);
    else days = this.sun.nextRiseOrSet(start, this.horizon, this.useCenter, this.method === 'next_rising');
    if (days !== null) return { at: Math.round(days * DAY_MS), circumpolar: false };
    const antitransit = this.sun.nextTransit(start, Math.PI);
    return { at: Math.round((antitransit + MINUTE) * DAY_MS), circumpolar: true };
  }

  remainingEstimate(lastRunAt: number, now: number, _ctx?: ScheduleContext): number {
    return this.nextEvent(lastRunAt).at - now;
  }

  isDue(lastRunAt: number, now: number, ctx?: ScheduleContext): ScheduleState {
    let rem = Math.max(this.remainingEstimate(lastRunAt, now, ctx) / 1000, 0);
    const due = rem === 0;
    if (due) rem = Math.max(this.remainingEstimate(now, now, ctx) / 1000, 0);
    return { isDue: due, next: rem };
  }

  toString(): string {
    return `<solar: ${this.event} at latitude ${pyNumberRepr(this.lat)}, longitude: ${pyNumberRepr(this.lon)}>`;
  }

  toJSON(): ScheduleJSON {
    return { type: 'solar', event: this.event, lat: this.lat, lon: this.lon };
  }

  /** Celery's `__eq__`: same event, latitude and longitude. */
  equals(other: unknown): boolean {
    return other instanceof SolarSchedule && other.event === this.event && other.lat === this.lat && other.lon === this.lon;
  }
}

/** Celery's `solar(event, lat, lon)`. Throws RangeError with Celery's message for a bad argument. */
export function solar(event: string, lat: number, lon: number): SolarSchedule {
  return new SolarSchedule(event, lat, lon);
}
