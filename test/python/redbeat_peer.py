"""Python RedBeat's side of test/interop/redbeat-store.test.ts: one operation per run, JSON on stdin and
stdout. RedBeat itself comes from the peers folder (PYTHONPATH=../shared/peers/redbeat, set by the test).

Input: {"url": redis URL, "prefix": key prefix, "timezone": app zone or null, "op": ..., ...}
  save   {"entries": [{name, task, schedule, args, kwargs, options, enabled, last_run_at?, total_run_count?,
                       next?: n}]}   RedBeatSchedulerEntry(...).save(), then next(entry) n times
  reschedule {"name", "last_run_at"}  entry.reschedule(last_run_at)
  load   {"names": [...]}   from_key for each: what Python sees (schedule, meta, is_due, due_at, score)
  lock   {"key", "timeout", "action": acquire|extend|release, "token"?}  redis-py's Lock as RedBeat uses it
Schedules: {"type": "interval", "every", "relative"} or {"type": "crontab", minute, hour, ...}.
Datetimes travel as epoch seconds (floats).
"""
import json
import sys
from datetime import datetime, timezone

from celery import Celery
from celery.schedules import crontab, schedule
import redis.exceptions
from redbeat.schedulers import LUA_EXTEND_TO_SCRIPT, RedBeatSchedulerEntry, ensure_conf, get_redis


def make_app(req):
    app = Celery('redbeat_peer', broker=req['url'], set_as_current=True)
    app.conf.redbeat_redis_url = req['url']
    app.conf.redbeat_key_prefix = req['prefix']
    if req.get('timezone'):
        app.conf.timezone = req['timezone']
    ensure_conf(app)
    return app


def to_dt(app, seconds):
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=app.timezone)


def ts(dt):
    return None if dt is None else dt.timestamp()


def make_schedule(s, app):
    if s['type'] == 'interval':
        return schedule(s['every'], relative=s.get('relative', False), app=app)
    if s['type'] == 'crontab':
        fields = {k: s[k] for k in ('minute', 'hour', 'day_of_week', 'day_of_month', 'month_of_year') if k in s}
        return crontab(app=app, **fields)
    raise ValueError(s['type'])


def describe_schedule(s):
    if isinstance(s, crontab):
        return {'type': 'crontab', 'minute': s._orig_minute, 'hour': s._orig_hour, 'day_of_week': s._orig_day_of_week,
                'day_of_month': s._orig_day_of_month, 'month_of_year': s._orig_month_of_year}
    if isinstance(s, schedule):
        return {'type': 'interval', 'every': s.run_every.total_seconds(), 'relative': bool(s.relative)}
    return {'type': type(s).__name__, 'repr': repr(s)}


def op_save(app, req):
    out = []
    for e in req['entries']:
        extra = {}
        if 'last_run_at' in e:
            extra['last_run_at'] = to_dt(app, e['last_run_at'])
        if 'total_run_count' in e:
            extra['total_run_count'] = e['total_run_count']
        entry = RedBeatSchedulerEntry(
            e['name'], e['task'], make_schedule(e['schedule'], app), args=e.get('args'), kwargs=e.get('kwargs'),
            options=e.get('options'), enabled=e.get('enabled', True), app=app, **extra)
        entry.save()
        for _ in range(e.get('next', 0)):
            entry = next(entry)
        out.append({'name': entry.name, 'last_run_at': ts(entry.last_run_at), 'total_run_count': entry.total_run_count})
    return out


def op_reschedule(app, req):
    entry = RedBeatSchedulerEntry.from_key(RedBeatSchedulerEntry.generate_key(app, req['name']), app=app)
    entry.reschedule(to_dt(app, req['last_run_at']))
    return {'last_run_at': ts(entry.last_run_at)}


def op_load(app, req):
    client = get_redis(app)
    out = {}
    for name in req['names']:
        key = RedBeatSchedulerEntry.generate_key(app, name)
        try:
            entry = RedBeatSchedulerEntry.from_key(key, app=app)
        except Exception as exc:  # what Python's beat would die of
            out[name] = {'error': '%s: %s' % (type(exc).__name__, exc)}
            continue
        is_due, nxt = entry.is_due()
        out[name] = {
            'task': entry.task, 'args': list(entry.args) if entry.args is not None else None, 'kwargs': entry.kwargs,
            'options': entry.options, 'enabled': entry.enabled, 'schedule': describe_schedule(entry.schedule),
            'last_run_at': ts(entry.last_run_at), 'total_run_count': entry.total_run_count,
            'is_due': [is_due, nxt], 'due_at': ts(entry.due_at), 'score': entry.score,
            'stored_score': client.zscore(app.redbeat_conf.schedule_key, key),
        }
    return out


def op_lock(app, req):
    client = get_redis(app)
    lock = client.lock(req['key'], timeout=req['timeout'], sleep=0.1)
    lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)
    action = req['action']
    if action == 'acquire':
        ok = lock.acquire(blocking=False)
        return {'ok': bool(ok), 'token': lock.local.token.decode() if ok else None}
    lock.local.token = req['token'].encode()
    try:
        if action == 'extend':
            lock.extend(req['timeout'])
        else:
            lock.release()
        return {'ok': True}
    except redis.exceptions.LockError as exc:
        return {'ok': False, 'error': type(exc).__name__}


def main():
    req = json.load(sys.stdin)
    app = make_app(req)
    result = {'save': op_save, 'reschedule': op_reschedule, 'load': op_load, 'lock': op_lock}[req['op']](app, req)
    json.dump({'now': datetime.now(timezone.utc).timestamp(), 'result': result}, sys.stdout)


if __name__ == '__main__':
    main()
