"""Ground truth for test/contract/rrule-differential.test.ts: python-dateutil's rrule.after().

Reads one JSON document on stdin, {"cases": [{"rule": {...}, "after": [ms, ...]}]}, each rule in
RedBeat's JSON for an rrule (what RRuleSchedule.toJSON() writes, without "type": freq as an int,
dtstart/until as UTC timestamps in seconds with dtstart_tz/until_tz in minutes, weekdays as ints or
{"__type__": "weekday", "wkday": n, "n"?: k}). Builds `dateutil.rrule.rrule(...)` the way RedBeat's
decoder does (fixed-offset aware dtstart and until) and writes, per case, the first occurrence strictly
after each instant (epoch ms, or null): {"dateutil": version, "redbeat": bool, "results": [...]}.

When RedBeat's source is found (CELERIAC_REDBEAT_SRC, or shared/peers/redbeat beside the repository),
each rule is also decoded by RedBeat's own RedBeatJSONDecoder and the result carries its repr and
its remaining_estimate(after[0]) turned into an instant ("redbeat_repr", "redbeat_next").

A case that takes longer than HANG_S seconds is reported as {"hang": true}.
"""
import json
import os
import signal
import sys
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dateutil
from dateutil.rrule import rrule, weekday

HANG_S = 10
warnings.simplefilter('ignore')  # dateutil warns when both count and until are given

redbeat_src = os.environ.get('CELERIAC_REDBEAT_SRC') or str(Path(__file__).resolve().parents[2].parent / 'shared/peers/redbeat')
if not os.path.isdir(redbeat_src) and os.path.isdir('/work/shared/peers/redbeat'):
    redbeat_src = '/work/shared/peers/redbeat'  # a clone elsewhere: the peers folder of this machine
try:
    if os.path.isdir(redbeat_src):
        sys.path.insert(0, redbeat_src)
    from redbeat.decoder import RedBeatJSONDecoder
except ImportError:
    RedBeatJSONDecoder = None


class Hang(Exception):
    pass


def on_alarm(signum, frame):
    raise Hang()


def instant(seconds, tz_minutes):
    tz = timezone(timedelta(minutes=tz_minutes)) if tz_minutes else timezone.utc
    return datetime.fromtimestamp(seconds, tz=tz)


def wd(v):
    if isinstance(v, dict):
        return weekday(v['wkday'], v.get('n'))
    return v


def build(r):
    byweekday = r.get('byweekday')
    if isinstance(byweekday, list):
        byweekday = [wd(x) for x in byweekday]
    elif byweekday is not None:
        byweekday = wd(byweekday)
    until = r.get('until')
    return rrule(
        r['freq'],
        dtstart=instant(r['dtstart'], r.get('dtstart_tz', 0)),
        interval=r.get('interval', 1),
        wkst=wd(r.get('wkst')),
        count=r.get('count'),
        until=instant(until, r.get('until_tz', 0)) if until is not None else None,
        bysetpos=r.get('bysetpos'), bymonth=r.get('bymonth'), bymonthday=r.get('bymonthday'),
        byyearday=r.get('byyearday'), byeaster=r.get('byeaster'), byweekno=r.get('byweekno'),
        byweekday=byweekday, byhour=r.get('byhour'), byminute=r.get('byminute'), bysecond=r.get('bysecond'),
    )


def ms(dt):
    return None if dt is None else round(dt.timestamp() * 1000)


def main():
    cases = json.load(sys.stdin)['cases']
    signal.signal(signal.SIGALRM, on_alarm)
    results = []
    for case in cases:
        signal.alarm(HANG_S)
        try:
            rule = build(case['rule'])
            result = {'next': [ms(rule.after(datetime.fromtimestamp(t / 1000, tz=timezone.utc))) for t in case['after']]}
            if RedBeatJSONDecoder is not None:
                entry = json.loads(json.dumps(dict(case['rule'], __type__='rrule')), cls=RedBeatJSONDecoder)
                first = datetime.fromtimestamp(case['after'][0] / 1000, tz=timezone.utc)
                entry.nowfun = lambda: first
                rem = entry.remaining_estimate(first)
                result['redbeat_repr'] = repr(entry)
                result['redbeat_next'] = None if rem is None else ms(first + rem)
        except Hang:
            result = {'hang': True}
        except (ValueError, TypeError) as exc:
            result = {'error': f'{type(exc).__name__}: {exc}'}
        finally:
            signal.alarm(0)
        results.append(result)
    json.dump({'dateutil': dateutil.__version__, 'redbeat': RedBeatJSONDecoder is not None, 'results': results}, sys.stdout)


if __name__ == '__main__':
    main()
