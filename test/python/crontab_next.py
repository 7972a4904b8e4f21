"""Ground truth for test/contract/crontab-differential.test.ts: Celery's crontab and schedule, computed.

Reads one JSON document on stdin, writes one on stdout. Instants are integer microseconds since the
epoch. Each app has its `timezone`; schedules get `nowfun` returning the chosen `now` (an aware datetime
in the app's zone, as `app.now()` gives), and `last_run_at` is aware in that zone too.

- chains: `crontab.from_string(expr)`, then `steps` times: next = last_run_at + remaining_estimate(last_run_at)
  with now = last_run_at (added on the UTC clock: the instant beat would next run it), next becomes last_run_at.
- due: crontab `is_due(last_run_at)` at `now` with `beat_cron_starting_deadline`.
- intervals: `schedule(run_every, relative)` remaining_estimate and is_due.
- invalid: what `crontab.from_string(expr)` raises.
"""
import json
import sys
from datetime import datetime, timedelta, timezone as dt_timezone

from celery import Celery
from celery.schedules import crontab, schedule

EPOCH = datetime(1970, 1, 1, tzinfo=dt_timezone.utc)
US = timedelta(microseconds=1)
apps = {}


def app_for(tz, deadline=None):
    key = (tz, deadline)
    if key not in apps:
        app = Celery(set_as_current=False)
        app.conf.timezone = tz
        app.conf.enable_utc = True
        app.conf.beat_cron_starting_deadline = deadline
        apps[key] = app
    return apps[key]


def aware(us, app):
    return (EPOCH + timedelta(microseconds=us)).astimezone(app.timezone)


def micros(dt):
    return (dt.astimezone(dt_timezone.utc) - EPOCH) // US


def error(e):
    return [type(e).__name__, str(e)]


def chain(case):
    app = app_for(case['tz'])
    try:
        c = crontab.from_string(case['expr'])
    except Exception as e:  # noqa: BLE001
        return {'err': error(e)}
    c.app = app
    last = aware(case['start'], app)
    runs = []
    state = {'now': last}
    c.nowfun = lambda: state['now']
    for _ in range(case['steps']):
        state['now'] = last
        try:
            rem = c.remaining_estimate(last)
            nxt = last.astimezone(dt_timezone.utc) + rem
        except Exception as e:  # noqa: BLE001
            return {'runs': runs, 'err': error(e)}
        runs.append(micros(nxt))
        last = nxt.astimezone(app.timezone)
    return {'runs': runs}


def due(case):
    app = app_for(case['tz'], case['deadline'])
    c = crontab.from_string(case['expr'])
    c.app = app
    now = aware(case['now'], app)
    c.nowfun = lambda: now
    try:
        is_due, nxt = c.is_due(aware(case['last'], app))
    except Exception as e:  # noqa: BLE001
        return {'err': error(e)}
    return {'due': bool(is_due), 'next': nxt}


def interval(case):
    app = app_for(case['tz'])
    now = aware(case['now'], app)
    s = schedule(case['every'], relative=case['relative'], nowfun=lambda: now, app=app)
    last = aware(case['last'], app)
    rem = s.remaining_estimate(last)
    is_due, nxt = s.is_due(last)
    return {'rem': rem // US, 'due': bool(is_due), 'next': nxt, 'repr': repr(s)}


def invalid(expr):
    try:
        crontab.from_string(expr)
    except Exception as e:  # noqa: BLE001
        return {'err': error(e)}
    return {'ok': True}


def main():
    doc = json.load(sys.stdin)
    out = {
        'chains': [chain(c) for c in doc.get('chains', [])],
        'due': [due(c) for c in doc.get('due', [])],
        'intervals': [interval(c) for c in doc.get('intervals', [])],
        'invalid': [invalid(e) for e in doc.get('invalid', [])],
    }
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
