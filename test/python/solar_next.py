"""Ground truth for test/contract/solar-differential.test.ts: Celery's solar schedule with PyEphem.

Reads one JSON document on stdin, {"cases": [{"event", "lat", "lon", "last"}]} ("last": last_run_at
in epoch milliseconds, UTC), and for each asks `celery.schedules.solar(event, lat, lon, nowfun=...)`
for `remaining_estimate(last_run_at)` with now = last_run_at, so that last_run_at + the estimate is
the instant of the next event. Writes {"ephem": version, "results": [{"next": ms, "circumpolar": bool}]}.

Celery's circumpolar branch (ephem.CircumpolarError: the Sun does not reach the horizon in the circuit
searched) means "one minute after the next anti-transit" but raises TypeError (ephem.Date +
timedelta, celery/celery#9514); for those the script computes what that code means, with the same
observer, and says circumpolar: true.

At the exact poles PyEphem's rise/set search can loop for ever (the hour angle is undefined there and
the target flips between 0 and pi on the day the Sun's declination crosses the horizon): a case that
takes longer than HANG_S seconds is given up and reported as {"hang": true}.
"""
import json
import signal
import sys
from datetime import datetime, timedelta, timezone

import ephem
from celery.schedules import solar

HANG_S = 3


class Hang(Exception):
    pass


def on_alarm(signum, frame):
    raise Hang()


def main():
    cases = json.load(sys.stdin)['cases']
    results = []
    signal.signal(signal.SIGALRM, on_alarm)
    for case in cases:
        last = datetime.fromtimestamp(case['last'] / 1000, tz=timezone.utc)
        s = solar(case['event'], case['lat'], case['lon'], nowfun=lambda: last)
        signal.alarm(HANG_S)
        try:
            nxt = last + s.remaining_estimate(last)
            circumpolar = False
        except Hang:
            results.append({'hang': True})
            continue
        except TypeError as exc:
            if not isinstance(exc.__context__, ephem.CircumpolarError):
                raise
            s.cal.date = last
            anti = s.cal.next_antitransit(ephem.Sun())
            nxt = anti.datetime().replace(tzinfo=timezone.utc) + timedelta(minutes=1)
            circumpolar = True
        finally:
            signal.alarm(0)
        results.append({'next': nxt.timestamp() * 1000, 'circumpolar': circumpolar})
    json.dump({'ephem': ephem.__version__, 'results': results}, sys.stdout)


if __name__ == '__main__':
    main()
