"""A Python Celery app for test/interop/beat.test.ts: its `echo` task records what the worker saw of
each message (arguments, headers, delivery info, arrival time) in a Redis list, and its beat_schedule
(for Python's own `celery beat`, the reference) comes from the environment.

CELERIAC_BROKER_URL    the broker
CELERIAC_RECORD_URL    the Redis the records go to; CELERIAC_RECORD_KEY the list
CELERIAC_BEAT_SCHEDULE JSON {name: {task, schedule (seconds), args, kwargs, options}}
CELERIAC_TZ            the app's timezone (default UTC)
"""
import json
import os
import time

import redis
from celery import Celery

app = Celery('beat_tasks', broker=os.environ['CELERIAC_BROKER_URL'])
app.conf.update(
    timezone=os.environ.get('CELERIAC_TZ', 'UTC'),
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    beat_schedule=json.loads(os.environ.get('CELERIAC_BEAT_SCHEDULE', '{}')),
)
_records = redis.Redis.from_url(os.environ['CELERIAC_RECORD_URL'])
_key = os.environ['CELERIAC_RECORD_KEY']


def _iso(value):
    return value.isoformat() if hasattr(value, 'isoformat') else value


@app.task(name='beat_tasks.echo', bind=True)
def echo(self, *args, **kwargs):
    r = self.request
    di = r.delivery_info or {}
    _records.rpush(_key, json.dumps({
        'runner': 'python',
        'id': r.id,
        'task': self.name,
        'args': list(args),
        'kwargs': kwargs,
        'expires': _iso(r.expires),
        'eta': _iso(r.eta),
        'headers': r.headers,
        'periodic_task_name': getattr(r, 'periodic_task_name', None),
        'x_team': getattr(r, 'x-team', None),
        'priority': di.get('priority'),
        'routing_key': di.get('routing_key'),
        'exchange': di.get('exchange'),
        'received_at': time.time(),
    }, default=str))
    return None
